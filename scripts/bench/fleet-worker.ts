/**
 * One process of a fleet: creates rows in the emulator as the shared application user, with or
 * without `redisThrottle`. Started with `fork()` (tsx) by `scripts/bench/fleet.ts` and by the fleet
 * tests (test/loopback/fleet-processes.test.ts); `--dist` runs the compiled library.
 *
 * IPC: the worker says `loaded`, then runs tasks one after another, so that a test or the bench pays
 * for loading the library once: on `task` it gets its token and its Redis connection warm and says
 * `ready`, waits for `go`, sends `progress` every `progressEveryInMs` when asked, and ends with
 * `result` (or `error`). `stop` makes it finish the requests in flight and report early; `exit` ends it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FleetBudget, Logger, RedisThrottle, RedisThrottleStats } from '../../src';

type Library = typeof import('../../src');

export interface FleetWorkerTask {
  url: string;
  authority: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
  /** Rows to create, named `<tag>-<n>`. */
  rows: number;
  /** Creates in flight at once in this process (the client's own limit also applies). */
  concurrency: number;
  tag: string;
  /** Use `redisThrottle` on this Redis; without it the process paces itself alone. */
  redisUrl?: string;
  throttle?: { budget?: FleetBudget; maxConcurrency?: number; leaseInMs?: number; redisTimeoutInMs?: number; retryRedisAfterInMs?: number; reserve?: number; keyPrefix?: string };
  /** Re-sends allowed per create. Default: 100 (a run without the limiter meets many 429s, and no row may be given up). */
  maxRetries?: number;
  /** Send `progress` this often. Default: never. */
  progressEveryInMs?: number;
}

export interface FleetWorkerProgress {
  type: 'progress';
  created: number;
  /** Slots of the fleet this process holds (0 without the limiter). */
  held: number;
  waiting: number;
  redis: RedisThrottleStats['redis'] | 'none';
}

export interface FleetWorkerResult {
  type: 'result';
  created: number;
  failures: string[];
  /** 429 answers this process met (from the client's retry log). */
  throttled: number;
  startedAt: number;
  endedAt: number;
  /** The limiter's warnings and infos about Redis, in order. */
  redisLog: string[];
  redis: RedisThrottleStats['redis'] | 'none';
  outages: number;
}

export type FleetWorkerMessage = { type: 'loaded'; pid: number } | { type: 'ready' } | FleetWorkerProgress | FleetWorkerResult | { type: 'error'; message: string };

/** What the parent sends: a task to prepare, the start signal, an early stop, or the end. */
export type FleetWorkerCommand = { type: 'task'; task: FleetWorkerTask } | { type: 'go' } | { type: 'stop' } | { type: 'exit' };

function send(message: FleetWorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('fleet-worker.ts must be started with fork() (no IPC channel)'));
    process.send(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

/** Commands in the order they arrive. */
function commands(): () => Promise<FleetWorkerCommand> {
  const queue: FleetWorkerCommand[] = [];
  let waiting: ((c: FleetWorkerCommand) => void) | undefined;
  process.on('message', (m: FleetWorkerCommand) => {
    if (m.type === 'stop') return;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(m);
    } else queue.push(m);
  });
  return () => {
    const next = queue.shift();
    return next ? Promise.resolve(next) : new Promise((resolve) => (waiting = resolve));
  };
}

async function runTask(lib: Library, task: FleetWorkerTask, next: () => Promise<FleetWorkerCommand>, stopped: { value: boolean }): Promise<void> {
  const ca = readFileSync(task.caFile, 'utf8');
  let throttled = 0;
  const redisLog: string[] = [];
  const logger: Logger = {
    error: () => undefined,
    warn: (m) => {
      if (m.startsWith('redisThrottle')) redisLog.push(`warn: ${m}`);
    },
    info: (m, meta) => {
      if (m === 'retrying request' && meta?.reason === 'HTTP 429') throttled++;
      if (m.startsWith('redisThrottle')) redisLog.push(`info: ${m}`);
    },
  };

  const provider = new lib.MsalTokenProvider({ authority: task.authority, clientId: task.clientId, clientSecret: task.clientSecret, resource: task.url, ca });
  await provider.getToken();

  let redis: { disconnect(): void } | undefined;
  let throttle: RedisThrottle | undefined;
  if (task.redisUrl !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Redis } = require('ioredis') as typeof import('ioredis');
    const connection = new Redis(task.redisUrl, { maxRetriesPerRequest: 1 });
    connection.on('error', () => undefined);
    await connection.ping();
    redis = connection;
    throttle = lib.redisThrottle({ redis: connection, logger, ...(task.throttle ?? {}) });
  }
  const client = new lib.DynamicsClient({ url: task.url, auth: provider, ca, logger, maxRetries: task.maxRetries ?? 100, ...(throttle ? { throttle } : {}) });

  await send({ type: 'ready' });
  const go = await next();
  if (go.type !== 'go') throw new Error(`expected go, got ${go.type}`);

  stopped.value = false;
  const startedAt = Date.now();
  let n = 0;
  let created = 0;
  const failures: string[] = [];
  const stats = () => {
    const s = throttle?.stats();
    const scope = s?.scopes[0];
    return { held: scope?.held ?? 0, waiting: scope?.waiting ?? 0, redis: s?.redis ?? ('none' as const) };
  };
  const ticker = task.progressEveryInMs
    ? setInterval(() => void send({ type: 'progress', created, ...stats() }).catch(() => undefined), task.progressEveryInMs)
    : undefined;
  await Promise.all(
    Array.from({ length: task.concurrency }, async () => {
      while (!stopped.value && n < task.rows) {
        const i = n++;
        try {
          await client.create('accounts', { name: `${task.tag}-${i}` });
          created++;
        } catch (error) {
          failures.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        }
      }
    }),
  );
  const endedAt = Date.now();
  if (ticker) clearInterval(ticker);
  const final = stats();
  await send({ type: 'result', created, failures, throttled, startedAt, endedAt, redisLog, redis: final.redis, outages: throttle?.stats().outages ?? 0 });
  client.close();
  await throttle?.close();
  redis?.disconnect();
  provider.close();
}

async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require(process.argv.includes('--dist') ? path.resolve(__dirname, '../../dist/index.js') : '../../src') as Library;
  const stopped = { value: false };
  const queue = commands();
  // `stop` is read while a task runs, whatever else is queued.
  process.on('message', (m: FleetWorkerCommand) => {
    if (m.type === 'stop') stopped.value = true;
  });
  await send({ type: 'loaded', pid: process.pid });
  for (;;) {
    const command = await queue();
    if (command.type === 'exit') break;
    if (command.type === 'task') await runTask(lib, command.task, queue, stopped);
  }
  process.disconnect?.();
}

main().catch(async (error: unknown) => {
  await send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => undefined);
  process.exitCode = 1;
  process.disconnect?.();
});
