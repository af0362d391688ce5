/**
 * DynamicsService without Nest, against the emulator: the real MSAL, the real axios transport,
 * configured from DYNAMICS_* variables as @edirect/dynamics users configure it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { ConfigurationError, DynamicsError, NotFoundError } from '../../src/errors';
import { DynamicsService, type DynamicsEntityReference, type ITokenSet } from '../../src/compat';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';

const API = 'api/data/v9.2';

let emulator: Emulator;
let dir: string;
let caFile: string;
const services: DynamicsService[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
  dir = mkdtempSync(path.join(tmpdir(), 'compat-service-'));
  caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, emulator.caPem);
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.close()));
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The variables an @edirect/dynamics user sets, pointing at the emulator's v1 token URL. */
function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { ...emulator.env(caFile), DYNAMICS_ENABLED: 'true', ...extra };
}

function service(extra: Record<string, string | undefined> = {}): DynamicsService {
  const s = new DynamicsService({ env: env(extra) });
  services.push(s);
  return s;
}

/** Everything a secret could leak through: message, stack, util.inspect (with the cause chain) and JSON. */
function leakSurface(err: unknown): string {
  return [String(err), (err as Error)?.stack, inspect(err, { depth: 8, showHidden: true }), JSON.stringify(err)].join('\n');
}

describe.each(['password', 'client_credentials'] as const)('each method with grantType %s', (grantType) => {
  it('post → { id, entityId }, get → the record, patch → { id, entityId }, delete → {}', async () => {
    const dynamics = service();
    emulator.resetCounters();
    const created = (await dynamics.post(`${API}/accounts`, { name: `Contoso ${grantType}` }, undefined, grantType)) as DynamicsEntityReference;
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.entityId).toBe(`${emulator.url}/${API}/accounts(${created.id})`);

    const read = (await dynamics.get(`/${API}/accounts(${created.id})?$select=name`, undefined, grantType)) as Record<string, unknown>;
    expect(read.name).toBe(`Contoso ${grantType}`);

    const patched = await dynamics.patch(`${emulator.url}/${API}/accounts(${created.id})`, { name: 'Renamed' }, { headers: { 'If-Match': '*' } }, grantType);
    expect(patched).toEqual({ id: created.id, entityId: created.entityId });
    expect(((await dynamics.get(`${API}/accounts(${created.id})`, { params: { $select: 'name' } }, grantType)) as { name: string }).name).toBe('Renamed');

    expect(await dynamics.delete(`${API}/accounts(${created.id})`, undefined, grantType)).toEqual({});
    const gone = await dynamics.get(`${API}/accounts(${created.id})`, undefined, grantType).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(NotFoundError);
    expect((gone as DynamicsError).response?.status).toBe(404);
    expect((gone as DynamicsError).response?.data).toMatchObject({ error: { message: expect.any(String) } });

    // The grant decides whose token goes out: one token request of that grant, none of the other.
    expect(emulator.counters.tokenRequests).toEqual({ [grantType]: 1 });
    expect(emulator.counters.apiRequestsTotal).toBe(6);
  });
});

