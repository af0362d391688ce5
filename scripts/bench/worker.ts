/**
 * One benchmark task in its own process, so that each contender's CPU and peak RSS are its own and
 * not the emulator's. Started by `scripts/bench.ts` with `fork()`: the task arrives as a JSON file
 * path in argv, the result leaves as an IPC message `{ type: 'result', result }`. Tasks that need
 * the orchestrator to read the emulator's counters mid-way send `{ type: 'phase', name }` and wait
 * for `{ type: 'ack' }`.
 *
 * The process trusts the emulator's CA through NODE_EXTRA_CA_CERTS (set by the orchestrator), which
 * is how dynamics-web-api and plain axios are pointed at a private CA; our client is also given
 * `ca` explicitly, as a user would.
 */
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import axios from 'axios';
import { DynamicsWebApi } from 'dynamics-web-api';
import { newClient, newService, type Target } from './library';
import { EdirectStyleDynamics } from './edirect-flow';
import { pool } from './stats';

export type { Target } from './library';

export type OverheadContender = 'https' | 'axios' | 'axios-lean' | 'client' | 'service' | 'dwa';
export type PagingContender = 'client' | 'dwa' | 'axios' | 'https';
export type BurstContender = 'client' | 'service' | 'edirect';
export type CreateContender = 'client' | 'dwa';
export type CreateMode = 'sequential' | 'parallel' | 'batch';

export type Task =
  | { kind: 'overhead'; target: Target; ids: string[]; concurrency: number; rounds: number; warmup: number; contenders: OverheadContender[]; sabotage?: string; driven?: boolean }
  | { kind: 'paging'; target: Target; contender: PagingContender; columns: string[]; maxPageSize: number }
  | { kind: 'burst'; target: Target; contender: BurstContender; id: string; burst: number; steady: number }
  | {
      kind: 'creates';
      target: Target;
      contenders: CreateContender[];
      mode: CreateMode;
      count: number;
      rounds: number;
      warmup: number;
      batchSize: number;
      concurrency: number;
      tag: string;
      sabotage?: string;
      driven?: boolean;
    }
  | { kind: 'codegen'; metadata: string; out: string }
  | { kind: 'idle' };

export type WorkerMessage = { type: 'result'; result: unknown } | { type: 'phase'; name: string } | { type: 'turn'; step: string } | { type: 'error'; message: string };

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('worker.ts must be started with fork() (no IPC channel)'));
    process.send(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

function waitForAck(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if ((m as { type?: string }).type === 'ack') {
        process.off('message', onMessage);
        resolve();
      }
    };
    process.on('message', onMessage);
  });
}

async function phase(name: string): Promise<void> {
  const ack = waitForAck();
  await send({ type: 'phase', name });
  await ack;
}

/**
 * A driven task (one contender per process, the orchestrator taking turns among the processes):
 * waits until the orchestrator says it is this process's turn for `step` (the warm-up or a round).
 * Asking for the next turn, or sending the result, tells it that the previous one is over.
 */
async function turn(step: string): Promise<void> {
  const ack = waitForAck();
  await send({ type: 'turn', step });
  await ack;
}

function peakRssKb(): number {
  return process.resourceUsage().maxRSS;
}

