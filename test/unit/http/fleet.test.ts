/**
 * The small pieces of the fleet limiter: reading the rate-limit headers, the caller scope from the
 * token, option checks, and the policy with a stub limiter and a stub transport.
 */
import { inspect } from 'node:util';
import { ConfigurationError, redisThrottle, type FleetOutcome, type FleetThrottle, type FleetTicket } from '../../../src';
import { callerScope, scopeCache } from '../../../src/http/fleet/identity';
import { parseBurstRemaining, parseDopHint, parseTimeRemaining } from '../../../src/http/fleet/rateHeaders';
import { fleetPolicy, observe } from '../../../src/http/policies/fleetPolicy';
import { TransportError, type HttpRequest, type HttpResponse } from '../../../src/http/types';

function jwt(claims: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const OID = '6f1e2d3c-0000-4000-8000-00000000a11d';
const TID = '72f988bf-86f1-41af-91ab-2d7cd011db47';

function request(extra: Partial<HttpRequest> = {}): HttpRequest {
  return { method: 'GET', url: 'https://org.crm.dynamics.com/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${jwt({ oid: OID, tid: TID })}` }, deadline: Infinity, retrySafe: true, ...extra };
}

function response(status: number, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, body: Buffer.alloc(0) };
}

function recorder() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (m: string) => void warnings.push(m), info: () => undefined, error: () => undefined } };
}