describe('calls', () => {
  it('uses the password grant by default and the client-credentials grant when asked, one token each', async () => {
    emulator.resetCounters();
    const dynamics = service();
    await dynamics.get(`${API}/accounts?$top=1`);
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
    await dynamics.get(`${API}/accounts?$top=1`, undefined, 'client_credentials');
    await dynamics.get(`${API}/accounts?$top=1`, undefined, 'client_credentials');
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1 });
  });

  it('honours headers (Prefer: return=representation gives the record), params and responseType', async () => {
    const dynamics = service();
    const record = (await dynamics.post(`${API}/accounts`, { name: 'Represented' }, { headers: { Prefer: 'return=representation' } })) as Record<string, unknown>;
    expect(record.name).toBe('Represented');
    expect(record.accountid).toEqual(expect.any(String));

    const page = (await dynamics.get(`${API}/accounts`, { params: { $select: 'name', $filter: "name eq 'Represented'" } })) as { value: Array<{ name: string }> };
    expect(page.value.map((r) => r.name)).toEqual(['Represented']);

    const text = await dynamics.get<string>(`${API}/accounts(${record.accountid as string})?$select=name`, { responseType: 'text' });
    expect(typeof text).toBe('string');
    expect(JSON.parse(text as string).name).toBe('Represented');
  });

  it('rejects a URL on another host and an unknown grant before sending anything', async () => {
    const dynamics = service();
    await dynamics.get(`${API}/accounts?$top=1`); // warm: the token is cached
    emulator.resetCounters();
    const elsewhere = await dynamics.get('https://example.com/api/data/v9.2/accounts').catch((e: unknown) => e);
    expect(elsewhere).toMatchObject({ name: 'DynamicsError', code: 'invalid_argument' });
    const grant = await dynamics.get(`${API}/accounts`, undefined, 'refresh_token' as never).catch((e: unknown) => e);
    expect(grant).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('grantType') });
    expect(emulator.counters.apiRequestsTotal).toBe(0);
    expect(emulator.counters.tokenRequestsTotal).toBe(0);
  });

  it('throws DynamicsError with AxiosError-style response.status/response.data, and no secret anywhere', async () => {
    const dynamics = service();
    const err = await dynamics.post(`${API}/nosuchentities`, { name: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamicsError);
    const e = err as DynamicsError;
    // Dataverse answers an unknown entity set with 404 "Resource not found for the segment".
    expect(e.status).toBe(404);
    expect(e.response?.status).toBe(404);
    expect(e.response?.data).toMatchObject({ error: { code: expect.any(String), message: expect.stringContaining('nosuchentities') } });
    const set = (await dynamics.getAccessToken())!;
    const surface = leakSurface(err);
    for (const secret of [emulator.client.clientSecret, emulator.user.password, set.access_token, set.refresh_token!]) expect(surface).not.toContain(secret);
  });

  it('HTML 502s, resets and a refused refresh leave no password, secret or token in errors or log lines', async () => {
    const lines: string[] = [];
    const push = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push(`${level} ${message} ${meta ? JSON.stringify(meta) : ''}`);
    const dynamics = new DynamicsService({ env: env(), logger: { error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') } });
    services.push(dynamics);
    const user = (await dynamics.getAccessToken())!;
    const app = (await dynamics.getAccessTokenByClientCredentials())!;
    const errors: unknown[] = [];
    try {
      // A write is not re-sent after an HTML 502 or a reset, so each reaches the caller.
      emulator.injectFault({ route: { method: 'POST', path: /\/accounts$/ }, fault: { status: 502, html: true } });
      errors.push(await dynamics.post(`${API}/accounts`, { name: 'x' }).catch((e: unknown) => e));
      emulator.injectFault({ route: { method: 'POST', path: /\/accounts$/ }, fault: { reset: true } });
      errors.push(await dynamics.post(`${API}/accounts`, { name: 'x' }, undefined, 'client_credentials').catch((e: unknown) => e));
    } finally {
      emulator.clearFaults();
    }
    expect(errors.map((e) => (e as DynamicsError).name)).toEqual(['DynamicsError', 'NetworkError']);
    expect((errors[0] as DynamicsError).status).toBe(502);
    // A refused refresh token: the service logs a warning and signs in again with the password.
    emulator.revokeRefreshTokens();
    const again = (await dynamics.getRefreshToken())!;
    expect(lines.some((l) => l.startsWith('warn Refreshing the user token failed'))).toBe(true);
    const secrets = [emulator.client.clientSecret, emulator.user.password, user.access_token, user.refresh_token!, app.access_token, again.access_token, again.refresh_token!];
    const surface = [...errors.map(leakSurface), ...lines].join('\n');
    for (const secret of secrets) expect(surface).not.toContain(secret);
  });

  it('a wrong password fails with an AuthenticationError that carries neither password nor secret', async () => {
    const dynamics = service({ DYNAMICS_PASSWORD: 'wrong-password-value' });
    const err = await dynamics.get(`${API}/accounts`).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AuthenticationError' });
    const surface = leakSurface(err);
    expect(surface).not.toContain('wrong-password-value');
    expect(surface).not.toContain(emulator.client.clientSecret);
    expect(inspect(dynamics, { showHidden: true, depth: 8 })).not.toContain('wrong-password-value');
  });

  it('rejects calls after close() without sending', async () => {
    const dynamics = service();
    await dynamics.close();
    const err = await dynamics.get(`${API}/accounts`).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DynamicsError', message: expect.stringContaining('closed') });
  });
});

describe('DYNAMICS_ENABLED', () => {
  it.each(['false', 'TRUE', '0', ''])('%j: every call returns null with zero requests and no demand on the rest', async (value) => {
    emulator.resetCounters();
    // Nothing else is configured: a disabled service must not ask for it.
    const dynamics = new DynamicsService({ env: { DYNAMICS_ENABLED: value } });
    expect(dynamics.enabled).toBe(false);
    const results = await Promise.all([
      dynamics.get(`${API}/accounts`),
      dynamics.post(`${API}/accounts`, { name: 'x' }),
      dynamics.patch(`${API}/accounts(00000000-0000-0000-0000-000000000001)`, { name: 'x' }, undefined, 'client_credentials'),
      dynamics.delete(`${API}/accounts(00000000-0000-0000-0000-000000000001)`),
      dynamics.getAccessToken(),
      dynamics.getAccessTokenByClientCredentials(),
      dynamics.getRefreshToken(),
    ]);
    expect(results).toEqual([null, null, null, null, null, null, null]);
    expect(emulator.counters.apiRequestsTotal).toBe(0);
    expect(emulator.counters.tokenRequestsTotal).toBe(0);
  });

  it('unset: disabled too (the published flag is opt-in), even with a complete configuration', async () => {
    emulator.resetCounters();
    const { DYNAMICS_ENABLED: _enabled, ...complete } = emulator.env(caFile);
    const dynamics = new DynamicsService({ env: complete });
    expect(await dynamics.get(`${API}/accounts`)).toBeNull();
    expect(emulator.counters.apiRequestsTotal + emulator.counters.tokenRequestsTotal).toBe(0);
  });
});

describe('configuration errors', () => {
  it('a missing variable gives one ConfigurationError naming it, at construction', () => {
    const err = (() => {
      try {
        return new DynamicsService({ env: env({ DYNAMICS_RESOURCE: undefined }) });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).issues.map((i) => i.name)).toEqual(['DYNAMICS_RESOURCE']);
    expect((err as Error).message).toContain('DYNAMICS_RESOURCE');
    expect(leakSurface(err)).not.toContain(emulator.client.clientSecret);
    expect(leakSurface(err)).not.toContain(emulator.user.password);
  });

  it("an invalid value is named by its variable, using the auth provider's checks", () => {
    let err: unknown;
    try {
      new DynamicsService({ env: env({ DYNAMICS_TOKEN_URL: 'http://127.0.0.1/tenant/oauth2/token', DYNAMICS_CLIENT_ID: 'not-a-guid' }) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).issues.map((i) => i.name).sort()).toEqual(['DYNAMICS_CLIENT_ID', 'DYNAMICS_TOKEN_URL']);
    expect(leakSurface(err)).not.toContain(emulator.client.clientSecret);
    expect(leakSurface(err)).not.toContain(emulator.user.password);
  });

  it('a grant without its credentials fails when first used, naming what it needs, without a request', async () => {
    emulator.resetCounters();
    const dynamics = service({ DYNAMICS_USER_NAME: undefined, DYNAMICS_PASSWORD: undefined });
    const err = await dynamics.get(`${API}/accounts`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).issues[0].name).toBe('DYNAMICS_USER_NAME + DYNAMICS_PASSWORD');
    expect(emulator.counters.tokenRequestsTotal).toBe(0);
    expect(await dynamics.get(`${API}/accounts?$top=1`, undefined, 'client_credentials')).toMatchObject({ value: expect.any(Array) });
  });
});

describe('tokens', () => {
  function expectV1TokenSet(set: ITokenSet | null): asserts set is ITokenSet {
    expect(set).toMatchObject({
      token_type: 'Bearer',
      access_token: expect.any(String),
      expires_in: expect.stringMatching(/^\d+$/),
      expires_on: expect.stringMatching(/^\d+$/),
      resource: emulator.url,
    });
    const remaining = Number(set!.expires_on) - Date.now() / 1000;
    expect(remaining).toBeGreaterThan(300);
  }

  it('getAccessToken (password), getAccessTokenByClientCredentials, getRefreshToken, served from the cache', async () => {
    emulator.resetCounters();
    const dynamics = service();
    const user = await dynamics.getAccessToken();
    expectV1TokenSet(user);
    expect(user.refresh_token).toEqual(expect.any(String));
    expect(await dynamics.getAccessToken()).toMatchObject({ access_token: user.access_token });
    expect(emulator.counters.tokenRequests).toEqual({ password: 1 });

    const app = await dynamics.getAccessTokenByClientCredentials();
    expectV1TokenSet(app);
    expect(app.refresh_token).toBeUndefined();
    expect(app.access_token).not.toBe(user.access_token);
    expect((await dynamics.getAccessTokenByClientCredentials())!.access_token).toBe(app.access_token);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1 });

    const refreshed = await dynamics.getRefreshToken();
    expectV1TokenSet(refreshed);
    expect(refreshed.access_token).not.toBe(user.access_token);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1, refresh_token: 1 });
    // API calls use the refreshed token from the cache: no further token request.
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(emulator.counters.tokenRequestsTotal).toBe(3);
  });

  it('getRefreshToken falls back to the password grant when the refresh token is revoked', async () => {
    const dynamics = service();
    await dynamics.getAccessToken();
    emulator.resetCounters();
    emulator.revokeRefreshTokens();
    const set = await dynamics.getRefreshToken();
    expect(set?.access_token).toEqual(expect.any(String));
    expect(emulator.counters.tokenRequests).toEqual({ refresh_token: 1, password: 1 });
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(emulator.counters.tokenRequestsTotal).toBe(2);
  });

  it('200 concurrent calls on a cold start make one token request', async () => {
    emulator.resetCounters();
    const dynamics = service();
    const results = await Promise.all(Array.from({ length: 200 }, () => dynamics.get(`${API}/accounts?$top=1&$select=name`)));
    expect(results.every((r) => Array.isArray((r as { value: unknown[] }).value))).toBe(true);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
    expect(emulator.counters.apiRequestsTotal).toBe(200);
  });

  it('a token cache file lets a new instance (a restart) make no token request', async () => {
    const cacheFile = path.join(dir, 'tokens.json');
    const first = service({ DYNAMICS_TOKEN_CACHE_FILE: cacheFile });
    await first.get(`${API}/accounts?$top=1`);
    await first.get(`${API}/accounts?$top=1`, undefined, 'client_credentials');
    await first.close();
    emulator.resetCounters();
    const second = service({ DYNAMICS_TOKEN_CACHE_FILE: cacheFile });
    await second.get(`${API}/accounts?$top=1`);
    await second.get(`${API}/accounts?$top=1`, undefined, 'client_credentials');
    expect(emulator.counters.tokenRequestsTotal).toBe(0);
    expect(emulator.counters.apiRequestsTotal).toBe(2);
  });
});

