import { inspect } from 'node:util';
import { AuthenticationError } from '../../../src/errors';
import { silentLogger } from '../../../src/logger';
import { parseRetryAfter } from '../../../src/net/retryAfter';
import { bearerTokenPolicy, TOKEN_REFRESH_TIMEOUT_IN_MS, TokenCycler } from '../../../src/http/policies/bearerTokenPolicy';
import { ConcurrencyLimiter, concurrencyPolicy } from '../../../src/http/policies/concurrencyPolicy';
import { retryPolicy } from '../../../src/http/policies/retryPolicy';
import { ThrottleGate, throttlePolicy } from '../../../src/http/policies/throttlePolicy';
import { TransportError, type HttpMethod, type HttpRequest, type HttpResponse, type SendRequest } from '../../../src/http/types';
import type { AccessToken, TokenProvider } from '../../../src/auth/types';

function req(method: HttpMethod = 'GET', extra: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method,
    url: 'https://org.example/api/data/v9.2/accounts',
    headers: {},
    deadline: Date.now() + 600_000,
    retrySafe: method === 'GET' || method === 'PUT' || method === 'DELETE',
    ...extra,
  };
}

function res(status: number, headers: Record<string, string> = {}, body = ''): HttpResponse {
  return { status, headers, body: Buffer.from(body) };
}

/** A stub `next` answering from a script; records every call. */
function script(...answers: Array<HttpResponse | TransportError>): SendRequest & { calls: HttpRequest[] } {
  const calls: HttpRequest[] = [];
  const fn = (async (r: HttpRequest) => {
    calls.push({ ...r, headers: { ...r.headers } });
    const a = answers.length > 1 ? answers.shift() : answers[0];
    if (a instanceof TransportError) throw a;
    return a as HttpResponse;
  }) as SendRequest & { calls: HttpRequest[] };
  fn.calls = calls;
  return fn;
}

const noJitter = () => 0;
const retryOptions = { maxRetries: 3, maxRetryAfterInMs: 60_000, logger: silentLogger, parseRetryAfter, random: noJitter };

/** Lets pending promise callbacks run between fake-timer steps. */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('retryPolicy', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('waits for Retry-After after a 429, pauses the whole client, and re-sends (writes too)', async () => {
    const gate = new ThrottleGate();
    const next = script(res(429, { 'retry-after': '2' }), res(204));
    const policy = retryPolicy(gate, retryOptions);
    const done = policy.sendRequest(req('POST'), next);
    await flush();
    expect(next.calls).toHaveLength(1);
    expect(gate.pausedUntil).toBeGreaterThanOrEqual(Date.now() + 1_999);
    await jest.advanceTimersByTimeAsync(1_900);
    expect(next.calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(200);
    await expect(done).resolves.toMatchObject({ status: 204 });
    expect(next.calls).toHaveLength(2);
  });

  it('reads Retry-After as an HTTP date', async () => {
    const next = script(res(503, { 'retry-after': new Date(Date.now() + 5_000).toUTCString() }), res(200));
    const done = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET'), next);
    await jest.advanceTimersByTimeAsync(4_000);
    expect(next.calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_500);
    await expect(done).resolves.toMatchObject({ status: 200 });
  });

  it('re-sends a GET after an HTML 502 but never a POST', async () => {
    const get = script(res(502, { 'content-type': 'text/html' }, '<html>bad gateway</html>'), res(200));
    const g = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET'), get);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(g).resolves.toMatchObject({ status: 200 });
    expect(get.calls).toHaveLength(2);

    const post = script(res(502), res(204));
    await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('POST'), post)).resolves.toMatchObject({ status: 502 });
    expect(post.calls).toHaveLength(1);
  });

  it('re-sends a PATCH only when it is conditional (retrySafe)', async () => {
    const plain = script(res(504), res(204));
    await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('PATCH', { retrySafe: false }), plain)).resolves.toMatchObject({ status: 504 });
    expect(plain.calls).toHaveLength(1);
    const conditional = script(res(504), res(204));
    const request = req('PATCH', { retrySafe: true });
    const done = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(request, conditional);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(done).resolves.toMatchObject({ status: 204 });
    expect(request.ambiguousRetries).toBe(1);
  });

  it('never re-sends a POST after a reset, but does after connection refused (nothing was sent)', async () => {
    const reset = script(new TransportError('network', 'socket hang up', 'ECONNRESET'), res(204));
    await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('POST'), reset)).rejects.toMatchObject({ errno: 'ECONNRESET' });
    expect(reset.calls).toHaveLength(1);
    const refused = script(new TransportError('network', 'connect ECONNREFUSED', 'ECONNREFUSED'), res(204));
    const request = req('POST');
    const done = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(request, refused);
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(done).resolves.toMatchObject({ status: 204 });
    expect(request.ambiguousRetries).toBeUndefined();
  });

  it('does not retry other statuses (400, 404, 412, 500)', async () => {
    for (const status of [400, 404, 412, 500]) {
      const next = script(res(status), res(200));
      await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET'), next)).resolves.toMatchObject({ status });
      expect(next.calls).toHaveLength(1);
    }
  });

  it('gives the last 429 back after maxRetries re-sends', async () => {
    const next = script(res(429, { 'retry-after': '1' }));
    const done = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET'), next);
    await jest.advanceTimersByTimeAsync(10_000);
    await expect(done).resolves.toMatchObject({ status: 429 });
    expect(next.calls).toHaveLength(4);
  });

  it('does not wait for a Retry-After beyond maxRetryAfterInMs', async () => {
    const next = script(res(429, { 'retry-after': '120' }), res(200));
    await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET'), next)).resolves.toMatchObject({ status: 429 });
    expect(next.calls).toHaveLength(1);
  });

  it('does not start a wait that would pass the deadline', async () => {
    const next = script(res(429, { 'retry-after': '30' }), res(200));
    const request = req('GET', { deadline: Date.now() + 10_000 });
    await expect(retryPolicy(new ThrottleGate(), retryOptions).sendRequest(request, next)).resolves.toMatchObject({ status: 429 });
    expect(next.calls).toHaveLength(1);
  });

  it('an abort during the wait before a retry rejects at once with "aborted"', async () => {
    const controller = new AbortController();
    const next = script(res(429, { 'retry-after': '30' }), res(200));
    const done = retryPolicy(new ThrottleGate(), retryOptions).sendRequest(req('GET', { abortSignal: controller.signal }), next);
    const settled = jest.fn();
    done.then(settled, settled);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(settled).not.toHaveBeenCalled();
    controller.abort();
    await flush();
    await expect(done).rejects.toMatchObject({ kind: 'aborted' });
    expect(next.calls).toHaveLength(1);
  });

  it('adds jitter to Retry-After (at most 10%, at most 1 s)', async () => {
    const next = script(res(429, { 'retry-after': '5' }), res(200));
    const done = retryPolicy(new ThrottleGate(), { ...retryOptions, random: () => 0.999 }).sendRequest(req('GET'), next);
    await jest.advanceTimersByTimeAsync(5_400);
    expect(next.calls).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(200);
    await expect(done).resolves.toMatchObject({ status: 200 });
  });
});