const ODATA_HEADERS = { Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0' };

/** A token from the v1 endpoint by client credentials: the "fixed token" of the raw baselines. */
async function fixedToken(t: Target, agent: https.Agent): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, resource: t.url }).toString();
  const response = await axios.post<{ access_token: string }>(t.tokenUrl, body, { httpsAgent: agent, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  return response.data.access_token;
}

function newDwa(t: Target, token: string | (() => Promise<string>)): DynamicsWebApi {
  return new DynamicsWebApi({
    serverUrl: t.url,
    dataApi: { version: '9.2' },
    onTokenRefresh: typeof token === 'string' ? async () => token : token,
  });
}

/** Plain node https, keep-alive, parsing the JSON: the floor under any client. */
function httpsGet(agent: https.Agent, url: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 400) return reject(new Error(`GET ${url}: ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Per contender, one value per round: wall time (ms) and this process's CPU (µs). */
export interface OverheadRuns {
  wallMs: Record<string, number[]>;
  cpuUs: Record<string, number[]>;
}

async function overhead(task: Extract<Task, { kind: 'overhead' }>): Promise<OverheadRuns> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  const agent = new https.Agent({ keepAlive: true, ca });
  const token = await fixedToken(t, agent);
  const auth = { ...ODATA_HEADERS, Authorization: `Bearer ${token}`, 'If-None-Match': 'null' };
  const path = (id: string) => `accounts(${id})?$select=name`;
  const closers: Array<() => unknown> = [() => agent.destroy()];
  const run: Record<OverheadContender, () => (id: string) => Promise<unknown>> = {
    https: () => {
      const a = new https.Agent({ keepAlive: true, ca });
      closers.push(() => a.destroy());
      return (id) => httpsGet(a, `${t.apiUrl}/${path(id)}`, auth);
    },
    axios: () => {
      const a = new https.Agent({ keepAlive: true, ca });
      closers.push(() => a.destroy());
      const http = axios.create({ baseURL: `${t.apiUrl}/`, httpsAgent: a, headers: auth });
      return async (id) => (await http.get(path(id))).data;
    },
    'axios-lean': () => {
      const a = new https.Agent({ keepAlive: true, ca });
      closers.push(() => a.destroy());
      const http = axios.create({ baseURL: `${t.apiUrl}/`, httpsAgent: a, headers: auth, maxRedirects: 0 });
      return async (id) => (await http.get(path(id))).data;
    },
    client: () => {
      const client = newClient(t, ca);
      closers.push(() => client.close());
      return (id) => client.retrieve('accounts', id, { select: ['name'] });
    },
    service: () => {
      const service = newService(t);
      closers.push(() => service.close());
      return (id) => service.get(`${t.apiUrl}/${path(id)}`);
    },
    dwa: () => {
      const dwa = newDwa(t, token);
      return (id) => dwa.retrieve({ collection: 'accounts', key: id, select: ['name'] });
    },
  };
  const calls = new Map<OverheadContender, (id: string) => Promise<unknown>>();
  for (const name of task.contenders) {
    const call = run[name]();
    // Every answer is checked: a contender that fails or answers something else must not look fast.
    // `--sabotage <contender>` (the harness's own test): that contender asks for a record that does not exist.
    const broken = task.sabotage === name;
    calls.set(name, async (id) => {
      let answer: { name?: unknown } | null;
      try {
        answer = (await call(broken ? '00000000-0000-0000-0000-00000000dead' : id)) as { name?: unknown } | null;
      } catch (error) {
        throw new Error(`${name}: GET accounts(${id}) failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (typeof answer?.name !== 'string') throw new Error(`${name}: GET accounts(${id}) answered without a name: ${JSON.stringify(answer)?.slice(0, 200)}`);
      return answer;
    });
  }
  // Warm-up: tokens, sockets, and V8 compiling the hot path (on background threads, which count in
  // the process's CPU). Not measured.
  const warmupIds = Array.from({ length: task.warmup }, (_, i) => task.ids[i % task.ids.length]);
  if (task.driven) await turn('warmup');
  for (const [, call] of calls) await pool(warmupIds, task.concurrency, (id) => call(id));
  const wallMs: Record<string, number[]> = Object.fromEntries(task.contenders.map((c) => [c, []]));
  const cpuUs: Record<string, number[]> = Object.fromEntries(task.contenders.map((c) => [c, []]));
  for (let round = 0; round < task.rounds; round++) {
    // Interleaved, starting with a different contender each round, so drift on a shared machine hits all alike.
    const order = task.contenders.map((_, i) => task.contenders[(i + round) % task.contenders.length]);
    for (const name of order) {
      const call = calls.get(name)!;
      if (task.driven) await turn(`round ${round}`);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await pool(task.ids, task.concurrency, (id) => call(id));
      wallMs[name].push(performance.now() - start);
      cpuUs[name].push(cpuTotal(process.cpuUsage(cpu)));
    }
  }
  for (const close of closers) await close();
  return { wallMs, cpuUs };
}

