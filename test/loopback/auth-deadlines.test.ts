/**
 * Token acquisition honours each caller's deadline and abort, and has its own deadline (issue 11,
 * item 8, the provider side), against a hostile Entra on loopback whose token endpoint holds its
 * answer until the test releases it, or trickles it one byte a second.
 */
import { MsalTokenProvider, type MsalTokenProviderOptions } from '../../src/auth';
import { DynamicsError, TimeoutError } from '../../src/errors';
import { entraToken, misbehave, startHostileEntra, type HostileEntra } from '../helpers/hostile';

const CLIENT = { clientId: '1d1d1d1d-2222-4333-8444-555555555555', clientSecret: 'hostile-entra-secret-0123456789' };

let entra: HostileEntra;
const providers: MsalTokenProvider[] = [];
beforeAll(async () => {
  entra = await startHostileEntra();
});
afterAll(async () => {
  for (const p of providers) p.close();
  await entra.close();
});

function provider(extra: Partial<MsalTokenProviderOptions> = {}): MsalTokenProvider {
  const p = new MsalTokenProvider({ tokenUrl: entra.tokenUrl, ca: entra.caPem, ...CLIENT, resource: 'https://contoso.crm.dynamics.com', retry: { maxRetries: 0 }, ...extra });
  providers.push(p);
  return p;
}

/** Holds every token request until `release()`; counts the ones whose connection the client closed. */
function holdTokenRequests(): { release(): void; held(): number; abandoned(): number } {
  const waiting: Array<() => void> = [];
  let abandoned = 0;
  entra.onToken(
    (_req, res) =>
      new Promise<void>((resolve) => {
        let answered = false;
        res.on('close', () => {
          if (!answered) abandoned++;
          resolve();
        });
        waiting.push(() => {
          answered = true;
          entraToken(res);
          resolve();
        });
      }),
  );
  return { release: () => waiting.splice(0).forEach((answer) => answer()), held: () => waiting.length, abandoned: () => abandoned };
}