describe('throttlePolicy', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('holds every request until the shared pause ends', async () => {
    const gate = new ThrottleGate();
    gate.pause(3_000);
    const next = script(res(200));
    const policy = throttlePolicy(gate, noJitter);
    const a = policy.sendRequest(req(), next);
    const b = policy.sendRequest(req('POST'), next);
    await jest.advanceTimersByTimeAsync(2_900);
    expect(next.calls).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(200);
    await Promise.all([a, b]);
    expect(next.calls).toHaveLength(2);
  });

  it('a deadline shorter than the pause fails with a timeout when it passes', async () => {
    const gate = new ThrottleGate();
    gate.pause(60_000);
    const next = script(res(200));
    const done = throttlePolicy(gate, noJitter).sendRequest(req('GET', { deadline: Date.now() + 1_000 }), next);
    const check = expect(done).rejects.toMatchObject({ kind: 'timeout' });
    await jest.advanceTimersByTimeAsync(1_100);
    await check;
    expect(next.calls).toHaveLength(0);
  });
});

describe('concurrencyPolicy', () => {
  it('keeps at most `limit` requests in flight and follows x-ms-dop-hint', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let inFlight = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const next: SendRequest = () =>
      new Promise((resolve) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        releases.push(() => {
          inFlight--;
          resolve(res(200, { 'x-ms-dop-hint': '4' }));
        });
      });
    const policy = concurrencyPolicy(limiter, true);
    const all = Array.from({ length: 10 }, () => policy.sendRequest(req(), next));
    await flush();
    expect(inFlight).toBe(2);
    releases.shift()?.();
    await flush();
    // The hint raised the limit to 4.
    expect(limiter.limit).toBe(4);
    expect(inFlight).toBe(4);
    while (releases.length > 0) {
      releases.shift()?.();
      await flush();
    }
    await Promise.all(all);
    expect(peak).toBe(4);
    expect(limiter.inFlight).toBe(0);
  });

  it('a fixed maxConcurrency ignores the hint', async () => {
    const limiter = new ConcurrencyLimiter(3);
    await concurrencyPolicy(limiter, false).sendRequest(req(), script(res(200, { 'x-ms-dop-hint': '50' })));
    expect(limiter.limit).toBe(3);
  });

  it('a queued request that is aborted gives up its place', async () => {
    const limiter = new ConcurrencyLimiter(1);
    let release!: () => void;
    const first = concurrencyPolicy(limiter, false).sendRequest(req(), () => new Promise((r) => (release = () => r(res(200)))));
    const controller = new AbortController();
    const queued = concurrencyPolicy(limiter, false).sendRequest(req('GET', { abortSignal: controller.signal }), script(res(200)));
    controller.abort();
    await expect(queued).rejects.toMatchObject({ kind: 'aborted' });
    release();
    await first;
    expect(limiter.inFlight).toBe(0);
    await expect(concurrencyPolicy(limiter, false).sendRequest(req(), script(res(200)))).resolves.toMatchObject({ status: 200 });
  });
});

