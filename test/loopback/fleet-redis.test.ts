/**
 * redisThrottle's shared state on a real redis-server, with two or three throttles standing for
 * processes of one fleet: the concurrency limit across them, oldest-first service, leases that free
 * themselves when their process stops renewing them, the shared pause, the smallest dop hint, the
 * budget, the reserve, keys that all expire, and keys someone else broke.
 */
import Redis from 'ioredis';
import { redisThrottle, type FleetTicket, type RedisThrottle } from '../../src';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';

const SCOPE = 'aaaabbbbccccddddeeeeffff00001111';

const describeRedis = describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not on PATH (.ci/run installs it with apt)');

/** An acquire that can be watched: `ticket` is set once granted. */
function ask(throttle: RedisThrottle, scope = SCOPE): { done: Promise<FleetTicket>; ticket?: FleetTicket; controller: AbortController } {
  const controller = new AbortController();
  const handle: { done: Promise<FleetTicket>; ticket?: FleetTicket; controller: AbortController } = { controller, done: undefined as unknown as Promise<FleetTicket> };
  handle.done = throttle.acquire({ scope, abortSignal: controller.signal }).then((t) => (handle.ticket = t));
  handle.done.catch(() => undefined);
  return handle;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describeRedis('redisThrottle on a real redis-server', () => {
  let server: TestRedis;
  let redis: Redis;
  const throttles: RedisThrottle[] = [];
  let prefixCounter = 0;
  let prefix: string;

  const make = (options: Omit<Parameters<typeof redisThrottle>[0], 'redis'> = {}): RedisThrottle => {
    const t = redisThrottle({ redis, keyPrefix: prefix, ...options });
    throttles.push(t);
    return t;
  };

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    // Connected before the first test: a connection still opening when a throttle first calls Redis
    // (slow under a loaded CI machine) is an outage to the throttle, which then keeps to local limits
    // and the test would measure that instead of the shared ones.
    await redis.ping();
  });
  beforeEach(() => {
    prefix = `t${++prefixCounter}:`;
  });
  afterEach(async () => {
    await Promise.all(throttles.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('holds the fleet to maxConcurrency across processes and hands a freed slot to a waiter of another process', async () => {
    const a = make({ maxConcurrency: 3 });
    const b = make({ maxConcurrency: 3 });
    const fromA = [ask(a), ask(a), ask(a)];
    await Promise.all(fromA.map((h) => h.done));
    const fromB = [ask(b), ask(b)];
    await sleep(150);
    expect(fromB.filter((h) => h.ticket).length).toBe(0);
    expect(b.stats().scopes[0]).toMatchObject({ waiting: 2, held: 0, limit: 3 });
    a.settle(fromA[0].ticket!, { status: 204 });
    await until(() => fromB.filter((h) => h.ticket).length === 1);
    await sleep(100);
    expect(fromB.filter((h) => h.ticket).length).toBe(1);
    a.settle(fromA[1].ticket!, { status: 204 });
    await Promise.all(fromB.map((h) => h.done));
    expect(await redis.zcard(`${prefix}{${SCOPE}}:slots`)).toBe(3);
  });

  it('serves waiting requests oldest first across the fleet', async () => {
    const a = make({ maxConcurrency: 1 });
    const b = make({ maxConcurrency: 1 });
    const c = make({ maxConcurrency: 1 });
    const first = ask(a);
    await first.done;
    const fromB = ask(b);
    await sleep(60);
    const fromC = ask(c);
    // Waiting times are compared to the millisecond: a's second request starts clearly later.
    await sleep(30);
    const secondA = ask(a);
    await sleep(60);
    const order: string[] = [];
    for (const [name, h] of [['b', fromB], ['c', fromC], ['a', secondA]] as const) void h.done.then(() => order.push(name));
    a.settle(first.ticket!, {});
    await until(() => order.length === 1);
    // b waited longest; c and a's second request only after it.
    expect(order).toEqual(['b']);
    b.settle(fromB.ticket!, {});
    await until(() => order.length === 2);
    expect(order).toEqual(['b', 'c']);
    c.settle(fromC.ticket!, {});
    await until(() => order.length === 3);
    a.settle(secondA.ticket!, {});
  });

  it('frees the slots of a process that stopped renewing them once their lease runs out, and renews the slots of long requests', async () => {
    // A process that died: two slots in Redis that nobody renews (as a kill -9 leaves them).
    const slots = `${prefix}{${SCOPE}}:slots`;
    const [seconds, micros] = await redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await redis.zadd(slots, now + 600, 'dead:1', now + 600, 'dead:2');
    const alive = make({ maxConcurrency: 3, leaseInMs: 600 });
    const held = ask(alive);
    await held.done;
    const waiting = [ask(alive), ask(alive)];
    await sleep(300);
    expect(waiting.filter((h) => h.ticket).length).toBe(0);
    const started = Date.now();
    await Promise.all(waiting.map((h) => h.done));
    // Within the lease (600 ms from when the dead slots were written), not long after.
    expect(Date.now() - started).toBeLessThan(900);
    // The live process's own slot, held past its lease, was renewed rather than lost.
    await sleep(700);
    expect(await redis.zscore(slots, (held.ticket as unknown as { leaseId: string }).leaseId)).not.toBeNull();
    expect(await redis.zcard(slots)).toBe(3);
  });

  it('makes every process hold new requests for a 429 Retry-After one of them got', async () => {
    const a = make({ maxConcurrency: 10 });
    const b = make({ maxConcurrency: 10 });
    const t = ask(a);
    await t.done;
    a.settle(t.ticket!, { status: 429, retryAfterInMs: 700 });
    await sleep(50);
    const started = Date.now();
    const later = ask(b);
    await later.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(Date.now() - started).toBeLessThan(1200);
    expect(a.stats().scopes[0].pausedUntil).toBe(0);
  });

  it('follows the smallest x-ms-dop-hint any process saw, and a larger one does not raise it', async () => {
    const a = make();
    const b = make({ initialConcurrency: 2 });
    const t = ask(b);
    await t.done;
    expect(b.stats().scopes[0].limit).toBe(2);
    b.settle(t.ticket!, { status: 200, dopHint: 4 });
    await sleep(50);
    const four = [ask(a), ask(a), ask(a), ask(a), ask(a)];
    await until(() => four.filter((h) => h.ticket).length === 4);
    await sleep(100);
    expect(four.filter((h) => h.ticket).length).toBe(4);
    expect(a.stats().scopes[0].limit).toBe(4);
    a.settle(four[0].ticket!, { status: 200, dopHint: 48 });
    await four[4].done;
    const extra = ask(b);
    await sleep(150);
    expect(extra.ticket).toBeUndefined();
    a.settle(four[1].ticket!, { status: 200, dopHint: 3 });
    await sleep(150);
    expect(extra.ticket).toBeUndefined();
    expect(b.stats().scopes[0].limit).toBe(3);
    for (const h of [four[2], four[3], four[4]]) a.settle(h.ticket!, {});
    await extra.done;
  });

  it('spends one budget across processes, then waits for the window to slide', async () => {
    const a = make({ maxConcurrency: 50, budget: { requests: 6, windowInMs: 800 } });
    const b = make({ maxConcurrency: 50, budget: { requests: 6, windowInMs: 800 } });
    const firstA = [ask(a), ask(a), ask(a), ask(a)];
    await Promise.all(firstA.map((h) => h.done));
    for (const h of firstA) a.settle(h.ticket!, { status: 204 });
    const started = Date.now();
    const fromB = [ask(b), ask(b), ask(b), ask(b)];
    await until(() => fromB.filter((h) => h.ticket).length === 2);
    await sleep(200);
    expect(fromB.filter((h) => h.ticket).length).toBe(2);
    await Promise.all(fromB.map((h) => h.done));
    // The last two went once the first requests left the 800 ms window.
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('keeps no more requests in flight than the service says remain once its budget is nearly spent, one at a time for execution time', async () => {
    const a = make({ maxConcurrency: 8 });
    const t = ask(a);
    await t.done;
    a.settle(t.ticket!, { status: 200, burstRemaining: 100, timeRemainingInSeconds: 1200 });
    const u = ask(a);
    await u.done;
    // 3 left of the 100 seen: at most 3 in flight.
    a.settle(u.ticket!, { status: 200, burstRemaining: 3 });
    await sleep(30);
    const next = [ask(a), ask(a), ask(a), ask(a), ask(a)];
    await until(() => next.filter((h) => h.ticket).length === 3);
    await sleep(100);
    expect(next.filter((h) => h.ticket).length).toBe(3);
    expect(a.stats().scopes[0]).toMatchObject({ reserve: true, limit: 3 });
    // The answers say more is left: the fleet opens up again.
    for (const h of next.filter((x) => x.ticket)) a.settle(h.ticket!, { status: 200, burstRemaining: 60 });
    await Promise.all(next.map((h) => h.done));
    expect(a.stats().scopes[0]).toMatchObject({ reserve: false, limit: 8 });
    // Execution time nearly spent (50 of 1,200 s): one at a time, whatever the request budget says.
    for (const h of next.filter((x) => x.ticket)) a.settle(h.ticket!, { status: 200, burstRemaining: 60, timeRemainingInSeconds: 50 });
    await sleep(30);
    const slow = [ask(a), ask(a)];
    await until(() => slow.some((h) => h.ticket));
    await sleep(100);
    expect(slow.filter((h) => h.ticket).length).toBe(1);
    expect(a.stats().scopes[0]).toMatchObject({ reserve: true, limit: 1 });
    for (const h of slow) if (h.ticket) a.settle(h.ticket, { status: 200, timeRemainingInSeconds: 900 });
    await Promise.all(slow.map((h) => h.done));
  });

  it('gives up a waiter whose caller aborts, without losing the slot it would have had', async () => {
    const a = make({ maxConcurrency: 1 });
    const first = ask(a);
    await first.done;
    const abandoned = ask(a);
    const kept = ask(a);
    await sleep(50);
    abandoned.controller.abort(new Error('caller gave up'));
    await expect(abandoned.done).rejects.toThrow('caller gave up');
    a.settle(first.ticket!, {});
    await kept.done;
    expect(a.stats().scopes[0]).toMatchObject({ held: 1, waiting: 0 });
  });

  it('leaves no key without an expiry, and the keys are gone once their time is up', async () => {
    // Its own connection, cut below as a process that dies loses it.
    const own = new Redis(server.url, { maxRetriesPerRequest: 1 });
    await own.ping();
    const a = redisThrottle({ redis: own, keyPrefix: prefix, maxConcurrency: 2, leaseInMs: 200, budget: { requests: 100, windowInMs: 300 } });
    throttles.push(a);
    const tickets = [ask(a), ask(a), ask(a), ask(a)];
    await until(() => tickets.filter((h) => h.ticket).length === 2);
    const [first, second] = tickets.filter((h) => h.ticket);
    a.settle(first.ticket!, { status: 200, dopHint: 8, burstRemaining: 50, timeRemainingInSeconds: 1199.5 });
    a.settle(second.ticket!, { status: 429, retryAfterInMs: 100 });
    await until(() => tickets.filter((h) => h.ticket).length === 4);
    // Two slots held, so every kind of key exists now: slots, log, state, procs (and the waiting line while it waited).
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.map((k) => k.slice(k.lastIndexOf(':') + 1)).sort()).toEqual(expect.arrayContaining(['log', 'procs', 'slots', 'state']));
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect({ key, expires: ttl > 0 }).toEqual({ key, expires: true });
    }
    // A process that vanishes without settling: everything but the state (kept 10 minutes for the dop hint) is gone after two leases.
    own.disconnect();
    await sleep(900);
    expect((await redis.keys(`${prefix}*`)).map((k) => k.slice(k.lastIndexOf(':') + 1))).toEqual(['state']);
    expect(await redis.pttl(`${prefix}{${SCOPE}}:state`)).toBeLessThanOrEqual(600_000);
  });

  it('repairs keys of ours that hold the wrong type or garbage, without giving up on Redis', async () => {
    const k = (s: string) => `${prefix}{${SCOPE}}:${s}`;
    await redis.set(k('slots'), 'not a zset');
    await redis.set(k('wait'), 'nor this');
    await redis.hset(k('log'), 'x', 'a hash where a zset belongs');
    await redis.hset(k('state'), 'pause', 'soon', 'dop', 'NaN', 'dopAt', 'yesterday', 'burst', '-inf', 'burstMax', 'inf');
    await redis.set(k('procs'), '17');
    const warnings: string[] = [];
    const a = make({ budget: { requests: 10, windowInMs: 1000 }, logger: { warn: (m: string) => void warnings.push(m), info: () => undefined, error: () => undefined } });
    const t = ask(a);
    await t.done;
    a.settle(t.ticket!, { status: 200, dopHint: 6 });
    await sleep(50);
    expect(warnings).toEqual([]);
    expect(a.stats().redis).toBe('up');
    expect(await redis.type(k('slots'))).toBe('none');
    expect(await redis.type(k('log'))).toBe('zset');
    expect(await redis.hget(k('state'), 'dop')).toBe('6');
  });
});
