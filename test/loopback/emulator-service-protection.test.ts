/**
 * The emulator's service protection as Dataverse documents it (api-limits.md): per user across
 * connections, three limits each with its own 429 code and Retry-After, and the two rate-limit
 * headers on every answer to an authenticated request, the time one formatted as Dataverse does.
 */
import type { Emulator } from '../../src/emulator';
import { formatSecondsRemaining } from '../../src/emulator/dataverse/throttle';
import { appToken, httpsRequest, startTestEmulator, userToken, type RawResponse } from '../helpers/emulator';

const BURST = 'x-ms-ratelimit-burst-remaining-xrm-requests';
const TIME = 'x-ms-ratelimit-time-remaining-xrm-requests';

function get(em: Emulator, token: string, p = 'WhoAmI'): Promise<RawResponse> {
  // httpsRequest uses `agent: false`: every request is a connection of its own.
  return httpsRequest(em, { path: `/api/data/v9.2/${p}`, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
}

describe('formatSecondsRemaining', () => {
  it.each([
    [1_200_000, '1,200.00'],
    [1_199_970, '1,199.97'],
    [100, '0.10'],
    [999, '0.99'],
    [0, '0.00'],
    [-50, '0.00'],
    [12_345_678_900, '12,345,678.90'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatSecondsRemaining(ms)).toBe(text);
  });
});

describe('emulator service protection', () => {
  let em: Emulator;
  let app: string;
  beforeAll(async () => {
    em = await startTestEmulator({ serviceProtection: { maxRequests: 5, windowInMs: 60_000, maxConcurrent: 3 } });
    app = await appToken(em);
  });
  afterAll(async () => {
    await em.close();
  });
  afterEach(() => {
    em.setLatency(0);
  });

  it('sends both rate-limit headers on every answer, the time in seconds as `1,200.00`', async () => {
    em.setServiceProtection({ maxRequests: 5, windowInMs: 60_000, maxConcurrent: 3, maxExecutionTimeInMs: 1_200_000 });
    const answers: RawResponse[] = [];
    for (let i = 0; i < 6; i++) answers.push(await get(em, app, i === 2 ? 'nosuchset' : 'WhoAmI'));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 404, 200, 200, 429]);
    expect(answers.map((r) => r.headers[BURST])).toEqual(['4', '3', '2', '1', '0', '0']);
    // The first answer was sent before any execution time was spent.
    expect(answers[0].headers[TIME]).toBe('1,200.00');
    for (const r of answers) expect(r.headers[TIME]).toMatch(/^1,(200|199)\.\d\d$/);
  });

  it('limits the user, not the connection or the token: two tokens of one app share one budget, another user has its own', async () => {
    em.setServiceProtection({ maxRequests: 4, windowInMs: 60_000 });
    const second = await appToken(em);
    expect(second).not.toBe(app);
    const statuses: number[] = [];
    for (const token of [app, second, app, second, app, second]) statuses.push((await get(em, token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    // The delegated user is limited independently (api-limits.md: "each authenticated user is limited independently").
    const user = await userToken(em);
    expect((await get(em, user)).status).toBe(200);
    const usage = em.serviceProtectionUsage();
    expect(usage.map((u) => u.requests).sort()).toEqual([1, 4]);
  });

  it('answers 429 0x80072321 with Retry-After once the combined execution time of the window is spent', async () => {
    em.setServiceProtection({ maxRequests: 1000, windowInMs: 3_000, maxConcurrent: 50, maxExecutionTimeInMs: 300 });
    em.setLatency(200);
    const first = await get(em, app);
    const second = await get(em, app);
    const third = await get(em, app);
    expect([first.status, second.status, third.status]).toEqual([200, 200, 429]);
    expect(first.headers[TIME]).toBe('0.30');
    // 300 ms minus the first request's 200 and more.
    expect(Number(second.headers[TIME])).toBeLessThanOrEqual(0.1);
    expect(third.headers[TIME]).toBe('0.00');
    expect(third.json).toEqual({
      error: {
        code: '0x80072321',
        message:
          'Combined execution time of incoming requests exceeded limit of 300 milliseconds over time window of 3 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.',
      },
    });
    const retryAfter = Number(third.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3);
    // The burst header still reports the request budget, which was not the limit hit.
    expect(Number(third.headers[BURST])).toBeGreaterThan(990);
    const usage = em.serviceProtectionUsage().find((u) => u.executionTimeInMs > 0);
    expect(usage?.executionTimeInMs).toBeGreaterThanOrEqual(400);
    // Once the window slides past the two requests, the user may run again.
    em.setLatency(0);
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    expect((await get(em, app)).status).toBe(200);
  });

  it('quotes a large execution-time limit with thousands separators, as the documented message does', async () => {
    em.setServiceProtection({ maxRequests: 1000, windowInMs: 300_000, maxConcurrent: 50, maxExecutionTimeInMs: 1_200_000 });
    const usage = em.serviceProtectionUsage();
    expect(usage.every((u) => u.executionTimeInMs === 0)).toBe(true);
    em.setServiceProtection({ maxExecutionTimeInMs: 1 });
    em.setLatency(5);
    expect((await get(em, app)).status).toBe(200);
    const refused = await get(em, app);
    expect(refused.status).toBe(429);
    expect((refused.json as { error: { message: string } }).error.message).toContain('exceeded limit of 1 milliseconds over time window of 300 seconds');
    em.setServiceProtection({ maxExecutionTimeInMs: 1_200_000 });
    expect(em.serviceProtectionUsage().every((u) => u.executionTimeInMs === 0)).toBe(true);
  });

  it('answers 429 0x80072326 at once for a request over the concurrency limit, with both headers', async () => {
    em.setServiceProtection({ maxRequests: 1000, windowInMs: 60_000, maxConcurrent: 2, maxExecutionTimeInMs: 1_200_000 });
    em.setLatency(400);
    const slow = [get(em, app), get(em, app)];
    await new Promise((r) => setTimeout(r, 100));
    expect(em.serviceProtectionUsage().reduce((n, u) => n + u.inFlight, 0)).toBe(2);
    const started = Date.now();
    const refused = await get(em, app);
    expect(Date.now() - started).toBeLessThan(300);
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({ error: { code: '0x80072326', message: 'Number of concurrent requests exceeded the limit of 2.' } });
    expect(refused.headers['retry-after']).toBe('1');
    expect(Number(refused.headers[BURST])).toBe(998);
    expect(refused.headers[TIME]).toBe('1,200.00');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
    expect(em.serviceProtectionUsage().reduce((n, u) => n + u.inFlight, 0)).toBe(0);
  });

  it('refuses a bad execution-time limit naming the option', async () => {
    expect(() => em.setServiceProtection({ maxExecutionTimeInMs: 0 })).toThrow(/serviceProtection\.maxExecutionTimeInMs/);
    await expect(startTestEmulator({ serviceProtection: { maxExecutionTimeInMs: -1 } })).rejects.toThrow(/serviceProtection\.maxExecutionTimeInMs/);
  });
});
