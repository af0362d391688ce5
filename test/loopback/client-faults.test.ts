/**
 * The pipeline under faults, against the emulator with the real MsalTokenProvider and axios: a 429
 * storm from the per-user budget, a 401 mid-stream, HTML 502s, resets, 503s, aborts and timeouts
 * during retry waits, and no token in any error or log line.
 */
import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { MsalTokenProvider } from '../../src/auth/MsalTokenProvider';
import type { AccessToken, TokenProvider } from '../../src/auth/types';
import { DynamicsError, NetworkError, ThrottledError, TimeoutError } from '../../src/errors';
import type { Logger } from '../../src/logger';

let emulator: Emulator;
let client: DynamicsClient;
let observedProvider: TokenProvider;
/** The application user the emulator answers WhoAmI with, from a call before any fault. */
let userId: string;
/** Every token the client was handed, to prove none leaks. */
const issued: string[] = [];
const logLines: string[] = [];

const logger: Logger = {
  error: (m, meta) => logLines.push(`${m} ${JSON.stringify(meta)}`),
  warn: (m, meta) => logLines.push(`${m} ${JSON.stringify(meta)}`),
  info: (m, meta) => logLines.push(`${m} ${JSON.stringify(meta)}`),
  debug: (m, meta) => logLines.push(`${m} ${JSON.stringify(meta)}`),
};

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  const msal = new MsalTokenProvider({
    tokenUrl: emulator.tokenUrl,
    clientId: emulator.client.clientId,
    clientSecret: emulator.client.clientSecret,
    resource: emulator.url,
    ca: emulator.caPem,
  });
  // The real provider, observed: records the tokens it hands out.
  const observed: TokenProvider = {
    async getToken(options): Promise<AccessToken> {
      const token = await msal.getToken(options);
      issued.push(token.token);
      return token;
    },
  };
  observedProvider = observed;
  client = new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: observed, logger });
  userId = (await client.callFunction<{ UserId: string }>('WhoAmI')).UserId;
  expect(userId).toMatch(/^[0-9a-f-]{36}$/);
});

afterEach(() => {
  emulator.clearFaults();
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

function expectNoToken(value: unknown): void {
  const text = [inspect(value, { showHidden: true, depth: null }), JSON.stringify(value), String((value as Error)?.stack ?? '')].join('\n');
  for (const token of issued) expect(text).not.toContain(token);
  expect(text).not.toMatch(/Bearer\s+ey/);
  expect(text).not.toContain(emulator.client.clientSecret);
}

/** Requests that reached the emulator: answered by the Web API or by an injected fault. */
function attempts(): number {
  const c = emulator.counters as typeof emulator.counters & { faultedRequests?: number };
  return c.apiRequestsTotal + (c.faultedRequests ?? 0);
}

/** A client of its own (its own throttle pause), on the same observed MSAL provider. */
function freshClient(): DynamicsClient {
  return new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: observedProvider, logger });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

describe('429 storm from the per-user budget', () => {
  afterAll(() => emulator.setServiceProtection({ maxRequests: 6000, windowInMs: 300_000 }));

  it('every create succeeds exactly once, however often the service says 429', async () => {
    emulator.setServiceProtection({ maxRequests: 25, windowInMs: 1_000 });
    const before = emulator.counters.throttled;
    const prefix = `STORM-${randomUUID().slice(0, 8)}-`;
    const n = 120;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => client.create('accounts', { name: `storm ${i}`, accountnumber: `${prefix}${i}` })));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const stored = emulator.store.rows('accounts').filter((r) => String(r.accountnumber ?? '').startsWith(prefix));
    expect(stored).toHaveLength(n);
    expect(new Set(stored.map((r) => r.accountnumber)).size).toBe(n);
    // The storm really happened.
    expect(emulator.counters.throttled - before).toBeGreaterThan(0);
    expectNoToken(logLines);
  }, 60_000);
});

describe('401 mid-stream', () => {
  it('costs exactly one token refresh, shared by the requests in flight', async () => {
    await client.callFunction('WhoAmI');
    emulator.resetCounters();
    emulator.injectFault({ route: 'api', fault: { status: 401 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => client.callFunction<{ UserId: string }>('WhoAmI')));
    expect(new Set(results.map((r) => r.UserId))).toEqual(new Set([userId]));
    expect(emulator.counters.tokenRequestsTotal).toBe(1);
  });

  it('a 401 that persists becomes an AuthenticationError without the token', async () => {
    emulator.injectFault({ route: 'api', fault: { status: 401 }, count: 2 });
    const error = await client.callFunction('WhoAmI').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AuthenticationError', status: 401 });
    expectNoToken(error);
  });
});

describe('HTML 502', () => {
  it('a GET is retried and succeeds', async () => {
    emulator.resetCounters();
    emulator.injectFault({ route: 'api', fault: { status: 502, html: true } });
    const who = await client.callFunction<{ UserId: string }>('WhoAmI');
    expect(who.UserId).toBe(userId);
    expect(attempts()).toBe(2);
  });

  it('a create is not retried: a clean malformed_response error, no duplicate, no token', async () => {
    const accountnumber = `H502-${randomUUID().slice(0, 8)}`;
    emulator.injectFault({ route: { method: 'POST', path: /\/accounts$/ }, fault: { status: 502, html: true } });
    const error = (await client.create('accounts', { name: '502', accountnumber }).catch((e: unknown) => e)) as DynamicsError;
    expect(error).toBeInstanceOf(DynamicsError);
    expect(error.code).toBe('malformed_response');
    expect(error.status).toBe(502);
    expect(error.request).toEqual({ method: 'POST', url: `${emulator.apiUrl}/accounts` });
    expect(error.message).not.toMatch(/<html/i);
    expectNoToken(error);
    expect(emulator.store.rows('accounts').filter((r) => r.accountnumber === accountnumber)).toHaveLength(0);
  });

  it('a GET that keeps failing ends with the 502 error after maxRetries', async () => {
    const few = new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: { getToken: () => Promise.resolve({ token: issued[issued.length - 1], expiresOnTimestamp: Date.now() + 600_000 }) }, maxRetries: 1 });
    try {
      emulator.injectFault({ route: 'api', fault: { status: 502, html: true }, count: 2 });
      const error = await few.callFunction('WhoAmI').catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 502, code: 'malformed_response' });
      expectNoToken(error);
    } finally {
      few.close();
    }
  });
});

