/**
 * The fleet-wide limiter proven with real processes: four workers (child processes running the
 * client through tsx) share one application user against one emulator and one real redis-server.
 *
 * - With a tight service-protection budget, `redisThrottle` cuts the 429s by 90% or more against the
 *   same run without it, keeps 90% or more of the budget's throughput, and every row is created once.
 * - `kill -9` of a worker mid-run: the others get the whole fleet concurrency back within the lease.
 * - redis-server stopped mid-run and started again: the work finishes, no request fails, each worker
 *   says once that it lost Redis and once that it has it again.
 * - DynamicsService turns the limiter on from DYNAMICS_REDIS_URL, and off on request.
 *
 * Windows and leases are short (seconds) so that the suite stays quick; the mechanisms are the ones a
 * 300-second window uses.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { DynamicsService } from '../../src';
import type { Emulator } from '../../src/emulator';
import type { FleetWorkerResult, FleetWorkerTask } from '../../scripts/bench/fleet-worker';
import { startTestEmulator } from '../helpers/emulator';
import { sleep, startFleetWorker, type FleetWorker } from '../helpers/fleet';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';

const describeRedis = describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not on PATH (.ci/run installs it with apt)');

const WORKERS = 4;

describeRedis('a fleet of processes sharing redisThrottle (real redis-server, four workers)', () => {
  let em: Emulator;
  let server: TestRedis;
  let dir: string;
  let caFile: string;
  let run = 0;
  /** Four warm workers, reused by every test (loading the library is what costs a second or more each). */
  let pool: FleetWorker[] = [];

  beforeAll(async () => {
    pool = Array.from({ length: WORKERS }, () => startFleetWorker());
    // A dop hint of 32 (Dataverse sends 48 and more): the fleet's concurrency is not what bounds the budget runs.
    [em, server] = await Promise.all([startTestEmulator({ dopHint: 32 }), startRedis()]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-'));
    caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, em.caPem);
    await Promise.all(pool.map((w) => w.loaded));
  }, 120_000);
  afterEach(async () => {
    em.setLatency(0);
  });
  afterAll(async () => {
    for (const w of pool) w.kill();
    await Promise.all([em.close(), server.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const task = (extra: Partial<FleetWorkerTask> & Pick<FleetWorkerTask, 'rows' | 'tag'>): FleetWorkerTask => ({
    url: em.url,
    authority: em.authority,
    clientId: em.client.clientId,
    clientSecret: em.client.clientSecret,
    caFile,
    concurrency: 8,
    ...extra,
  });

  /** Hands each worker its task, waits until every one is warm, then lets them all go at once. */
  async function fleet(make: (i: number) => FleetWorkerTask): Promise<FleetWorker[]> {
    const workers = pool;
    await Promise.all(workers.map((w, i) => w.prepare(make(i))));
    for (const w of workers) w.go();
    return workers;
  }

  /** Rows whose name starts with `<tag>-`, and how many distinct names among them. */
  function rowsOf(tag: string): { rows: number; distinct: number } {
    const names = em.store
      .rows('accounts')
      .map((r) => String(r.name))
      .filter((n) => n.startsWith(`${tag}-`));
    return { rows: names.length, distinct: new Set(names).size };
  }

  it('cuts the 429s by 90% or more, keeps 90% of the budget’s throughput, and creates every row once', async () => {
    // A tight budget: 80 requests per 2 s for the one user, 40/s, against 4 × 8 creates in flight.
    const budget = { requests: 80, windowInMs: 2_000 };
    const rows = 80;
    em.setServiceProtection({ maxRequests: budget.requests, windowInMs: budget.windowInMs, maxConcurrent: 52 });

    const measure = async (label: string, withThrottle: boolean) => {
      // Start each run on an empty window.
      await sleep(budget.windowInMs + 100);
      em.resetCounters();
      const tag = `${label}${++run}`;
      const workers = await fleet((i) => task({ rows, tag: `${tag}w${i}`, ...(withThrottle ? { redisUrl: server.url, throttle: { budget, keyPrefix: `${tag}:` } } : {}) }));
      const all = Promise.all(workers.map((w) => w.result()));
      // The service's own view of the budget: how full its sliding window is, every 20 ms.
      const occupancy: Array<{ at: number; used: number }> = [];
      const started = Date.now();
      let finished = false;
      void all.finally(() => (finished = true));
      while (!finished) {
        occupancy.push({ at: Date.now() - started, used: em.serviceProtectionUsage().reduce((n, u) => n + u.requests, 0) });
        await sleep(20);
      }
      const results = await all;
      const wallMs = Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt));
      // Throughput against the budget: the mean fill of the service's window once the first window has
      // passed and while every worker still had work (the last window only drains).
      const steady = occupancy.filter((s) => s.at >= budget.windowInMs && s.at <= wallMs - budget.windowInMs);
      const fill = steady.reduce((n, s) => n + s.used, 0) / steady.length / budget.requests;
      return { results, wallMs, fill, throttled: em.counters.throttled, tags: workers.map((_, i) => `${tag}w${i}`) };
    };

    const without = await measure('alone', false);
    const shared = await measure('fleet', true);

    const report = {
      without: { throttled: without.throttled, wallMs: without.wallMs, fill: +without.fill.toFixed(3) },
      shared: { throttled: shared.throttled, wallMs: shared.wallMs, fill: +shared.fill.toFixed(3) },
    };
    // Without the limiter the fleet meets the limit again and again; the comparison means something.
    expect(without.throttled).toBeGreaterThanOrEqual(20);
    const reduction = 1 - shared.throttled / without.throttled;
    if (process.env.FLEET_REPORT) process.stderr.write(`${JSON.stringify({ ...report, reduction, logs: shared.results.map((r) => r.redisLog) })}\n`);
    // Compared as one object so that a failure shows every figure.
    expect({ ...report, fewer429s: reduction >= 0.9, throughput: shared.fill >= 0.9 }).toEqual({ ...report, fewer429s: true, throughput: true });
    // And the work is done no later than without the limiter (which loses time to Retry-After pauses).
    expect(shared.wallMs).toBeLessThan(without.wallMs * 1.1);
    // Each worker's own count of 429s agrees with the emulator's.
    expect(shared.results.reduce((n, r) => n + r.throttled, 0)).toBe(shared.throttled);

    for (const m of [without, shared]) {
      for (const [i, r] of m.results.entries()) {
        expect({ tag: m.tags[i], created: r.created, failures: r.failures, ...rowsOf(m.tags[i]) }).toEqual({ tag: m.tags[i], created: rows, failures: [], rows, distinct: rows });
      }
    }
    for (const r of shared.results) expect(r.redisLog).toEqual([]);
  });

  it('after kill -9 of a worker, the others reach the full fleet concurrency again within the lease time', async () => {
    const leaseInMs = 1_500;
    // Every request takes 250 ms; the service allows 8 at once for the user, and so does the fleet.
    em.setServiceProtection({ maxRequests: 1_000_000, windowInMs: 60_000, maxConcurrent: 8 });
    em.setLatency(250);
    em.resetCounters();
    const tag = `kill${++run}`;
    const workers = await fleet((i) => task({ rows: 100_000, tag: `${tag}w${i}`, redisUrl: server.url, throttle: { leaseInMs, maxConcurrency: 8, keyPrefix: `${tag}:` }, progressEveryInMs: 10 }));
    const inFlight = () => em.serviceProtectionUsage().reduce((n, u) => n + u.inFlight, 0);

    // The fleet fills the 8 slots between its four processes.
    const filledBy = Date.now() + 10_000;
    while (inFlight() < 8) {
      if (Date.now() > filledBy) throw new Error(`the fleet never reached 8 requests in flight (at ${inFlight()})`);
      await sleep(10);
    }
    await sleep(600);
    const victim = workers.reduce((a, b) => (b.progress.held > a.progress.held ? b : a));
    const survivors = workers.filter((w) => w !== victim);
    expect(victim.progress.held).toBeGreaterThan(0);
    victim.kill();
    const killedAt = Date.now();
    // A fresh worker takes the dead one's place for the tests after this one.
    const replacement = startFleetWorker();
    pool = pool.map((w) => (w === victim ? replacement : w));

    const samples: Array<{ at: number; service: number; survivors: number }> = [];
    let recoveredAt: number | undefined;
    while (Date.now() - killedAt < leaseInMs + 3_000) {
      const at = Date.now() - killedAt;
      const sample = { at, service: inFlight(), survivors: survivors.reduce((n, w) => n + w.progress.held, 0) };
      samples.push(sample);
      // The dead process's requests are gone from the service after its 250 ms latency; from then on
      // every request in flight there is a survivor's.
      if (recoveredAt === undefined && at > 400 && sample.service === 8 && sample.survivors === 8) recoveredAt = at;
      if (recoveredAt !== undefined && at > recoveredAt + 300) break;
      await sleep(10);
    }
    for (const w of survivors) w.stop();
    const results = await Promise.all(survivors.map((w) => w.result()));
    await replacement.loaded;

    // The dead process's slots stayed taken for a while (their leases), then came back.
    expect(Math.min(...samples.filter((s) => s.at > 400 && s.at < 900).map((s) => s.survivors))).toBeLessThan(8);
    expect(recoveredAt).toBeDefined();
    expect(recoveredAt as number).toBeLessThanOrEqual(leaseInMs + 500);
    // Never more than 8 at the service: not one 0x80072326 in the whole run, across four processes.
    expect(em.counters.throttled).toBe(0);
    expect(Math.max(...samples.map((s) => s.service))).toBeLessThanOrEqual(8);
    for (const [i, r] of results.entries()) {
      const t = `${tag}w${workers.indexOf(survivors[i])}`;
      expect({ failures: r.failures, ...rowsOf(t) }).toEqual({ failures: [], rows: r.created, distinct: r.created });
    }
  });

  it('finishes the work when redis-server stops mid-run and starts again, with no request failed and one warning each', async () => {
    const budget = { requests: 120, windowInMs: 2_000 };
    // Enough that every worker still has work when Redis is back (about 4 s after the outage starts, at
    // the budget's 60 rows a second): with 120 each, a worker that drew more of the budget could finish
    // during the outage, never ask Redis again, and stay 'down'.
    const rows = 200;
    em.setServiceProtection({ maxRequests: budget.requests, windowInMs: budget.windowInMs, maxConcurrent: 52 });
    await sleep(budget.windowInMs + 100);
    const tag = `outage${++run}`;
    const prefix = `${tag}:`;
    const workers = await fleet((i) =>
      task({ rows, tag: `${tag}w${i}`, redisUrl: server.url, throttle: { budget, keyPrefix: prefix, retryRedisAfterInMs: 200 }, progressEveryInMs: 20 }),
    );
    // Into the second window (the first 120 went at once), so that the window frees during the outage.
    while (workers.reduce((n, w) => n + w.progress.created, 0) < 140) await sleep(10);
    await server.stop();
    const stoppedAt = Date.now();
    while (!workers.every((w) => w.progress.redis === 'down')) {
      if (Date.now() - stoppedAt > 1_000) throw new Error(`not every worker noticed the outage within 1 s: ${workers.map((w) => w.progress.redis).join(', ')}`);
      await sleep(10);
    }
    const createdDuringOutageStart = workers.reduce((n, w) => n + w.progress.created, 0);
    await sleep(2_000);
    // Work went on without Redis.
    expect(workers.reduce((n, w) => n + w.progress.created, 0)).toBeGreaterThan(createdDuringOutageStart);
    server = await startRedis({ port: server.port });
    const restartedAt = Date.now();
    // Each worker finds Redis again (ioredis reconnects, the limiter's next check succeeds) while it still has work.
    while (!workers.every((w) => w.progress.redis === 'up')) {
      if (Date.now() - restartedAt > 5_000) throw new Error(`not every worker went back to Redis within 5 s: ${workers.map((w) => w.progress.redis).join(', ')}`);
      await sleep(10);
    }
    if (process.env.FLEET_REPORT) process.stderr.write(`outage: down after ${Date.now() - stoppedAt} ms total; up ${Date.now() - restartedAt} ms after restart; created ${workers.map((w) => w.progress.created).join(',')}\n`);
    expect(workers.reduce((n, w) => n + w.progress.created, 0)).toBeLessThan(WORKERS * rows);
    const results: FleetWorkerResult[] = await Promise.all(workers.map((w) => w.result()));

    for (const [i, r] of results.entries()) {
      const t = `${tag}w${i}`;
      expect({ tag: t, created: r.created, failures: r.failures, ...rowsOf(t) }).toEqual({ tag: t, created: rows, failures: [], rows, distinct: rows });
      expect(r.redisLog.map((line) => line.slice(0, 5))).toEqual(['warn:', 'info:']);
      expect(r.redis).toBe('up');
      expect(r.outages).toBe(1);
    }
    // The new, empty redis-server holds the fleet's keys again: the workers went back to it.
    const fresh = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      expect((await fresh.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    } finally {
      fresh.disconnect();
    }
  });

  it('DynamicsService shares its limits through DYNAMICS_REDIS_URL, and keeps Redis to the token cache when told', async () => {
    em.setServiceProtection({ maxRequests: 6000, windowInMs: 300_000, maxConcurrent: 52 });
    const env = { ...em.env(caFile), DYNAMICS_REDIS_URL: server.url };
    // A connection of its own: the redis-server may have been restarted by the test before.
    const look = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const keysOf = async (pattern: string) => (await look.keys(pattern)).length;
    try {
      await look.flushall();
      const service = new DynamicsService({ env });
      try {
        await service.get('api/data/v9.2/WhoAmI', undefined, 'client_credentials');
      } finally {
        await service.close();
      }
      expect(await keysOf('dynamics-odata:throttle:*')).toBeGreaterThan(0);
      expect(await keysOf('dynamics-odata:msal:*')).toBeGreaterThan(0);

      await look.flushall();
      const optedOut = new DynamicsService({ env: { ...env, DYNAMICS_REDIS_THROTTLE: 'false' } });
      try {
        await optedOut.get('api/data/v9.2/WhoAmI', undefined, 'client_credentials');
      } finally {
        await optedOut.close();
      }
      expect(await keysOf('dynamics-odata:throttle:*')).toBe(0);
      expect(await keysOf('dynamics-odata:msal:*')).toBeGreaterThan(0);
    } finally {
      look.disconnect();
    }
  });
});
