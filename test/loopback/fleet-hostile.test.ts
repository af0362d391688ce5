/**
 * redisThrottle against a Redis that misbehaves: slow (a TCP proxy that holds every byte), silent,
 * unreachable, answering garbage bytes, answers of the wrong shape, or errors. The client's requests
 * must all succeed, none may wait on the limiter much longer than `redisTimeoutInMs`, each outage is
 * logged once (and its end once), nothing secret is logged, and the limiter goes back to Redis when it
 * behaves again. Also: a limiter that never answers cannot hold a request past its timeout.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import Redis from 'ioredis';
import { DynamicsClient, TimeoutError, redisThrottle, type FleetThrottle, type Logger, type RedisThrottle } from '../../src';
import type { Emulator } from '../../src/emulator';
import { appToken, startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';

const describeRedis = describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not on PATH (.ci/run installs it with apt)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIS_PASSWORD = 'redis-pa55word-never-logged';

interface Proxy {
  port: number;
  /** Holds every chunk this long before passing it on (0: none). */
  delayInMs: number;
  close(): Promise<void>;
}

/** A TCP proxy to `targetPort` that can hold what passes through it, in order. */
async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const proxy: Proxy = { port: 0, delayInMs: 0, close: async () => undefined };
  const pipe = (from: Socket, to: Socket) => {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const delay = proxy.delayInMs;
      chain = chain.then(() => (delay > 0 ? sleep(delay) : undefined)).then(() => void (to.destroyed ? undefined : to.write(chunk)));
    });
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.port = (server.address() as { port: number }).port;
  proxy.close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return proxy;
}

/** The RESP commands (arrays of bulk strings) complete in `buffer`, and what is left of it. */
function splitCommands(buffer: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let at = 0;
  const line = (from: number): { text: string; next: number } | undefined => {
    const end = buffer.indexOf('\r\n', from);
    return end === -1 ? undefined : { text: buffer.toString('latin1', from, end), next: end + 2 };
  };
  for (;;) {
    const head = line(at);
    if (head === undefined || !head.text.startsWith('*')) break;
    const parts: string[] = [];
    let next = head.next;
    for (let i = 0; i < Number(head.text.slice(1)); i++) {
      const size = line(next);
      if (size === undefined || next + size.text.length + 2 + Number(size.text.slice(1)) + 2 > buffer.length) return { commands, rest: buffer.subarray(at) };
      next = size.next + Number(size.text.slice(1));
      parts.push(buffer.toString('latin1', size.next, next));
      next += 2;
    }
    commands.push(parts);
    at = next;
  }
  return { commands, rest: buffer.subarray(at) };
}

/**
 * A TCP server on loopback standing in for Redis. With `ready`, it answers what ioredis sends to open
 * a connection (HELLO, AUTH, CLIENT SETINFO, the ready check's INFO) as a Redis 5 would, so that the connection opens, and then
 * every other command with `reply`; without, it answers every chunk with `reply` (or nothing), and
 * the connection never opens.
 */
