/**
 * Item 7 of issue 11, the pipeline's side: node's `setTimeout` replaces a delay above 2^31-1 ms by
 * 1 ms, so a long wait (a retry wait after a far-off Retry-After, the client-wide pause, a place in
 * the concurrency queue, a wait for a token) must never be armed as is. Each wait below is longer than
 * that; each must still be waiting after a few real milliseconds (on the code before the fix they all
 * ended at once). Real timers: jest's fake timers do not reproduce node's overflow. (The clamp itself:
 * test/unit/net/timers.test.ts.)
 */
import { silentLogger } from '../../../src/logger';
import { parseRetryAfter } from '../../../src/net/retryAfter';
import { TokenCycler } from '../../../src/http/policies/bearerTokenPolicy';
import { ConcurrencyLimiter } from '../../../src/http/policies/concurrencyPolicy';
import { retryPolicy } from '../../../src/http/policies/retryPolicy';
import { ThrottleGate, throttlePolicy } from '../../../src/http/policies/throttlePolicy';
import { waitFor } from '../../../src/http/wait';
import type { HttpRequest, HttpResponse } from '../../../src/http/types';

const LONG = 2 ** 31 + 1_000;

/** Whether `promise` is still pending after `ms` real milliseconds. */
async function pendingAfter(promise: Promise<unknown>, ms = 50): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return !settled;
}

function request(extra: Partial<HttpRequest> = {}): HttpRequest {
  return { method: 'GET', url: 'https://org.example/api/data/v9.2/accounts', headers: {}, deadline: Infinity, retrySafe: true, ...extra };
}

/** A signal to end the waits the tests leave pending (their timers must not outlive the test). */
let stop: AbortController;
beforeEach(() => {
  stop = new AbortController();
});
afterEach(() => stop.abort());

describe('waits longer than 2^31-1 ms still wait', () => {
  it('waitFor (retry waits and the throttle pause)', async () => {
    const wait = waitFor(LONG, { abortSignal: stop.signal, deadline: Infinity }, 'a long wait');
    expect(await pendingAfter(wait)).toBe(true);
  });

  it('waitFor with a deadline past 2^31-1 ms', async () => {
    const wait = waitFor(LONG + 10, { abortSignal: stop.signal, deadline: Date.now() + LONG }, 'a long wait');
    expect(await pendingAfter(wait)).toBe(true);
  });

  it('a place in the concurrency queue whose deadline is past 2^31-1 ms', async () => {
    const limiter = new ConcurrencyLimiter(1);
    expect(limiter.tryAcquire()).toBe(true);
    const queued = limiter.acquire({ abortSignal: stop.signal, deadline: Date.now() + LONG });
    expect(await pendingAfter(queued)).toBe(true);
  });

  it('the client-wide pause after a 429 asking for more than 24.8 days', async () => {
    const gate = new ThrottleGate();
    gate.pause(LONG);
    let sent = 0;
    const held = throttlePolicy(gate, () => 0).sendRequest(request({ abortSignal: stop.signal }), async () => {
      sent++;
      return { status: 200, headers: {}, body: Buffer.alloc(0) };
    });
    expect(await pendingAfter(held)).toBe(true);
    expect(sent).toBe(0);
  });

  it('a retry wait for a Retry-After longer than 2^31-1 ms (maxRetryAfterInMs allowing it) does not re-send at once', async () => {
    let sent = 0;
    const next = async (): Promise<HttpResponse> => {
      sent++;
      return { status: 429, headers: { 'retry-after': String(Math.ceil(LONG / 1000)) }, body: Buffer.alloc(0) };
    };
    const policy = retryPolicy(new ThrottleGate(), { maxRetries: 3, maxRetryAfterInMs: Number.MAX_SAFE_INTEGER, logger: silentLogger, parseRetryAfter, random: () => 0 });
    const call = policy.sendRequest(request({ abortSignal: stop.signal }), next);
    expect(await pendingAfter(call)).toBe(true);
    expect(sent).toBe(1);
  });

  it('a wait for a token whose deadline is past 2^31-1 ms', async () => {
    const cycler = new TokenCycler({ getToken: () => new Promise(() => undefined) }, silentLogger);
    const waiting = cycler.get({ abortSignal: stop.signal, deadline: Date.now() + LONG });
    expect(await pendingAfter(waiting)).toBe(true);
  });
});