/** User + system CPU of this process, µs: what the client itself spent, whatever the machine's load. */
function cpuTotal(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

async function paging(task: Extract<Task, { kind: 'paging' }>): Promise<{ rows: number; ms: number; cpuUs: number; peakRssKb: number; startRssKb: number }> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  let rows = 0;
  let checksum = 0;
  const touch = (row: Record<string, unknown>) => {
    rows++;
    checksum += typeof row.name === 'string' ? row.name.length : 0;
  };
  let body: () => Promise<void>;
  let close: () => unknown = () => undefined;
  if (task.contender === 'client') {
    const client = newClient(t, ca);
    close = () => client.close();
    await client.retrieve('accounts', (await first(t, ca)), { select: ['name'] });
    body = async () => {
      for await (const row of client.list('accounts', { select: task.columns, maxPageSize: task.maxPageSize })) touch(row);
    };
  } else if (task.contender === 'dwa') {
    const agent = new https.Agent({ keepAlive: true, ca });
    const token = await fixedToken(t, agent);
    agent.destroy();
    const dwa = newDwa(t, token);
    await dwa.retrieveMultiple({ collection: 'accounts', select: ['name'], top: 1 });
    body = async () => {
      const all = await dwa.retrieveAll<Record<string, unknown>>({ collection: 'accounts', select: task.columns, maxPageSize: task.maxPageSize });
      for (const row of all.value) touch(row);
    };
  } else if (task.contender === 'https') {
    // The floor: node https, keep-alive, JSON.parse of each page, following @odata.nextLink.
    const agent = new https.Agent({ keepAlive: true, ca });
    const token = await fixedToken(t, agent);
    close = () => agent.destroy();
    const headers = { ...ODATA_HEADERS, Authorization: `Bearer ${token}`, Prefer: `odata.maxpagesize=${task.maxPageSize}` };
    await httpsGet(agent, `${t.apiUrl}/accounts?$select=name&$top=1`, headers);
    body = async () => {
      let next: string | undefined = `${t.apiUrl}/accounts?$select=${task.columns.join(',')}`;
      while (next) {
        const page = (await httpsGet(agent, next, headers)) as { value: Record<string, unknown>[]; '@odata.nextLink'?: string };
        for (const row of page.value) touch(row);
        next = page['@odata.nextLink'];
      }
    };
  } else {
    const agent = new https.Agent({ keepAlive: true, ca });
    const token = await fixedToken(t, agent);
    close = () => agent.destroy();
    const http = axios.create({ httpsAgent: agent, maxRedirects: 0, headers: { ...ODATA_HEADERS, Authorization: `Bearer ${token}`, Prefer: `odata.maxpagesize=${task.maxPageSize}` } });
    await http.get(`${t.apiUrl}/accounts?$select=name&$top=1`);
    body = async () => {
      let next: string | undefined = `${t.apiUrl}/accounts?$select=${task.columns.join(',')}`;
      while (next) {
        const page: { value: Record<string, unknown>[]; '@odata.nextLink'?: string } = (await http.get(next)).data;
        for (const row of page.value) touch(row);
        next = page['@odata.nextLink'];
      }
    };
  }
  // One whole walk first, not measured, for every contender alike: JIT warm-up and the heap's growth
  // to its working size would otherwise weigh most on the client with the most code per page.
  await body();
  rows = 0;
  checksum = 0;
  const startRssKb = Math.round(process.memoryUsage().rss / 1024);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await body();
  const elapsed = performance.now() - start;
  const cpuUs = cpuTotal(process.cpuUsage(cpu));
  await close();
  if (checksum === 0 && rows > 0) throw new Error('paging read no names: the select did not work');
  return { rows, ms: elapsed, cpuUs, peakRssKb: peakRssKb(), startRssKb };
}

/** Any account id, to warm a client up with one request. */
async function first(t: Target, ca: string): Promise<string> {
  const agent = new https.Agent({ keepAlive: false, ca });
  const token = await fixedToken(t, agent);
  const page = (await httpsGet(agent, `${t.apiUrl}/accounts?$select=accountid&$top=1`, { ...ODATA_HEADERS, Authorization: `Bearer ${token}` })) as { value: Array<{ accountid: string }> };
  agent.destroy();
  return page.value[0].accountid;
}

