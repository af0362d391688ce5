/**
 * DynamicsClient's own cost per request, and paging throughput, against the emulator.
 *
 *   npx tsx scripts/bench-client.ts [--server emulator|minimal] [--rounds 7] [--requests 400] [--inflight 8] [--rows 100000]
 *
 * The emulator runs in a child process so that its CPU is not billed to the client. Each round sends
 * `requests` × `GET accounts(<id>)?$select=name` with `inflight` at a time, once per contender, in an
 * interleaved order; the medians of the rounds are compared (so that drift of the machine hits every contender alike). Every
 * contender uses the same fixed token and a keep-alive agent. Then the client pages `rows` rows with
 * maxPageSize 5000 and reports rows/s and the peak RSS of this process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as https from 'node:https';
import axios from 'axios';
import { DynamicsClient } from '../src/client/DynamicsClient';

interface Ready {
  url: string;
  caPem: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  id: string;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** `--server minimal`: a tiny HTTPS server with a fixed answer, so that the client's own CPU dominates. */
async function serveMinimal(): Promise<void> {
  const { createCertificates } = await import('../src/emulator/cert');
  const certs = await createCertificates();
  const id = '00000000-0000-0000-0000-00000000beef';
  const body = JSON.stringify({ '@odata.context': 'x', '@odata.etag': 'W/"1"', name: 'Bench account', accountid: id });
  const server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', 'x-ms-dop-hint': '8' });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  process.send?.({ url, caPem: certs.caPem, tokenUrl: '', clientId: '', clientSecret: '', id } satisfies Ready);
  process.on('message', (m) => {
    if (m === 'close') server.close(() => process.exit(0));
  });
}

async function serve(): Promise<void> {
  if (process.env.BENCH_SERVER === 'minimal') return serveMinimal();
  const { startEmulator } = await import('../src/emulator');
  // The benchmark measures CPU per request, not service protection: lift the budget.
  const emulator = await startEmulator({ port: 0, serviceProtection: { maxRequests: 1_000_000_000, maxConcurrent: 1000 } });
  const rows = Number(process.env.BENCH_ROWS ?? 0);
  const [id] = emulator.store.insert('accounts', [{ name: 'Bench account', accountnumber: 'BENCH-1' }]);
  const batch = 10_000;
  for (let i = 0; i < rows; i += batch) {
    emulator.store.insert(
      'accounts',
      Array.from({ length: Math.min(batch, rows - i) }, (_, j) => ({ name: `Row ${i + j}`, accountnumber: `R-${i + j}`, revenue: i + j })),
    );
  }
  process.send?.({ url: emulator.url, caPem: emulator.caPem, tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret, id } satisfies Ready);
  process.on('message', (m) => {
    if (m === 'close') void emulator.close().then(() => process.exit(0));
  });
}

function startChild(rows: number, server: string): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = fork(__filename, ['--serve'], { execArgv: process.execArgv, env: { ...process.env, BENCH_ROWS: String(rows), BENCH_SERVER: server } });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ready: m as Ready }));
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
}

async function fetchToken(ready: Ready, ca: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: ready.clientId, client_secret: ready.clientSecret, resource: ready.url }).toString();
  const res = await axios.post<{ access_token: string }>(ready.tokenUrl, body, { httpsAgent: new https.Agent({ ca }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  return res.data.access_token;
}

/** Runs `n` calls of `one`, `inflight` at a time; returns elapsed ms. */
async function run(n: number, inflight: number, one: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 7);
  const requests = arg('requests', 400);
  const inflight = arg('inflight', 8);
  const rows = arg('rows', 100_000);
  const serverIndex = process.argv.indexOf('--server');
  const serverKind = serverIndex > 0 ? process.argv[serverIndex + 1] : 'emulator';
  const { child, ready } = await startChild(serverKind === 'minimal' ? 0 : rows, serverKind);
  try {
    const token = serverKind === 'minimal' ? 'fixed-token' : await fetchToken(ready, ready.caPem);
    const path = `/api/data/v9.2/accounts(${ready.id})?$select=name`;
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0', 'If-None-Match': 'null' };

    const rawAgent = new https.Agent({ keepAlive: true, ca: ready.caPem });
    const nodeHttps = () =>
      new Promise<unknown>((resolve, reject) => {
        const req = https.request(`${ready.url}${path}`, { agent: rawAgent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    const axiosDefaults = axios.create({ httpsAgent: new https.Agent({ keepAlive: true, ca: ready.caPem }), headers });
    const axiosNoRedirects = axios.create({ httpsAgent: new https.Agent({ keepAlive: true, ca: ready.caPem }), headers, maxRedirects: 0 });
    const client = new DynamicsClient({
      url: ready.url,
      ca: ready.caPem,
      auth: { getToken: () => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) },
      maxConcurrency: inflight,
    });

    const contenders: Record<string, () => Promise<unknown>> = {
      'node https (floor)': nodeHttps,
      'axios, keep-alive agent (raw axios)': () => axiosDefaults.get(`${ready.url}${path}`).then((r) => r.data),
      'axios, keep-alive, maxRedirects 0': () => axiosNoRedirects.get(`${ready.url}${path}`).then((r) => r.data),
      'DynamicsClient.retrieve': () => client.retrieve('accounts', ready.id, { select: ['name'] }),
    };
    const names = Object.keys(contenders);
    // Warm-up: sockets, JIT, token.
    for (const name of names) await run(100, inflight, contenders[name]);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? names : [...names].reverse();
      for (const name of order) times[name].push(await run(requests, inflight, contenders[name]));
    }
    console.log(`\nserver: ${serverKind}`);
    console.log(`${requests} × GET accounts(id)?$select=name, ${inflight} in flight, median of ${rounds} interleaved rounds (ms):`);
    const client_ = median(times['DynamicsClient.retrieve']);
    for (const name of names) {
      const m = median(times[name]);
      console.log(`  ${name.padEnd(40)} ${m.toFixed(1).padStart(8)}   client ÷ this = ${(client_ / m).toFixed(2)}×`);
    }

    // Paging throughput and memory.
    if (serverKind === 'minimal') {
      client.close();
      rawAgent.destroy();
      return;
    }
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 10);
    let seen = 0;
    const start = process.hrtime.bigint();
    for await (const page of client.list('accounts', { select: ['name', 'accountnumber', 'revenue'], filter: { accountnumber: { startswith: 'R-' } }, maxPageSize: 5000 }).byPage()) {
      seen += page.length;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    clearInterval(sampler);
    console.log(`\npaging ${seen} rows (maxPageSize 5000): ${(seen / seconds).toFixed(0)} rows/s, ${seconds.toFixed(2)} s, peak RSS ${(peakRss / 1048576).toFixed(0)} MB (before: ${(rssBefore / 1048576).toFixed(0)} MB)`);
    if (seen !== rows) console.log(`  !! expected ${rows} rows`);
    client.close();
    rawAgent.destroy();
  } finally {
    child.send('close');
  }
}

if (process.argv.includes('--serve')) void serve();
else
  main().catch((error: unknown) => {
    // Only the message: an AxiosError would print its config, bearer token included.
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    process.exit(1);
  });
