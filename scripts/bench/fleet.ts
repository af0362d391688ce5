/**
 * The `fleet` section of `npm run bench`: four worker processes (scripts/bench/fleet-worker.ts, the
 * compiled library) create rows as one application user against one emulator whose service
 * protection allows a fixed budget, once each process pacing itself alone and once sharing
 * `redisThrottle` on a real redis-server. Reported: 429s, wall time, rows, how full the service kept
 * its window, and Redis round trips per request.
 *
 * Runs are interleaved (alone, shared, shared, alone, …) and reported as medians. A run whose rows
 * do not come out exactly (one per create, none missing, none twice) or whose worker fails makes the
 * section fail: no row is printed for a contender that errored.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import type { Emulator } from './emulator';
import { redisServerAvailable, startRedis, type TestRedis } from '../../test/helpers/redis';
import { startFleetWorker, type FleetWorker } from '../../test/helpers/fleet';
import type { FleetWorkerResult } from './fleet-worker';
import { int, median, ms } from './stats';

export interface FleetSizes {
  workers: number;
  rowsPerWorker: number;
  /** Creates in flight per worker. */
  concurrency: number;
  /** The service's budget for the user, which the shared limiter is also given. */
  budget: { requests: number; windowInMs: number };
  /** The shared limiter's fleet concurrency: the four workers' own total, so that only the budget differs. */
  fleetConcurrency: number;
  /** Pairs of runs (alone and shared), interleaved. */
  rounds: number;
}

export const FLEET_SIZES: Record<'full' | 'quick', FleetSizes> = {
  full: { workers: 4, rowsPerWorker: 2_000, concurrency: 8, budget: { requests: 600, windowInMs: 4_000 }, fleetConcurrency: 32, rounds: 2 },
  quick: { workers: 4, rowsPerWorker: 60, concurrency: 8, budget: { requests: 80, windowInMs: 2_000 }, fleetConcurrency: 32, rounds: 1 },
};

export type FleetMode = 'alone' | 'shared';

export interface FleetRun {
  mode: FleetMode;
  /** 429 answers of the service during the run. */
  throttled: number;
  wallMs: number;
  /** Rows the workers said they created, rows found, and distinct names among them. */
  created: number;
  rows: number;
  distinct: number;
  failures: number;
  /** Mean fill of the service's window between the first and the last window. */
  fill: number;
  /** EVALSHA/EVAL calls per create (shared runs). */
  redisCallsPerCreate?: number;
}