describe('resets and 503', () => {
  it('a reset GET is retried; a reset create is a NetworkError and not re-sent', async () => {
    emulator.resetCounters();
    emulator.injectFault({ route: 'api', fault: { reset: true } });
    await expect(client.callFunction('WhoAmI')).resolves.toEqual(expect.objectContaining({ UserId: userId }));
    expect(attempts()).toBe(2);
    emulator.resetCounters();
    emulator.injectFault({ route: { method: 'POST', path: /\/accounts$/ }, fault: { reset: true } });
    const error = await client.create('accounts', { name: 'reset' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(attempts()).toBe(1);
    expectNoToken(error);
  });

  it('a create answered 503 + Retry-After is re-sent (it was not processed) and lands once', async () => {
    const accountnumber = `S503-${randomUUID().slice(0, 8)}`;
    emulator.injectFault({ route: { method: 'POST', path: /\/accounts$/ }, fault: { status: 503, retryAfterSeconds: 1 } });
    await client.create('accounts', { name: '503', accountnumber });
    expect(emulator.store.rows('accounts').filter((r) => r.accountnumber === accountnumber)).toHaveLength(1);
  });

  it('createOnly upsert with a client-generated id is the retry-safe create: re-sent after a 504, one record', async () => {
    const id = randomUUID();
    emulator.injectFault({ route: { method: 'PATCH', path: /\/accounts\(/ }, fault: { status: 504 } });
    await expect(client.upsert('accounts', id, { name: 'safe create' }, { mode: 'createOnly' })).resolves.toBe(id);
    expect(emulator.store.rows('accounts').filter((r) => r.accountid === id)).toHaveLength(1);
  });
});

describe('abort and timeout during retry waits', () => {
  it('an abort during the wait after a 429 rejects at once', async () => {
    const own = freshClient();
    try {
      emulator.resetCounters();
      emulator.injectFault({ route: 'api', fault: { status: 429, retryAfterSeconds: 30 } });
      const controller = new AbortController();
      const logged = logLines.length;
      const outcome = own.callFunction('WhoAmI', undefined, { abortSignal: controller.signal }).catch((e: unknown) => e);
      // The retry policy logs before it starts waiting.
      await until(() => logLines.slice(logged).some((l) => l.startsWith('retrying request')));
      controller.abort();
      const error = (await outcome) as DynamicsError;
      expect(error).toBeInstanceOf(DynamicsError);
      expect(error.code).toBe('aborted');
      expect(attempts()).toBe(1);
    } finally {
      own.close();
    }
  }, 10_000);

  it('a Retry-After longer than the time left fails now with ThrottledError instead of waiting', async () => {
    const own = freshClient();
    try {
      emulator.resetCounters();
      emulator.injectFault({ route: 'api', fault: { status: 429, retryAfterSeconds: 30 } });
      const error = (await own.callFunction('WhoAmI', undefined, { timeoutInMs: 2_000 }).catch((e: unknown) => e)) as ThrottledError;
      expect(error).toBeInstanceOf(ThrottledError);
      expect(error.retryAfterInMs).toBe(30_000);
      expect(attempts()).toBe(1);
      // The pause is client-wide: another call on this client with less time left times out instead of stampeding.
      const blocked = await own.callFunction('WhoAmI', undefined, { timeoutInMs: 200 }).catch((e: unknown) => e);
      expect(blocked).toBeInstanceOf(TimeoutError);
      expect(attempts()).toBe(1);
    } finally {
      own.close();
    }
  }, 10_000);

  it('a response slower than timeoutInMs is a TimeoutError', async () => {
    emulator.injectFault({ route: 'api', fault: { delayInMs: 1_000 } });
    const error = await client.callFunction('WhoAmI', undefined, { timeoutInMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expectNoToken(error);
  }, 10_000);
});

describe('concurrency', () => {
  it('follows the x-ms-dop-hint and never exceeds the service limit', async () => {
    emulator.setServiceProtection({ maxConcurrent: 8 });
    try {
      const before = emulator.counters.throttled;
      await Promise.all(Array.from({ length: 60 }, () => client.callFunction('WhoAmI')));
      // Above the hint the emulator would refuse with the concurrency code.
      expect(emulator.counters.throttled).toBe(before);
    } finally {
      emulator.setServiceProtection({ maxConcurrent: 52 });
    }
  });
});

describe('logs', () => {
  // Runs last: by now the client has logged retries, refreshes, throttling, resets and timeouts.
  it('no log line of the whole run carries a token or the client secret', () => {
    expect(logLines.length).toBeGreaterThan(10);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expectNoToken(logLines);
  });
});