async function burst(task: Extract<Task, { kind: 'burst' }>): Promise<{ burstMs: number; steadyMs: number; failures: number }> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  const url = `${t.apiUrl}/accounts(${task.id})?$select=name`;
  let call: () => Promise<unknown>;
  let close: () => unknown = () => undefined;
  if (task.contender === 'client') {
    const client = newClient(t, ca);
    close = () => client.close();
    call = () => client.retrieve('accounts', task.id, { select: ['name'] });
  } else if (task.contender === 'service') {
    const service = newService(t);
    close = () => service.close();
    call = () => service.get(url);
  } else {
    const agent = new https.Agent({ keepAlive: true, ca });
    close = () => agent.destroy();
    const flow = new EdirectStyleDynamics(
      {
        DYNAMICS_TOKEN_URL: t.tokenUrl,
        DYNAMICS_CLIENT_ID: t.clientId,
        DYNAMICS_CLIENT_SECRET: t.clientSecret,
        DYNAMICS_USER_NAME: t.username,
        DYNAMICS_PASSWORD: t.password,
        DYNAMICS_RESOURCE: t.url,
      },
      axios.create({ httpsAgent: agent }),
    );
    call = () => flow.get(url, { headers: ODATA_HEADERS });
  }
  let failures = 0;
  const guarded = () => call().catch(() => void failures++);
  let start = performance.now();
  await Promise.all(Array.from({ length: task.burst }, guarded));
  const burstMs = performance.now() - start;
  await phase('burst');
  // Steady state one call at a time: what each call costs in tokens once the first one is done.
  start = performance.now();
  for (let i = 0; i < task.steady; i++) await guarded();
  const steadyMs = performance.now() - start;
  await close();
  return { burstMs, steadyMs, failures };
}

/** One measured run of one contender in the creates task. */
export interface CreateRoundResult {
  ms: number;
  cpuUs: number;
  failures: number;
  requests: number;
}

/** Record names carry `<tag>|<contender>|<round>|<n>`, so that the orchestrator can count each run's rows in the emulator. */
export function createName(tag: string, contender: string, round: string, n: number): string {
  return `${tag}|${contender}|${round}|${n}`;
}

/**
 * The contenders of one mode: a warm-up of each (JIT, sockets, token), then `rounds` interleaved
 * runs of `count` creates each, the order alternating every round, so that the machine's drift hits
 * all alike and each run is measured warm. The bench runs one contender per process (`driven`),
 * the orchestrator taking turns among the processes (runTurns in scripts/bench.ts).
 */