/** How `promise` settled within `ms`, or `pending`: a wait the code failed to end shows as such, not as a test timeout. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ state: 'resolved'; value: T } | { state: 'rejected'; error: unknown } | { state: 'pending' }> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<{ state: 'pending' }>((r) => (timer = setTimeout(() => r({ state: 'pending' }), ms)));
  const outcome = await Promise.race([promise.then((value) => ({ state: 'resolved' as const, value }), (error: unknown) => ({ state: 'rejected' as const, error })), pending]);
  clearTimeout(timer);
  return outcome;
}

const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

beforeEach(() => entra.onToken((_req, res) => entraToken(res)));

it("a caller's timeoutInMs ends its wait with a TimeoutError; the shared token request goes on for the others", async () => {
  const hold = holdTokenRequests();
  const p = provider();
  const before = entra.tokenRequests();
  const impatient = p.getToken({ timeoutInMs: 300 });
  await until(() => hold.held() === 1);
  const patient = p.getToken();
  const outcome = await within(impatient, 5000);
  expect(outcome.state).toBe('rejected');
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/Waited 300 ms \(timeoutInMs\) for the token/) });
  // The request is still held, not abandoned: the patient caller gets its answer.
  expect({ held: hold.held(), abandoned: hold.abandoned() }).toEqual({ held: 1, abandoned: 0 });
  hold.release();
  expect((await patient).token).toMatch(/^hostile-entra-token-/);
  expect(entra.tokenRequests() - before).toBe(1);
});

it("one caller's abort ends its wait only: the shared request is not aborted for the others", async () => {
  const hold = holdTokenRequests();
  const p = provider();
  const controller = new AbortController();
  const before = entra.tokenRequests();
  const aborting = p.getToken({ abortSignal: controller.signal });
  const other = p.getToken();
  await until(() => hold.held() === 1);
  controller.abort();
  const outcome = await within(aborting, 2000);
  expect(outcome.state).toBe('rejected');
  expect((outcome as { error: unknown }).error).toMatchObject({ code: 'aborted' });
  await new Promise((r) => setTimeout(r, 100));
  expect({ held: hold.held(), abandoned: hold.abandoned() }).toEqual({ held: 1, abandoned: 0 });
  hold.release();
  expect((await other).token).toMatch(/^hostile-entra-token-/);
  expect(entra.tokenRequests() - before).toBe(1);
});

it("a later caller's abort is honoured while an earlier caller's request runs", async () => {
  const hold = holdTokenRequests();
  const p = provider();
  const first = p.getToken();
  await until(() => hold.held() === 1);
  const controller = new AbortController();
  const later = p.getToken({ abortSignal: controller.signal });
  controller.abort();
  const outcome = await within(later, 2000);
  expect(outcome.state).toBe('rejected');
  expect((outcome as { error: unknown }).error).toBeInstanceOf(DynamicsError);
  expect((outcome as { error: DynamicsError }).error.code).toBe('aborted');
  hold.release();
  expect((await first).token).toMatch(/^hostile-entra-token-/);
});

it('the shared acquisition has its own deadline: every waiting caller gets a TimeoutError, the request is abandoned, the next call starts afresh', async () => {
  const hold = holdTokenRequests();
  const p = provider({ acquisitionTimeoutInMs: 800 });
  const before = entra.tokenRequests();
  const callers = [p.getToken(), p.getToken(), p.getTokenSet()];
  const outcomes = await Promise.all(callers.map((c) => within(c as Promise<unknown>, 8000)));
  for (const outcome of outcomes) {
    expect(outcome.state).toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/did not complete within acquisitionTimeoutInMs \(800 ms\)/) });
  }
  // The held request was given up (its connection closed), not left running.
  await until(() => hold.abandoned() === 1);
  expect(entra.tokenRequests() - before).toBe(1);
  // The slot is free: a new call makes a new request, which succeeds.
  entra.onToken((_req, res) => entraToken(res));
  expect((await p.getToken()).token).toMatch(/^hostile-entra-token-/);
  expect(entra.tokenRequests() - before).toBe(2);
});

it('a token endpoint that trickles one byte a second times out at timeoutInMs, however long the body', async () => {
  entra.onToken((_req, res) => misbehave.trickle(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ token_type: 'Bearer', expires_in: 3599, access_token: 'x'.repeat(100) }), { bytesPerTick: 1, intervalInMs: 1000 }));
  const p = provider({ timeoutInMs: 1500 });
  const outcome = await within(p.getToken(), 8000);
  expect(outcome.state).toBe('rejected');
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ code: 'timeout', message: expect.stringMatching(/POST https:\/\/127\.0\.0\.1:\d+\/.*\/oauth2\/v2\.0\/token timed out after 1500 ms/) });
});

it('retries stop at the acquisition deadline: no retry is started that could not finish', async () => {
  entra.onToken((_req, res) => misbehave.trickle(res, 200, { 'Content-Type': 'application/json' }, '{"access_token":"never"}', { intervalInMs: 1000 }));
  const p = provider({ timeoutInMs: 700, acquisitionTimeoutInMs: 2500, retry: { maxRetries: 5, retryDelayInMs: 5000 } });
  const before = entra.tokenRequests();
  const outcome = await within(p.getToken(), 8000);
  expect(outcome.state).toBe('rejected');
  expect((outcome as { error: unknown }).error).toBeInstanceOf(TimeoutError);
  // One attempt: the backoff before a second one would have passed the acquisition's deadline.
  expect(entra.tokenRequests() - before).toBe(1);
});

it('refuses a per-call timeoutInMs a timer cannot hold, naming it', async () => {
  const p = provider();
  for (const bad of [0, -1, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
    const err = await p.getToken({ timeoutInMs: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamicsError);
    expect(err).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^getToken options\.timeoutInMs: expected a whole number of milliseconds from 1 to 2147483647/) });
  }
  expect((await p.getToken({ timeoutInMs: 2 ** 31 - 1 })).token).toMatch(/^hostile-entra-token-/);
});

describe('a 200 from the token endpoint that cannot be used is malformed_response, never a raw error or a bad token', () => {
  it.each([
    ['an expires_in MSAL cannot turn into a date', { token_type: 'Bearer', expires_in: 1e20, access_token: 'a' }, /expires_in is not a whole number of seconds/],
    ['a negative expires_in', { token_type: 'Bearer', expires_in: -5, access_token: 'a' }, /expires_in is not a whole number of seconds/],
    ['an expires_in that is not a number', { token_type: 'Bearer', expires_in: 'soon', access_token: 'a' }, /expires_in is not a whole number of seconds/],
    ['an access_token that is a number', { token_type: 'Bearer', expires_in: 3599, access_token: 5 }, /access_token is not a non-empty string/],
    ['an empty access_token', { token_type: 'Bearer', expires_in: 3599, access_token: '' }, /access_token is not a non-empty string/],
    ['a refresh_in MSAL cannot turn into a date', { token_type: 'Bearer', expires_in: 3599, refresh_in: 1e20, access_token: 'a' }, /refresh_in is not a whole number of seconds/],
  ])('%s', async (_what, body, message) => {
    entra.onToken((_req, res) => misbehave.json(res, 200, body));
    const err = await provider().getToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamicsError);
    expect({ name: (err as Error).name, code: (err as DynamicsError).code, message: (err as Error).message }).toEqual({
      name: 'AuthenticationError',
      code: 'malformed_response',
      message: expect.stringMatching(message),
    });
  });

  it('accepts the v1 endpoint\'s numbers as strings', async () => {
    entra.onToken((_req, res) => misbehave.json(res, 200, { token_type: 'Bearer', expires_in: '3599', ext_expires_in: '3599', expires_on: String(Math.floor(Date.now() / 1000) + 3599), access_token: 'v1-token' }));
    expect((await provider().getToken()).token).toBe('v1-token');
  });
});