describe('rate-limit headers', () => {
  it.each([
    ['1,200.00', 1200],
    ['1,199.97', 1199.97],
    ['12,345,678.5', 12345678.5],
    ['0.00', 0],
    ['1200', 1200],
    ['1.200,00', 1200],
    ['86,5', 86.5],
    [' 7.25 ', 7.25],
  ])('time remaining %j is %d seconds', (text, seconds) => {
    expect(parseTimeRemaining(text)).toBe(seconds);
  });

  it.each([['abc'], [''], ['-1'], ['1,2,3.4.5'], ['1e9'], ['NaN'], ['Infinity'], ['1'.repeat(40)]])('time remaining %j is unreadable', (text) => {
    expect(parseTimeRemaining(text)).toBeUndefined();
  });

  it('reads burst remaining and the dop hint as whole numbers only', () => {
    expect(parseBurstRemaining('5999')).toBe(5999);
    expect(parseBurstRemaining(['7998', '1'])).toBe(7998);
    expect([parseBurstRemaining('-3'), parseBurstRemaining('5.5'), parseBurstRemaining('1e3'), parseBurstRemaining(undefined), parseBurstRemaining('9999999999')]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(parseDopHint('48')).toBe(48);
    expect([parseDopHint('0'), parseDopHint('1001'), parseDopHint('4.5'), parseDopHint('x')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('observe() takes Retry-After from a 429 only, and every header it can read', () => {
    const headers = { 'retry-after': '3', 'x-ms-dop-hint': '48', 'x-ms-ratelimit-burst-remaining-xrm-requests': '5999', 'x-ms-ratelimit-time-remaining-xrm-requests': '1,200.00' };
    expect(observe(response(429, headers))).toEqual({ status: 429, retryAfterInMs: 3000, dopHint: 48, burstRemaining: 5999, timeRemainingInSeconds: 1200 });
    expect(observe(response(503, headers)).retryAfterInMs).toBeUndefined();
    expect(observe(response(200, { 'x-ms-dop-hint': 'lots', 'x-ms-ratelimit-burst-remaining-xrm-requests': 'many' }))).toEqual({ status: 200 });
  });
});

describe('caller scope', () => {
  it('is the same for two tokens of one caller, and differs by host, tenant and caller', () => {
    const a = callerScope('org.crm.dynamics.com', `Bearer ${jwt({ oid: OID, tid: TID, exp: 1 })}`);
    const b = callerScope('ORG.crm.dynamics.com', `Bearer ${jwt({ oid: OID.toUpperCase(), tid: TID, exp: 2, nonce: 'x' })}`);
    expect(a).toEqual({ scope: expect.stringMatching(/^[0-9a-f]{32}$/), identified: true });
    expect(b.scope).toBe(a.scope);
    expect(callerScope('other.crm.dynamics.com', `Bearer ${jwt({ oid: OID, tid: TID })}`).scope).not.toBe(a.scope);
    expect(callerScope('org.crm.dynamics.com', `Bearer ${jwt({ oid: OID, tid: '00000000-0000-0000-0000-000000000001' })}`).scope).not.toBe(a.scope);
    expect(callerScope('org.crm.dynamics.com', `Bearer ${jwt({ oid: '11111111-0000-4000-8000-000000000000', tid: TID })}`).scope).not.toBe(a.scope);
  });

  it('falls back to appid, then to the host alone for a token that is not a JWT', () => {
    expect(callerScope('h', `Bearer ${jwt({ appid: 'app', tid: TID })}`).identified).toBe(true);
    const opaque = callerScope('h', 'Bearer not-a-jwt');
    expect(opaque.identified).toBe(false);
    expect(callerScope('h', undefined).scope).toBe(opaque.scope);
    expect(callerScope('h', `Bearer a.${Buffer.from('[1,2]').toString('base64url')}.c`).identified).toBe(false);
  });

  it('keeps nothing of the token in what it returns, and decodes a token once', () => {
    const token = jwt({ oid: OID, tid: TID });
    const lookup = scopeCache('org.crm.dynamics.com');
    const first = lookup(`Bearer ${token}`);
    expect(lookup(`Bearer ${token}`)).toBe(first);
    expect(JSON.stringify(first) + inspect(first) + inspect(lookup, { showHidden: true })).not.toContain(token.split('.')[1]);
  });
});

describe('redisThrottle options', () => {
  const redis = { eval: async () => [1], evalsha: async () => [1] };

  it('refuses a redis without eval/evalsha with a TypeError', () => {
    expect(() => redisThrottle({ redis: {} as never })).toThrow(TypeError);
    expect(() => redisThrottle({ redis: { get: async () => null } as never })).toThrow(/eval\(\) and evalsha\(\)/);
  });

  it('names every bad option and what was expected', () => {
    let error: unknown;
    try {
      redisThrottle({ redis, maxConcurrency: 0, leaseInMs: 10, reserve: 1, budget: { requests: 0, windowInMs: 1.5 }, keyPrefix: 'a{b}', redisTimeoutInMs: 0, retryRedisAfterInMs: 1, connectTimeoutInMs: 600_001, logger: {} as never, extra: 1 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).issues.map((i) => i.name).sort()).toEqual(
      ['budget.requests', 'budget.windowInMs', 'connectTimeoutInMs', 'extra', 'keyPrefix', 'leaseInMs', 'logger', 'maxConcurrency', 'redisTimeoutInMs', 'reserve', 'retryRedisAfterInMs'].sort(),
    );
    expect((error as Error).message).toMatch(/reserve: expected a fraction from 0 \(off\) to below 1/);
    expect((error as Error).message).toMatch(/connectTimeoutInMs: expected a whole number of milliseconds from 1 to 600000/);
  });

  it('keeps the Redis client out of renderings of the throttle', () => {
    const secretive = { ...redis, options: { password: 'redis-password-123' } };
    const throttle = redisThrottle({ redis: secretive });
    expect(inspect(throttle, { depth: 5, showHidden: true }) + JSON.stringify(throttle)).not.toContain('redis-password-123');
  });
});

/** A limiter whose behaviour each test scripts. */
class StubThrottle implements FleetThrottle {
  settled: Array<{ ticket: FleetTicket; outcome: FleetOutcome }> = [];
  asked: string[] = [];
  constructor(private readonly grant: (signal: AbortSignal) => Promise<FleetTicket>) {}
  acquire(request: { scope: string; abortSignal: AbortSignal }): Promise<FleetTicket> {
    this.asked.push(request.scope);
    return this.grant(request.abortSignal);
  }
  settle(ticket: FleetTicket, outcome: FleetOutcome): void {
    this.settled.push({ ticket, outcome });
  }
  async close(): Promise<void> {}
}

const granted = (scope = 's'): Promise<FleetTicket> => Promise.resolve({ scope });
const never = (signal: AbortSignal): Promise<FleetTicket> => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('given up'))));

describe('fleetPolicy', () => {
  const origin = 'https://org.crm.dynamics.com';

  it('asks before sending, with the scope of the token, and reports the answer once', async () => {
    const throttle = new StubThrottle(() => granted());
    const { logger } = recorder();
    const policy = fleetPolicy(throttle, { origin, logger });
    const res = await policy.sendRequest(request(), async () => response(429, { 'retry-after': '2', 'x-ms-dop-hint': '12' }));
    expect(res.status).toBe(429);
    expect(throttle.asked).toEqual([callerScope('org.crm.dynamics.com', request().headers.Authorization).scope]);
    expect(throttle.settled).toEqual([{ ticket: { scope: 's' }, outcome: { status: 429, retryAfterInMs: 2000, dopHint: 12 } }]);
  });

  it('gives the ticket back when the transport fails, and rethrows the failure', async () => {
    const throttle = new StubThrottle(() => granted());
    const policy = fleetPolicy(throttle, { origin, logger: recorder().logger });
    const failure = new TransportError('network', 'reset', 'ECONNRESET');
    await expect(policy.sendRequest(request(), async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(throttle.settled).toEqual([{ ticket: { scope: 's' }, outcome: {} }]);
  });

  it('sends without the limiter when it fails, warning once', async () => {
    const throttle = new StubThrottle(() => Promise.reject(new Error('boom')));
    const { logger, warnings } = recorder();
    const policy = fleetPolicy(throttle, { origin, logger });
    let sent = 0;
    for (let i = 0; i < 3; i++) expect((await policy.sendRequest(request(), async () => (sent++, response(204)))).status).toBe(204);
    expect(sent).toBe(3);
    expect(throttle.settled).toEqual([]);
    expect(warnings).toEqual(['fleet throttle failed; requests go out under this client’s own limits']);
  });

  it('ends the wait with a timeout at the call deadline, and sends nothing', async () => {
    const throttle = new StubThrottle(never);
    const policy = fleetPolicy(throttle, { origin, logger: recorder().logger });
    let sent = 0;
    const started = Date.now();
    const error = await policy.sendRequest(request({ deadline: Date.now() + 80 }), async () => (sent++, response(204))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).kind).toBe('timeout');
    expect((error as Error).message).toMatch(/fleet limiter/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    expect(sent).toBe(0);
  });

  it('ends the wait when the caller aborts, and sends nothing', async () => {
    const throttle = new StubThrottle(never);
    const policy = fleetPolicy(throttle, { origin, logger: recorder().logger });
    const controller = new AbortController();
    const pending = policy.sendRequest(request({ abortSignal: controller.signal }), async () => response(204));
    setTimeout(() => controller.abort(), 20);
    const error = await pending.catch((e: unknown) => e);
    expect((error as TransportError).kind).toBe('aborted');
    const already = await policy.sendRequest(request({ abortSignal: controller.signal }), async () => response(204)).catch((e: unknown) => e);
    expect((already as TransportError).kind).toBe('aborted');
  });

  it('warns once when the token names no caller, and still limits by host', async () => {
    const throttle = new StubThrottle(() => granted());
    const { logger, warnings } = recorder();
    const policy = fleetPolicy(throttle, { origin, logger });
    for (let i = 0; i < 2; i++) await policy.sendRequest(request({ headers: { Authorization: 'Bearer opaque' } }), async () => response(200));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no oid\/appid claim/);
    expect(new Set(throttle.asked).size).toBe(1);
  });

  it('a limiter whose settle throws does not fail the request', async () => {
    const throttle = new StubThrottle(() => granted());
    throttle.settle = () => {
      throw new Error('bookkeeping failed');
    };
    const policy = fleetPolicy(throttle, { origin, logger: recorder().logger });
    expect((await policy.sendRequest(request(), async () => response(200))).status).toBe(200);
  });
});
