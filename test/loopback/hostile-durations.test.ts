/**
 * Item 7 of issue 11, where durations are accepted: node's timers fire a delay above 2^31-1 ms
 * (about 24.8 days) at once, so `timeoutInMs: 2 ** 31` or `Number.MAX_SAFE_INTEGER` ("no timeout")
 * made every call fail within milliseconds. Such values are refused, naming the option and the
 * maximum, by the client's options, a call's options, and DynamicsService's; a Retry-After far in the
 * future is never waited for. (The waits themselves are clamped: test/unit/http/durations.test.ts.)
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { ConfigurationError, DynamicsError, ErrorCode, ThrottledError } from '../../src/errors';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

let server: HostileServer;

beforeAll(async () => {
  server = await startHostileServer((_req, res) => misbehave.json(res, 200, { value: [] }));
});

afterAll(async () => {
  await server?.close();
});

const TOO_LONG = [2 ** 31, Number.MAX_SAFE_INTEGER, Infinity];

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('client options', () => {
  it.each(TOO_LONG)('timeoutInMs %p is refused, naming the maximum', (value) => {
    const error = thrown(() => new DynamicsClient({ url: server.origin, auth: staticToken(), timeoutInMs: value }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/timeoutInMs/);
    expect(error.message).toContain('2147483647 ms (about 24.8 days');
  });

  it.each(TOO_LONG)('maxRetryAfterInMs %p is refused', (value) => {
    const error = thrown(() => new DynamicsClient({ url: server.origin, auth: staticToken(), maxRetryAfterInMs: value }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/maxRetryAfterInMs/);
  });

  it('the maximum itself works: a call with timeoutInMs 2147483647 succeeds', async () => {
    const client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), timeoutInMs: 2 ** 31 - 1, maxRetryAfterInMs: 2 ** 31 - 1 });
    try {
      await expect(client.list('accounts').byPage().next()).resolves.toMatchObject({ done: false });
    } finally {
      client.close();
    }
  });
});

describe('per-call options', () => {
  let client: DynamicsClient;
  beforeAll(() => {
    client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
  });
  afterAll(() => client.close());

  it.each(TOO_LONG)('timeoutInMs %p is refused before anything is sent', async (value) => {
    const before = server.seen.length;
    const error = (await client.request('GET', 'accounts', undefined, { timeoutInMs: value }).catch((e: unknown) => e)) as DynamicsError;
    expect(error).toBeInstanceOf(DynamicsError);
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^options\.timeoutInMs: expected a number of milliseconds > 0 and at most 2147483647 ms/);
    expect(server.seen.length).toBe(before);
  });

  it('a Retry-After of 30 years is not waited for: the call fails at once with ThrottledError', async () => {
    const patient = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxRetryAfterInMs: 2 ** 31 - 1, timeoutInMs: 2 ** 31 - 1 });
    try {
      server.on((_req, res) => misbehave.json(res, 429, { error: { code: '0x80072322', message: 'slow down' } }, { 'Retry-After': String(30 * 365 * 86_400) }));
      const before = server.seen.length;
      const error = await patient.callFunction('WhoAmI').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ThrottledError);
      expect(server.seen.length).toBe(before + 1);
    } finally {
      patient.close();
      server.on((_req, res) => misbehave.json(res, 200, { value: [] }));
    }
  });
});