describe('bearerTokenPolicy', () => {
  function provider(tokens: string[]): TokenProvider & { calls: Array<{ forceRefresh?: boolean }> } {
    const calls: Array<{ forceRefresh?: boolean }> = [];
    return {
      calls,
      async getToken(options) {
        calls.push({ forceRefresh: options?.forceRefresh });
        const token = tokens[Math.min(calls.length - 1, tokens.length - 1)];
        return { token, expiresOnTimestamp: Date.now() + 3_600_000 } satisfies AccessToken;
      },
    };
  }

  it('asks the provider once and reuses the token', async () => {
    const p = provider(['t1']);
    const policy = bearerTokenPolicy(new TokenCycler(p, silentLogger));
    const next = script(res(200));
    await Promise.all([policy.sendRequest(req(), next), policy.sendRequest(req(), next), policy.sendRequest(req(), next)]);
    await policy.sendRequest(req(), next);
    expect(p.calls).toHaveLength(1);
    expect(next.calls.every((c) => c.headers.Authorization === 'Bearer t1')).toBe(true);
  });

  it('after a 401: one forced refresh and one re-send, shared by concurrent requests', async () => {
    const p = provider(['old', 'new']);
    const policy = bearerTokenPolicy(new TokenCycler(p, silentLogger));
    const next: SendRequest = async (r) => res(r.headers.Authorization === 'Bearer old' ? 401 : 200);
    await policy.sendRequest(req(), next); // caches "old" and sees a 401 → refresh
    const results = await Promise.all(Array.from({ length: 5 }, () => policy.sendRequest(req(), next)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(p.calls).toEqual([{ forceRefresh: false }, { forceRefresh: true }]);
  });

  it('a second 401 is returned (no loop)', async () => {
    const p = provider(['a', 'b', 'c']);
    const next = script(res(401));
    const r = await bearerTokenPolicy(new TokenCycler(p, silentLogger)).sendRequest(req(), next);
    expect(r.status).toBe(401);
    expect(next.calls).toHaveLength(2);
    expect(p.calls).toHaveLength(2);
  });

  it('a provider failure becomes an AuthenticationError carrying no foreign object', async () => {
    const secret = 'S3CRET-VALUE';
    const failing: TokenProvider = {
      async getToken() {
        const e = new Error('token endpoint said no') as Error & { config?: unknown };
        e.config = { headers: { Authorization: `Bearer ${secret}` } };
        throw e;
      },
    };
    const error = await bearerTokenPolicy(new TokenCycler(failing, silentLogger))
      .sendRequest(req(), script(res(200)))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(secret);
  });

  it('refreshes in the background after refreshAfterTimestamp while the old token is still used', async () => {
    let n = 0;
    const calls: number[] = [];
    const p: TokenProvider = {
      async getToken() {
        calls.push(Date.now());
        n++;
        return { token: `t${n}`, expiresOnTimestamp: Date.now() + 3_600_000, refreshAfterTimestamp: Date.now() - 1 };
      },
    };
    const policy = bearerTokenPolicy(new TokenCycler(p, silentLogger));
    const next = script(res(200));
    await policy.sendRequest(req(), next);
    await policy.sendRequest(req(), next);
    await flush();
    expect(next.calls[1].headers.Authorization).toBe('Bearer t1');
    expect(calls.length).toBe(2);
  });
});

describe('TokenCycler: the shared refresh has a deadline of its own', () => {
  it('a provider that never answers fails the refresh after refreshTimeoutInMs, aborts its signal, and the next call asks again', async () => {
    const signals: Array<AbortSignal | undefined> = [];
    const hanging: TokenProvider = {
      getToken(options) {
        signals.push(options?.abortSignal);
        return new Promise(() => undefined);
      },
    };
    const cycler = new TokenCycler(hanging, silentLogger, 100);
    const error = await cycler.get().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'timeout' });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);
    await cycler.get().catch(() => undefined);
    expect(signals).toHaveLength(2);
  });

  it('TOKEN_REFRESH_TIMEOUT_IN_MS is the written-down default', () => {
    expect(TOKEN_REFRESH_TIMEOUT_IN_MS).toBe(120_000);
  });
});