// Tokens that live 20 s are inside every renewal window (MSAL's 300 s, the client's 30 s forced
// refresh), so each call renews, which shows the order: refresh first, then the password grant.
describe('token flow near expiry', () => {
  let shortLived: Emulator;
  beforeAll(async () => {
    shortLived = await startTestEmulator({ tokenLifetimeSeconds: 20 });
  });
  afterAll(async () => {
    await shortLived?.close();
  });

  it('refreshes when the token nears expiry, and signs in again with the password when the refresh token is revoked', async () => {
    const file = path.join(dir, 'short-ca.pem');
    writeFileSync(file, shortLived.caPem);
    const dynamics = new DynamicsService({ env: { ...shortLived.env(file), DYNAMICS_ENABLED: 'true' } });
    services.push(dynamics);
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(shortLived.counters.tokenRequests).toEqual({ password: 1 });
    // About to expire: the next call refreshes (the published flow refreshed on every call;
    // here it happens only because the token is near expiry, see the steady-state tests above).
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(shortLived.counters.tokenRequests).toEqual({ password: 1, refresh_token: 1 });
    shortLived.revokeRefreshTokens();
    await dynamics.get(`${API}/accounts?$top=1`);
    expect(shortLived.counters.tokenRequests).toEqual({ password: 2, refresh_token: 2 });
    expect(shortLived.counters.apiRequestsTotal).toBe(3);
  });
});
