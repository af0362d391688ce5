/**
 * One `npm run profile` scenario in its own process, started by `scripts/profile.ts` with
 * `node --cpu-prof`: warms up, then runs the measured loop and reports its window (on the profile's
 * clock, `process.hrtime`), the calls it made and the CPU the process used, over IPC.
 */
import { readFileSync } from 'node:fs';
import { DynamicsWebApi } from 'dynamics-web-api';
import { newClient, newService, type Target } from './library';
import { pool } from './stats';

export type ProfileScenario = 'retrieve' | 'service' | 'create' | 'batch' | 'paging' | 'dwa-retrieve' | 'dwa-create' | 'dwa-batch';

export interface ProfileTask {
  scenario: ProfileScenario;
  target: Target;
  /** Account ids to read (retrieve, service); cycled. */
  ids: string[];
  /** Calls in the measured loop: requests, creates, or rows for paging. */
  calls: number;
  /** In flight at once for retrieve and service. */
  concurrency: number;
  /** Operations per `$batch`. */
  batchSize: number;
  /** Page size for paging. */
  maxPageSize: number;
}

export interface ProfileResult {
  scenario: ProfileScenario;
  /** Calls (or rows) in the measured window. */
  calls: number;
  /** The measured window on the profile's clock (µs). */
  fromUs: number;
  toUs: number;
  /** `process.cpuUsage()` over the window, user + system, µs. */
  cpuUs: number;
  wallMs: number;
  /** Calls that failed: a profile of failures is not the profile asked for. */
  failures: number;
}

export type ProfileMessage = { type: 'result'; result: ProfileResult } | { type: 'error'; message: string };

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * The peer, for a like-for-like profile: dynamics-web-api with a token taken once by client
 * credentials (its `onTokenRefresh` returns it), trusting the emulator through NODE_EXTRA_CA_CERTS.
 */
async function newDwa(t: Target): Promise<DynamicsWebApi> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, resource: t.url });
  const response = await fetch(t.tokenUrl, { method: 'POST', body });
  if (!response.ok) throw new Error(`token endpoint: ${response.status}`);
  const token = ((await response.json()) as { access_token: string }).access_token;
  return new DynamicsWebApi({ serverUrl: t.url, dataApi: { version: '9.2' }, onTokenRefresh: async () => token });
}

async function run(task: ProfileTask): Promise<ProfileResult> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  let failures = 0;
  const fail = (): void => void failures++;
  let loop: (n: number) => Promise<number>;
  let close: () => unknown;
  const nth = (i: number): string => task.ids[i % task.ids.length];
  const indexes = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  switch (task.scenario) {
    case 'retrieve': {
      const client = newClient(t, ca);
      close = () => client.close();
      loop = async (n) => {
        await pool(indexes(n), task.concurrency, (i) => client.retrieve('accounts', nth(i), { select: ['name'] }).catch(fail));
        return n;
      };
      break;
    }
    case 'service': {
      const service = newService(t);
      close = () => service.close();
      loop = async (n) => {
        await pool(indexes(n), task.concurrency, (i) => service.get(`${t.apiUrl}/accounts(${nth(i)})?$select=name`).catch(fail));
        return n;
      };
      break;
    }
    case 'create': {
      const client = newClient(t, ca);
      close = () => client.close();
      loop = async (n) => {
        for (let i = 0; i < n; i++) await client.create('accounts', { name: `profile ${i}`, description: 'created by npm run profile' }).catch(fail);
        return n;
      };
      break;
    }
    case 'batch': {
      const client = newClient(t, ca);
      close = () => client.close();
      loop = async (n) => {
        for (let done = 0; done < n; done += task.batchSize) {
          const size = Math.min(task.batchSize, n - done);
          const ops = Array.from({ length: size }, (_, i) => ({ method: 'POST' as const, url: 'accounts', body: { name: `profile batch ${done + i}`, description: 'created by npm run profile' } }));
          const results = await client.batch(ops).catch(() => ops.map(() => ({ error: new Error('batch failed') })));
          failures += results.filter((r) => r.error !== undefined).length;
        }
        return n;
      };
      break;
    }
    case 'dwa-retrieve': {
      const dwa = await newDwa(t);
      close = () => undefined;
      loop = async (n) => {
        await pool(indexes(n), task.concurrency, (i) => dwa.retrieve({ collection: 'accounts', key: nth(i), select: ['name'] }).catch(fail));
        return n;
      };
      break;
    }
    case 'dwa-create': {
      const dwa = await newDwa(t);
      close = () => undefined;
      loop = async (n) => {
        for (let i = 0; i < n; i++) await dwa.create({ collection: 'accounts', data: { name: `profile ${i}`, description: 'created by npm run profile' } }).catch(fail);
        return n;
      };
      break;
    }
    case 'dwa-batch': {
      const dwa = await newDwa(t);
      close = () => undefined;
      loop = async (n) => {
        for (let done = 0; done < n; done += task.batchSize) {
          const size = Math.min(task.batchSize, n - done);
          dwa.startBatch();
          for (let i = 0; i < size; i++) void dwa.create({ collection: 'accounts', data: { name: `profile batch ${done + i}`, description: 'created by npm run profile' } });
          // Its default: one change set, as our client's batch() of creates.
          const results = (await dwa.executeBatch().catch(() => [])) as unknown[];
          failures += size - results.filter((r) => typeof r === 'string').length;
        }
        return n;
      };
      break;
    }
    case 'paging': {
      const client = newClient(t, ca);
      close = () => client.close();
      loop = async (n) => {
        let rows = 0;
        while (rows < n) {
          const before = rows;
          for await (const row of client.list('accounts', { select: ['name', 'accountnumber', 'address1_city', 'emailaddress1', 'revenue', 'createdon'], maxPageSize: task.maxPageSize })) {
            if (typeof row.name !== 'string') failures++;
            rows++;
          }
          if (rows === before) throw new Error('paging read no rows');
        }
        return rows;
      };
      break;
    }
  }
  // Warm-up: token, sockets, JIT. Outside the window.
  await loop(Math.max(50, Math.floor(task.calls / 5)));
  failures = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const fromUs = nowUs();
  const calls = await loop(task.calls);
  const toUs = nowUs();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await close();
  return { scenario: task.scenario, calls, fromUs, toUs, cpuUs: used.user + used.system, wallMs, failures };
}

function send(message: ProfileMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('profile-worker.ts must be started with fork() (no IPC channel)'));
    process.send(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

const task = JSON.parse(readFileSync(process.argv[2], 'utf8')) as ProfileTask;
run(task).then(
  // process.exit writes the --cpu-prof profile, like a natural exit.
  async (result) => {
    await send({ type: 'result', result });
    process.exit(0);
  },
  async (err: unknown) => {
    await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }).catch(() => undefined);
    process.exit(1);
  },
);