async function creates(task: Extract<Task, { kind: 'creates' }>): Promise<Record<string, CreateRoundResult[]>> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  const closers: Array<() => unknown> = [];
  const chunks = <T>(list: T[]): T[][] => Array.from({ length: Math.ceil(list.length / task.batchSize) }, (_, i) => list.slice(i * task.batchSize, (i + 1) * task.batchSize));
  type Tally = { failures: number; requests: number };
  const runners: Record<string, (records: Array<Record<string, unknown>>, tally: Tally) => Promise<void>> = {};
  for (const contender of task.contenders) {
    // `--sabotage <contender>` (the harness's own test): that contender writes to an entity set that does not exist.
    const collection = task.sabotage === contender ? 'nosuchentities' : 'accounts';
    // A create that answers without an id is a failure too: it must not count as a fast create.
    const counted = (tally: Tally) => (id: unknown): void => void (typeof id === 'string' && id !== '' ? tally.requests++ : tally.failures++);
    const failed = (tally: Tally) => (): void => void tally.failures++;
    if (contender === 'client') {
      const client = newClient(t, ca);
      closers.push(() => client.close());
      await client.retrieve('accounts', await first(t, ca), { select: ['name'] });
      runners[contender] = {
        sequential: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          for (const r of records) await client.create(collection, r).then(counted(tally), failed(tally));
        },
        // The client keeps at most x-ms-dop-hint calls in flight by itself: fire them all.
        parallel: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          await Promise.all(records.map((r) => client.create(collection, r).then(counted(tally), failed(tally))));
        },
        // One request after another, each one change set (atomic), which is what dynamics-web-api sends by
        // default: the same work on the server for both, so the difference is each client's.
        batch: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          for (const chunk of chunks(records)) {
            const results = await client.batch(
              chunk.map((r) => ({ method: 'POST' as const, url: collection, body: r })),
              { atomic: true },
            );
            tally.requests++;
            tally.failures += results.filter((r) => r.error !== undefined || typeof r.entityId !== 'string').length;
          }
        },
      }[task.mode];
    } else {
      const agent = new https.Agent({ keepAlive: false, ca });
      const token = await fixedToken(t, agent);
      agent.destroy();
      const dwa = newDwa(t, token);
      await dwa.retrieveMultiple({ collection: 'accounts', select: ['name'], top: 1 });
      runners[contender] = {
        sequential: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          for (const r of records) await dwa.create({ collection, data: r }).then(counted(tally), failed(tally));
        },
        // dynamics-web-api has no concurrency limit of its own: a pool at the same degree as ours.
        parallel: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          await pool(records, task.concurrency, (r) => dwa.create({ collection, data: r }).then(counted(tally), failed(tally)));
        },
        batch: async (records: Array<Record<string, unknown>>, tally: Tally) => {
          for (const chunk of chunks(records)) {
            dwa.startBatch();
            for (const r of chunk) void dwa.create({ collection, data: r });
            try {
              const results = (await dwa.executeBatch()) as unknown[];
              tally.failures += results.filter((r) => typeof r !== 'string').length + Math.max(0, chunk.length - results.length);
              tally.requests++;
            } catch {
              tally.failures += chunk.length;
            }
          }
        },
      }[task.mode];
    }
  }
  const records = (contender: string, round: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: createName(task.tag, contender, round, i), description: 'created by npm run bench' }));
  const results: Record<string, CreateRoundResult[]> = Object.fromEntries(task.contenders.map((c) => [c, []]));
  // Warm-up, not measured; its failures are reported with the first run's, so that none goes unseen.
  const warmupFailures: Record<string, number> = {};
  if (task.driven) await turn('warmup');
  for (const contender of task.contenders) {
    const tally = { failures: 0, requests: 0 };
    await runners[contender](records(contender, 'warmup', task.warmup), tally);
    warmupFailures[contender] = tally.failures;
  }
  for (let round = 0; round < task.rounds; round++) {
    const order = round % 2 === 0 ? task.contenders : [...task.contenders].reverse();
    for (const contender of order) {
      const tally = { failures: round === 0 ? warmupFailures[contender] : 0, requests: 0 };
      const list = records(contender, String(round), task.count);
      if (task.driven) await turn(`round ${round}`);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await runners[contender](list, tally);
      const ms = performance.now() - start;
      results[contender].push({ ms, cpuUs: cpuTotal(process.cpuUsage(cpu)), ...tally });
    }
  }
  for (const close of closers) await close();
  return results;
}

async function codegen(task: Extract<Task, { kind: 'codegen' }>): Promise<{ ms: number; files: number; bytes: number; peakRssKb: number }> {
  // Loaded here so the other tasks never load the generator.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generate } = require('../../src/codegen') as {
    generate(options: { metadata: string; out: string }): Promise<{ files: Array<{ path: string; bytes?: number }> | string[] } | unknown>;
  };
  const start = performance.now();
  const result = await generate({ metadata: task.metadata, out: task.out });
  const elapsed = performance.now() - start;
  const { readdirSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  let files = 0;
  let bytes = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(task.out);
  void result;
  return { ms: elapsed, files, bytes, peakRssKb: peakRssKb() };
}

async function main(): Promise<void> {
  const task = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Task;
  let result: unknown;
  switch (task.kind) {
    case 'overhead':
      result = await overhead(task);
      break;
    case 'paging':
      result = await paging(task);
      break;
    case 'burst':
      result = await burst(task);
      break;
    case 'creates':
      result = await creates(task);
      break;
    case 'codegen':
      result = await codegen(task);
      break;
    case 'idle':
      result = { peakRssKb: peakRssKb() };
      break;
  }
  await send({ type: 'result', result });
}

main().then(
  () => process.disconnect?.(),
  async (err: unknown) => {
    await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }).catch(() => undefined);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