async function startFakeRedis(reply: Buffer | undefined, ready = false): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const info = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (!ready) {
        if (reply !== undefined) socket.write(reply);
        return;
      }
      const { commands, rest } = splitCommands(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const [name] of commands) {
        const command = name?.toUpperCase();
        // A Redis older than 6 (no RESP3): ioredis falls back from HELLO to AUTH.
        if (command === 'HELLO') socket.write("-ERR unknown command 'HELLO'\r\n");
        else if (command === 'AUTH' || command === 'CLIENT' || command === 'SELECT') socket.write('+OK\r\n');
        else if (command === 'INFO') socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
        else if (reply !== undefined) socket.write(reply);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    server,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function recordingLogger(withDebug = false): Logger & { lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const log = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return { lines, error: log('error'), warn: log('warn'), info: log('info'), ...(withDebug ? { debug: log('debug') } : {}) };
}

describeRedis('redisThrottle when Redis misbehaves', () => {
  let em: Emulator;
  let server: TestRedis;
  let token: string | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    [em, server] = await Promise.all([startTestEmulator(), startRedis()]);
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    expect(unhandled).toEqual([]);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await Promise.all([em.close(), server.stop()]);
  });

  /** A client of the emulator limited by `throttle`, its token captured to check the logs against. */
  function clientWith(throttle: FleetThrottle, extra: { timeoutInMs?: number } = {}): DynamicsClient {
    const client = new DynamicsClient({
      url: em.url,
      ca: em.caPem,
      // A real token from the emulator's Entra ID, fetched once (and checked against the logs).
      auth: { getToken: async () => ({ token: (token ??= await appToken(em)), expiresOnTimestamp: Date.now() + 3_600_000 }) },
      throttle,
      ...extra,
    });
    cleanups.push(() => client.close());
    return client;
  }

  /** The connection behind each throttle made by throttleOn, to wait for it where Redis works. */
  const connections = new Map<RedisThrottle, Redis>();

  /** Resolves once the throttle's connection to a working Redis is open (before, the throttle keeps to local limits). */
  async function connected(throttle: RedisThrottle): Promise<void> {
    await connections.get(throttle)?.ping();
  }

  function throttleOn(redisUrl: string, logger: Logger, extra: Partial<Parameters<typeof redisThrottle>[0]> = {}): RedisThrottle {
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 500 });
    connection.on('error', () => undefined);
    const throttle = redisThrottle({ redis: connection, logger, keyPrefix: `hostile${Math.random().toString(36).slice(2)}:`, retryRedisAfterInMs: 200, ...extra });
    cleanups.push(() => connection.disconnect());
    cleanups.push(() => throttle.close());
    connections.set(throttle, connection);
    cleanups.push(() => connections.delete(throttle));
    return throttle;
  }

  /** Runs `count` creates, `concurrency` at a time; returns each one's duration. */
  async function creates(client: DynamicsClient, tag: string, count: number, concurrency = 4): Promise<number[]> {
    const durations: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const n = next++;
          const started = Date.now();
          await client.create('accounts', { name: `${tag}-${n}` });
          durations.push(Date.now() - started);
        }
      }),
    );
    return durations;
  }

  function rowsNamed(tag: string): number {
    return em.store.rows('accounts').filter((r) => String(r.name).startsWith(`${tag}-`)).length;
  }

  /** Waits (up to 3 s) until the logger got a warning. */
  async function warned(logger: ReturnType<typeof recordingLogger>): Promise<void> {
    const by = Date.now() + 3_000;
    while (!logger.lines.some((l) => l.level === 'warn')) {
      if (Date.now() > by) throw new Error(`no warning within 3 s; logged: ${JSON.stringify(logger.lines)}`);
      await sleep(20);
    }
  }

  function expectNothingSecret(logger: ReturnType<typeof recordingLogger>): void {
    const text = JSON.stringify(logger.lines);
    expect(text).not.toContain(REDIS_PASSWORD);
    if (token !== undefined) expect(text).not.toContain(token.slice(-40));
  }

  it('a Redis that turns slow: each process falls back within redisTimeoutInMs, logs once, and goes back when it is quick again', async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const logger = recordingLogger();
    const prefix = `hostile-slow-${Math.random().toString(36).slice(2)}:`;
    const throttle = throttleOn(`redis://127.0.0.1:${proxy.port}`, logger, { keyPrefix: prefix });
    await connected(throttle);
    const client = clientWith(throttle);

    await creates(client, 'slow-before', 10);
    expect(throttle.stats().redis).toBe('up');

    proxy.delayInMs = 1_500;
    const slow = await creates(client, 'slow-during', 20);
    expect(throttle.stats().redis).toBe('down');
    // Well under a second each: the first waited out the 250 ms timeout, the rest went at once.
    expect(Math.max(...slow)).toBeLessThan(800);

    proxy.delayInMs = 0;
    const backBy = Date.now() + 5_000;
    while (throttle.stats().redis !== 'up') {
      if (Date.now() > backBy) throw new Error('the limiter did not go back to Redis within 5 s of it being quick again');
      await sleep(20);
    }
    await creates(client, 'slow-after', 10);
    expect(throttle.stats().scopes[0].held).toBe(0);
    // Slots Redis granted after this process had stopped waiting (orphans) were given back too, in
    // Redis itself, not only left to expire: otherwise the fleet would lose them for a lease.
    const look = new Redis(server.url, { maxRetriesPerRequest: 1 });
    try {
      // Redis drops a sorted set with no member, so no slots key is left when nothing is held; the
      // scope's other keys show the prefix is the one this limiter writes.
      const keys = await look.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys.filter((k) => k.endsWith(':slots'))) expect({ key, held: await look.zcard(key) }).toEqual({ key, held: 0 });
    } finally {
      look.disconnect();
    }

    expect([rowsNamed('slow-before'), rowsNamed('slow-during'), rowsNamed('slow-after')]).toEqual([10, 20, 10]);
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(logger.lines[0].message).toMatch(/^redisThrottle: Redis did not answer in time .* keeps to its own limits/);
    expect(logger.lines[1].message).toMatch(/^redisThrottle: Redis answers again/);
    // The first call to time out names itself: usually an acquire, but the release of the last create
    // before the slowdown may still be on its way when the proxy turns slow (seen once in CI).
    expect(logger.lines[0].meta).toEqual({ error: expect.stringMatching(/^no answer to (acquire|release) within 250 ms$/), retryInMs: 200 });
    expectNothingSecret(logger);
  });

  it('a cold connection is no outage: requests go at once on local limits, nothing is warned, and the fleet takes over when Redis answers', async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    // Every chunk held 300 ms: opening the connection takes several round trips, over a second.
    proxy.delayInMs = 300;
    const logger = recordingLogger(true);
    const prefix = `hostile-cold-${Math.random().toString(36).slice(2)}:`;
    const throttle = throttleOn(`redis://127.0.0.1:${proxy.port}`, logger, { keyPrefix: prefix });
    const client = clientWith(throttle);
    const look = new Redis(server.url, { maxRetriesPerRequest: 1 });
    cleanups.push(() => look.disconnect());

    const cold = await creates(client, 'cold-before', 10);
    expect(Math.max(...cold)).toBeLessThan(800);
    expect(throttle.stats()).toMatchObject({ redis: 'connecting', outages: 0 });
    // Nothing with an effect was sent while the connection opened (an acquire waiting in ioredis's
    // offline queue would take slots when it finally ran): no key of this throttle exists.
    expect(await look.keys(`${prefix}*`)).toEqual([]);

    const upBy = Date.now() + 10_000;
    while (throttle.stats().redis !== 'up') {
      if (Date.now() > upBy) throw new Error(`the limiter did not share the fleet's limits within 10 s; stats ${JSON.stringify(throttle.stats())}`);
      await sleep(20);
    }
    proxy.delayInMs = 0;
    await creates(client, 'cold-after', 10);
    expect(throttle.stats()).toMatchObject({ redis: 'up', outages: 0 });
    // The fleet's limits applied: this throttle's keys exist now, and once the last release (sent on
    // the next turn of the event loop) has arrived, it holds no slot.
    expect((await look.keys(`${prefix}*`)).length).toBeGreaterThan(0);
    const releasedBy = Date.now() + 2_000;
    let held = Infinity;
    while (held > 0 && Date.now() < releasedBy) {
      const slots = (await look.keys(`${prefix}*`)).filter((k) => k.endsWith(':slots'));
      held = (await Promise.all(slots.map((k) => look.zcard(k)))).reduce((a, b) => a + b, 0);
      if (held > 0) await sleep(20);
    }
    expect(held).toBe(0);
    expect([rowsNamed('cold-before'), rowsNamed('cold-after')]).toEqual([10, 10]);
    // No warning and no "answers again": it was never lost. What happened is at debug level.
    expect(logger.lines.map((l) => [l.level, l.message])).toEqual([
      ['debug', expect.stringMatching(/^redisThrottle: the Redis connection is still opening/)],
      ['debug', expect.stringMatching(/^redisThrottle: Redis answers; the fleet shares its limits/)],
    ]);
    expect(logger.lines[0].meta).toEqual({ status: expect.stringMatching(/^(connecting|connect)$/), connectTimeoutInMs: 10_000 });
  });

  it('a lazyConnect connection is opened by the first request, and then shared', async () => {
    const logger = recordingLogger(true);
    const connection = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    connection.on('error', () => undefined);
    cleanups.push(() => connection.disconnect());
    const throttle = redisThrottle({ redis: connection, logger, keyPrefix: `hostile-lazy-${Math.random().toString(36).slice(2)}:` });
    cleanups.push(() => throttle.close());
    expect(connection.status).toBe('wait');
    const client = clientWith(throttle);
    await creates(client, 'lazy', 3, 1);
    const upBy = Date.now() + 5_000;
    while (throttle.stats().redis !== 'up') {
      if (Date.now() > upBy) throw new Error(`a lazyConnect connection was not opened; status ${connection.status}`);
      await sleep(10);
    }
    expect(logger.lines[0]).toMatchObject({ level: 'debug', meta: { status: 'wait' } });
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });

  it('a process that loses Redis keeps to its share of the budget, counting what it sent before the outage', async () => {
    const proxy = await startProxy(server.port);
    cleanups.push(() => proxy.close());
    const logger = recordingLogger();
    // One process: its share is the whole budget, 10 requests per 2 s.
    const throttle = throttleOn(`redis://127.0.0.1:${proxy.port}`, logger, { budget: { requests: 10, windowInMs: 2_000 } });
    await connected(throttle);
    const client = clientWith(throttle);
    const started = Date.now();
    await creates(client, 'share-before', 10);
    proxy.delayInMs = 2_000;
    const during = await creates(client, 'share-during', 3, 1);
    // The budget was spent before Redis went away: the next request waits for the window, not for Redis.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(Math.max(...during)).toBeGreaterThanOrEqual(1_000);
    expect(throttle.stats().redis).toBe('down');
    expect([rowsNamed('share-before'), rowsNamed('share-during')]).toEqual([10, 3]);
    proxy.delayInMs = 0;
  });

  it('a Redis that accepts connections and never answers holds no request, and is an outage after connectTimeoutInMs', async () => {
    const silent = await startFakeRedis(undefined);
    cleanups.push(() => silent.close());
    const logger = recordingLogger();
    // The connection opens (TCP) but never becomes ready: ioredis's ready check is never answered.
    const throttle = throttleOn(`redis://:${REDIS_PASSWORD}@127.0.0.1:${silent.port}`, logger, { redisTimeoutInMs: 100, connectTimeoutInMs: 300 });
    const client = clientWith(throttle);
    const durations = await creates(client, 'silent', 12);
    expect(rowsNamed('silent')).toBe(12);
    expect(Math.max(...durations)).toBeLessThan(600);
    await warned(logger);
    expect(throttle.stats()).toMatchObject({ redis: 'down', outages: 1 });
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(logger.lines[0].meta).toEqual({ error: 'no answer to probe within 300 ms', retryInMs: 200 });
    expectNothingSecret(logger);
  });

  it('an unreachable Redis: requests go at once on local limits, one warning', async () => {
    const closed = await startFakeRedis(undefined);
    const port = closed.port;
    await closed.close();
    const logger = recordingLogger();
    const throttle = throttleOn(`redis://:${REDIS_PASSWORD}@127.0.0.1:${port}`, logger);
    const client = clientWith(throttle);
    await sleep(100);
    const durations = await creates(client, 'refused', 12);
    expect(rowsNamed('refused')).toBe(12);
    expect(Math.max(...durations)).toBeLessThan(600);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(throttle.stats().redis).toBe('down');
    expectNothingSecret(logger);
  });

  it.each([
    ['garbage bytes', Buffer.from('\x00\xffNOT RESP AT ALL\r\n\x07')],
    ['answers of the wrong shape', Buffer.from('$5\r\nhello\r\n')],
    ['an array of the wrong length', Buffer.from('*1\r\n:1\r\n')],
    ['errors', Buffer.from(`-ERR something broke near ${REDIS_PASSWORD}\r\n`)],
    ['numbers that are not integers', Buffer.from('*6\r\n$3\r\nabc\r\n:0\r\n:5\r\n:0\r\n:1\r\n:0\r\n')],
  ])('a "Redis" answering %s: every request succeeds, one warning, nothing secret logged', async (label, reply) => {
    const fake = await startFakeRedis(reply, true);
    cleanups.push(() => fake.close());
    const logger = recordingLogger();
    // The connection opens as Redis's would; then our scripts get these answers.
    const throttle = throttleOn(`redis://:${REDIS_PASSWORD}@127.0.0.1:${fake.port}`, logger);
    const connection = connections.get(throttle) as Redis;
    await new Promise<void>((resolve) => (connection.status === 'ready' ? resolve() : connection.once('ready', () => resolve())));
    const client = clientWith(throttle);
    const tag = `garbage-${label.replace(/\W+/g, '-')}`;
    const durations = await creates(client, tag, 12);
    expect(rowsNamed(tag)).toBe(12);
    expect(Math.max(...durations)).toBeLessThan(800);
    expect(throttle.stats().redis).toBe('down');
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    // The answer failed, not the wait for one: the connection had opened.
    expect(logger.lines[0].meta?.error).not.toMatch(/^no answer/);
    expectNothingSecret(logger);
  });

  it('a limiter that never answers cannot hold a request past its timeoutInMs, and nothing is sent', async () => {
    const stuck: FleetThrottle = {
      acquire: (request) => new Promise((_, reject) => request.abortSignal.addEventListener('abort', () => reject(new Error('given up')))),
      settle: () => undefined,
      close: async () => undefined,
    };
    const client = clientWith(stuck, { timeoutInMs: 400 });
    em.resetCounters();
    const started = Date.now();
    const error = await client.create('accounts', { name: 'never-sent' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/fleet limiter/);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(em.counters.apiRequests['POST /accounts'] ?? 0).toBe(0);
  });

  it('a limiter that throws lets the request go under the client’s own limits', async () => {
    const broken: FleetThrottle = {
      acquire: () => Promise.reject(new TypeError('not today')),
      settle: () => undefined,
      close: async () => undefined,
    };
    const client = clientWith(broken);
    await creates(client, 'broken-limiter', 5, 2);
    expect(rowsNamed('broken-limiter')).toBe(5);
  });
});