export interface FleetResult {
  sizes: FleetSizes;
  runs: FleetRun[];
  skipped?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the section against `emulator` (whose service protection it sets, and restores to `restore`). */
export async function benchFleet(
  emulator: Emulator,
  caFile: string,
  sizes: FleetSizes,
  restore: { maxRequests: number; windowInMs: number; maxConcurrent: number },
  log: (text: string) => void,
): Promise<FleetResult> {
  // Reported as skipped, with the reason, in the table (the bench smoke test fails on a skipped fleet section).
  if (!redisServerAvailable()) return { sizes, runs: [], skipped: 'redis-server is not on PATH (.ci/run installs it with apt)' };
  const dist = existsSync(path.resolve(__dirname, '../../dist/index.js'));
  const redisServer: TestRedis = await startRedis();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  const workers: FleetWorker[] = Array.from({ length: sizes.workers }, () => startFleetWorker({ dist }));
  const runs: FleetRun[] = [];
  try {
    await Promise.all(workers.map((w) => w.loaded));
    const order: FleetMode[] = [];
    for (let round = 0; round < sizes.rounds; round++) order.push(...((round % 2 === 0 ? ['alone', 'shared'] : ['shared', 'alone']) as FleetMode[]));
    for (const [i, mode] of order.entries()) {
      log(`fleet: run ${i + 1} of ${order.length} (${mode})…`);
      runs.push(await once(emulator, caFile, redis, redisServer.url, workers, sizes, mode, `fleet${i}${mode}`));
    }
  } finally {
    for (const w of workers) w.exit();
    emulator.setServiceProtection(restore);
    redis.disconnect();
    await redisServer.stop();
  }
  return { sizes, runs };
}

async function once(emulator: Emulator, caFile: string, redis: Redis, redisUrl: string, workers: FleetWorker[], sizes: FleetSizes, mode: FleetMode, tag: string): Promise<FleetRun> {
  const { budget } = sizes;
  emulator.setServiceProtection({ maxRequests: budget.requests, windowInMs: budget.windowInMs, maxConcurrent: 52 });
  await redis.config('RESETSTAT');
  const tags = workers.map((_, i) => `${tag}w${i}`);
  await Promise.all(
    workers.map((w, i) =>
      w.prepare({
        url: emulator.url,
        authority: emulator.authority,
        clientId: emulator.client.clientId,
        clientSecret: emulator.client.clientSecret,
        caFile,
        rows: sizes.rowsPerWorker,
        concurrency: sizes.concurrency,
        tag: tags[i] as string,
        ...(mode === 'shared' ? { redisUrl, throttle: { budget, maxConcurrency: sizes.fleetConcurrency, keyPrefix: `${tag}:` } } : {}),
      }),
    ),
  );
  // Each run starts on an empty window: the warm-up requests above (tokens only) spent none of it.
  emulator.resetCounters();
  for (const w of workers) w.go();
  const all = Promise.all(workers.map((w) => w.result()));
  const samples: Array<{ at: number; used: number }> = [];
  const started = Date.now();
  let finished = false;
  void all.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    samples.push({ at: Date.now() - started, used: emulator.serviceProtectionUsage().reduce((n, u) => n + u.requests, 0) });
    await sleep(50);
  }
  const results: FleetWorkerResult[] = await all;
  const throttled = emulator.counters.throttled;
  const wallMs = Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt));
  const names = new Set(tags.map((t) => `${t}-`));
  const found = emulator.store
    .rows('accounts')
    .map((r) => String(r.name))
    .filter((n) => names.has(n.slice(0, n.lastIndexOf('-') + 1)));
  const created = results.reduce((n, r) => n + r.created, 0);
  const failures = results.reduce((n, r) => n + r.failures.length, 0);
  const expected = sizes.workers * sizes.rowsPerWorker;
  const distinct = new Set(found).size;
  if (failures > 0 || created !== expected || found.length !== expected || distinct !== expected) {
    throw new Error(
      `fleet (${mode}): ${created} of ${expected} creates reported, ${found.length} rows found (${distinct} distinct), ${failures} failed${failures > 0 ? `: ${results.flatMap((r) => r.failures).slice(0, 3).join('; ')}` : ''}`,
    );
  }
  const steady = samples.filter((s) => s.at >= budget.windowInMs && s.at <= wallMs - budget.windowInMs);
  const fill = steady.length > 0 ? steady.reduce((n, s) => n + s.used, 0) / steady.length / budget.requests : Number.NaN;
  let redisCallsPerCreate: number | undefined;
  if (mode === 'shared') {
    const stats = await redis.info('commandstats');
    const calls = [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    redisCallsPerCreate = calls / created;
  }
  return { mode, throttled, wallMs, created, rows: found.length, distinct, failures, fill, ...(redisCallsPerCreate !== undefined ? { redisCallsPerCreate } : {}) };
}

const LABELS: Record<FleetMode, string> = {
  alone: 'each process alone (the client’s own pause and dop-hint concurrency)',
  shared: '**`redisThrottle`** shared (budget, pause, fleet concurrency)',
};

/** The markdown table of the section. */
export function fleetTable(r: FleetResult): string {
  const s = r.sizes;
  const heading = `### Many instances: ${s.workers} processes × ${int(s.rowsPerWorker)} creates as one user, service budget ${int(s.budget.requests)} requests per ${ms(s.budget.windowInMs)}`;
  if (r.skipped) return `${heading}\n\nSkipped: ${r.skipped}.`;
  const rateBound = ((s.workers * s.rowsPerWorker - s.budget.requests) / s.budget.requests) * s.budget.windowInMs;
  const lines = [heading, '', '| processes | 429 answers | wall time | rows created (distinct) of expected | failed | service window kept full | Redis calls per create |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const mode of ['alone', 'shared'] as const) {
    const runs = r.runs.filter((x) => x.mode === mode);
    if (runs.length === 0) continue;
    const calls = runs.map((x) => x.redisCallsPerCreate).filter((x): x is number => x !== undefined);
    lines.push(
      `| ${LABELS[mode]} | ${int(median(runs.map((x) => x.throttled)))} | ${ms(median(runs.map((x) => x.wallMs)))} | ${int(runs[0].rows)} (${int(runs[0].distinct)}) of ${int(s.workers * s.rowsPerWorker)} | ${int(Math.max(...runs.map((x) => x.failures)))} | ${(median(runs.map((x) => x.fill)) * 100).toFixed(0)}% | ${calls.length ? median(calls).toFixed(2) : '—'} |`,
    );
  }
  lines.push(
    '',
    `Median of ${Math.max(1, r.runs.length / 2)} run(s) each, interleaved. The budget alone allows the work in ${ms(rateBound)} at best (the first window's worth at once, then one window's worth per window). Both fleets may have ${s.workers * s.concurrency} creates in flight; the shared limiter is given the same total (\`maxConcurrency: ${s.fleetConcurrency}\`) so that only the budget and the pause differ. "Window kept full" is the mean count of the service's sliding window over the budget, between the first and the last window.`,
  );
  return lines.join('\n');
}
