/**
 * The emulator's Entra ID, proven over plain HTTPS (node:https with the emulator's CA) and with the
 * real MSAL: discovery, JWKS, every grant and its failures, v1 vs v2, audience, faults and counters.
 */
import { createHash, createPublicKey, randomBytes, verify as verifySignature, type JsonWebKey as NodeJwk } from 'node:crypto';
import { Agent, request } from 'node:https';
import { inspect } from 'node:util';
import { ConfidentialClientApplication, CryptoProvider, PublicClientApplication, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import type { Emulator } from '../../src/emulator';
import { SigningKey } from '../../src/emulator/entra/jwt';
import { EntraService } from '../../src/emulator/entra/service';
import { resolveClient, resolveUser } from '../../src/emulator/entra/identities';
import { createCounters } from '../../src/emulator/counters';
import { httpsRequest, startTestEmulator, tokenRequest, type RawResponse } from '../helpers/emulator';

type Json = Record<string, unknown>;

function claimsOf(jwt: string): Json {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Json;
}

function body(res: RawResponse): Json {
  expect(res.json).toBeDefined();
  return res.json as Json;
}

/** Asserts an Entra error response: status, `error`, AADSTS code in `error_codes` and the description. */
function expectEntraError(res: RawResponse, status: number, error: string, code: number): Json {
  const b = body(res);
  expect({ status: res.status, error: b.error, codes: b.error_codes }).toEqual({ status, error, codes: [code] });
  expect(b.error_description).toEqual(expect.stringMatching(new RegExp(`^AADSTS${code}: `)));
  for (const key of ['timestamp', 'trace_id', 'correlation_id']) expect(typeof b[key]).toBe('string');
  return b;
}

function b64urlSha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

let emulator: Emulator;
let env: string;
let tenant: string;
const otherResource = 'https://other.crm.dynamics.com';

beforeAll(async () => {
  emulator = await startTestEmulator();
  env = emulator.url;
  tenant = emulator.tenantId;
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(() => {
  emulator.clearFaults();
  emulator.resetCounters();
});

const cc = (extra: Record<string, string> = {}): Record<string, string> => ({
  grant_type: 'client_credentials',
  client_id: emulator.client.clientId,
  client_secret: emulator.client.clientSecret,
  scope: `${env}/.default`,
  ...extra,
});

const ropc = (extra: Record<string, string> = {}): Record<string, string> => ({
  grant_type: 'password',
  client_id: emulator.client.clientId,
  username: emulator.user.username,
  password: emulator.user.password,
  scope: `${env}/user_impersonation openid profile offline_access`,
  client_info: '1',
  ...extra,
});

describe('discovery', () => {
  it('serves an openid-configuration with a same-origin issuer and the endpoints MSAL requires', async () => {
    const res = await httpsRequest(emulator, { path: `/${tenant}/v2.0/.well-known/openid-configuration` });
    expect(res.status).toBe(200);
    const doc = body(res);
    expect(doc).toMatchObject({
      issuer: `${env}/${tenant}/v2.0`,
      authorization_endpoint: `${env}/${tenant}/oauth2/v2.0/authorize`,
      token_endpoint: `${env}/${tenant}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${env}/${tenant}/oauth2/v2.0/devicecode`,
      jwks_uri: `${env}/${tenant}/discovery/v2.0/keys`,
    });
    expect(emulator.counters.discoveryRequests).toBe(1);
  });

  it('accepts a domain tenant (lower-cased as MSAL sends it) and rejects an unknown tenant name', async () => {
    const ok = await httpsRequest(emulator, { path: '/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration' });
    expect(ok.status).toBe(200);
    expect(body(ok).token_endpoint).toBe(`${env}/contoso.onmicrosoft.com/oauth2/v2.0/token`);
    const bad = await httpsRequest(emulator, { path: '/nosuchtenant/v2.0/.well-known/openid-configuration' });
    expectEntraError(bad, 400, 'invalid_tenant', 90002);
  });

  it('publishes the signing key: access and id tokens verify against the JWKS with node:crypto', async () => {
    const keys = body(await httpsRequest(emulator, { path: `/${tenant}/discovery/v2.0/keys` })).keys as (NodeJwk & { kid: string })[];
    expect(keys).toHaveLength(1);
    const res = await tokenRequest(emulator, ropc());
    for (const jwt of [body(res).access_token as string, body(res).id_token as string]) {
      const [h, p, s] = jwt.split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Json;
      expect(header).toMatchObject({ alg: 'RS256', kid: keys[0].kid });
      const key = createPublicKey({ key: keys[0], format: 'jwk' });
      expect(verifySignature('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))).toBe(true);
      const tampered = Buffer.from(JSON.stringify({ ...claimsOf(jwt), oid: 'someone-else' })).toString('base64url');
      expect(verifySignature('sha256', Buffer.from(`${h}.${tampered}`), key, Buffer.from(s, 'base64url'))).toBe(false);
    }
  });

  it('signs out back to post_logout_redirect_uri', async () => {
    const res = await httpsRequest(emulator, { path: `/${tenant}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent('http://localhost:3000/')}` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('http://localhost:3000/');
  });

  it('answers unknown paths with 404', async () => {
    expect((await httpsRequest(emulator, { path: '/nothing/here' })).status).toBe(404);
  });
});

describe('client credentials', () => {
  it('issues an app token for the environment, echoing the requested scope', async () => {
    const res = await tokenRequest(emulator, cc());
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toContain('no-store');
    const b = body(res);
    expect(b).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, scope: `${env}/.default` });
    expect(b).not.toHaveProperty('refresh_token');
    expect(b).not.toHaveProperty('id_token');
    const c = claimsOf(b.access_token as string);
    expect(c).toMatchObject({ aud: env, tid: tenant, appid: emulator.client.clientId, azp: emulator.client.clientId, idtyp: 'app', appidacr: '1' });
    expect(typeof c.oid).toBe('string');
    expect(c).not.toHaveProperty('scp');
    expect(c).not.toHaveProperty('upn');
    expect((c.exp as number) - Math.floor(Date.now() / 1000)).toBeGreaterThan(3500);
    expect(emulator.counters.tokenRequests).toEqual({ client_credentials: 1 });
    expect(emulator.counters.tokenRequestsTotal).toBe(1);
  });

  it('accepts the secret through HTTP Basic authentication', async () => {
    const basic = Buffer.from(`${emulator.client.clientId}:${emulator.client.clientSecret}`).toString('base64');
    const res = await tokenRequest(emulator, { grant_type: 'client_credentials', scope: `${env}/.default` }, { headers: { Authorization: `Basic ${basic}` } });
    expect(res.status).toBe(200);
  });

  it('accepts a client assertion whose iss and sub are the client id (certificate credential)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: Json): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const assertion = (claims: Json): string => `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}.${randomBytes(32).toString('base64url')}`;
    const form = { grant_type: 'client_credentials', client_id: emulator.client.clientId, scope: `${env}/.default`, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' };
    const good = await tokenRequest(emulator, { ...form, client_assertion: assertion({ iss: emulator.client.clientId, sub: emulator.client.clientId, aud: emulator.tokenUrlV2, exp: now + 600 }) });
    expect(good.status).toBe(200);
    expect(claimsOf(body(good).access_token as string).appidacr).toBe('2');
    const wrongIssuer = await tokenRequest(emulator, { ...form, client_assertion: assertion({ iss: 'someone', sub: 'someone', exp: now + 600 }) });
    expectEntraError(wrongIssuer, 401, 'invalid_client', 700027);
  });

  it('rejects a wrong secret with 401 invalid_client AADSTS7000215, never echoing the secret', async () => {
    const res = await tokenRequest(emulator, cc({ client_secret: 'not-the-secret-xyz' }));
    expectEntraError(res, 401, 'invalid_client', 7000215);
    expect(res.body).not.toContain('not-the-secret-xyz');
  });

  it('rejects a missing secret (7000218), an unknown client (700016) and a non-GUID client id (700038)', async () => {
    const { client_secret: _omit, ...noSecret } = cc();
    expectEntraError(await tokenRequest(emulator, noSecret), 401, 'invalid_client', 7000218);
    expectEntraError(await tokenRequest(emulator, cc({ client_id: '00000000-1111-2222-3333-444444444444' })), 400, 'unauthorized_client', 700016);
    expectEntraError(await tokenRequest(emulator, cc({ client_id: 'my-app' })), 400, 'unauthorized_client', 700038);
  });

  it('requires a /.default scope (1002012), a scope at all (900144) and one resource per request (28000)', async () => {
    expectEntraError(await tokenRequest(emulator, cc({ scope: `${env}/user_impersonation` })), 400, 'invalid_scope', 1002012);
    const { scope: _omit, ...noScope } = cc();
    expectEntraError(await tokenRequest(emulator, noScope), 400, 'invalid_request', 900144);
    const two = await tokenRequest(emulator, ropc({ scope: `${env}/user_impersonation ${otherResource}/user_impersonation` }));
    expectEntraError(two, 400, 'invalid_scope', 28000);
  });

  it('rejects a missing or unsupported grant type and a GET on the token endpoint', async () => {
    expectEntraError(await tokenRequest(emulator, { client_id: emulator.client.clientId }), 400, 'invalid_request', 900144);
    expectEntraError(await tokenRequest(emulator, cc({ grant_type: 'implicit' })), 400, 'unsupported_grant_type', 70003);
    expectEntraError(await httpsRequest(emulator, { path: `/${tenant}/oauth2/v2.0/token` }), 400, 'invalid_request', 900561);
  });

  it('takes everything before the last slash as the audience: https://x//.default asks for https://x/', async () => {
    const res = await tokenRequest(emulator, cc({ scope: `${env}//.default` }));
    expect(res.status).toBe(200);
    expect(claimsOf(body(res).access_token as string).aud).toBe(`${env}/`);
    expect(body(res).scope).toBe(`${env}//.default`);
  });
});

describe('password grant', () => {
  it('issues access, refresh and id tokens plus client_info; scope echoes the request minus openid profile offline_access', async () => {
    const res = await tokenRequest(emulator, ropc());
    expect(res.status).toBe(200);
    const b = body(res);
    expect(b.scope).toBe(`${env}/user_impersonation`);
    expect(typeof b.refresh_token).toBe('string');
    const at = claimsOf(b.access_token as string);
    expect(at).toMatchObject({ aud: env, tid: tenant, appid: emulator.client.clientId, scp: 'user_impersonation', upn: emulator.user.username, idtyp: 'user' });
    const id = claimsOf(b.id_token as string);
    expect(id).toMatchObject({ aud: emulator.client.clientId, tid: tenant, oid: at.oid, preferred_username: emulator.user.username, iss: `${env}/${tenant}/v2.0` });
    expect(typeof id.sub).toBe('string');
    expect(id).not.toHaveProperty('nonce');
    expect(JSON.parse(Buffer.from(b.client_info as string, 'base64url').toString())).toEqual({ uid: at.oid, utid: tenant });
  });

  it('gives a .default user token the user_impersonation permission', async () => {
    const res = await tokenRequest(emulator, ropc({ scope: `${env}/.default openid` }));
    expect(claimsOf(body(res).access_token as string).scp).toBe('user_impersonation');
    expect(body(res).scope).toBe(`${env}/.default`);
  });

  it('returns no refresh token without offline_access, no id_token without openid, no client_info unless asked', async () => {
    const { client_info: _omit, ...noInfo } = ropc({ scope: `${env}/user_impersonation` });
    const b = body(await tokenRequest(emulator, noInfo));
    expect(b.access_token).toEqual(expect.any(String));
    expect(b).not.toHaveProperty('refresh_token');
    expect(b).not.toHaveProperty('id_token');
    expect(b).not.toHaveProperty('client_info');
  });

  it('rejects a wrong password with invalid_grant AADSTS50126 and an unknown user with AADSTS50034', async () => {
    const wrong = await tokenRequest(emulator, ropc({ password: 'Wrong-Password-123' }));
    const b = expectEntraError(wrong, 400, 'invalid_grant', 50126);
    expect(b.error_description).toContain('invalid username or password');
    expect(wrong.body).not.toContain('Wrong-Password-123');
    expectEntraError(await tokenRequest(emulator, ropc({ username: 'nobody@contoso.onmicrosoft.com' })), 400, 'invalid_grant', 50034);
  });

  it('checks the secret when a confidential client sends one', async () => {
    expectEntraError(await tokenRequest(emulator, ropc({ client_secret: 'bad' })), 401, 'invalid_client', 7000215);
  });
});

describe('refresh token', () => {
  async function refreshToken(): Promise<string> {
    return body(await tokenRequest(emulator, ropc())).refresh_token as string;
  }
  const refresh = (rt: string, extra: Record<string, string> = {}): Promise<RawResponse> =>
    tokenRequest(emulator, {
      grant_type: 'refresh_token',
      client_id: emulator.client.clientId,
      refresh_token: rt,
      scope: `${env}/user_impersonation openid profile offline_access`,
      client_info: '1',
      ...extra,
    });

  it('rotates the refresh token and repeats id_token and client_info', async () => {
    const rt = await refreshToken();
    const res = await refresh(rt);
    expect(res.status).toBe(200);
    const b = body(res);
    expect(b.refresh_token).toEqual(expect.any(String));
    expect(b.refresh_token).not.toBe(rt);
    expect(b.id_token).toEqual(expect.any(String));
    expect(b.client_info).toEqual(expect.any(String));
    expect(b.scope).toBe(`${env}/user_impersonation`);
    // The rotated token works in turn.
    expect((await refresh(b.refresh_token as string)).status).toBe(200);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, refresh_token: 2 });
  });

  it("by default (refreshTokenReuse 'reject') rejects a used refresh token (AADSTS70000) and an unknown one, with suberror bad_token", async () => {
    const rt = await refreshToken();
    expect((await refresh(rt)).status).toBe(200);
    const reused = expectEntraError(await refresh(rt), 400, 'invalid_grant', 70000);
    expect(reused.suberror).toBe('bad_token');
    expectEntraError(await refresh('1.AQnot-a-token'), 400, 'invalid_grant', 9002313);
  });

  it("refreshTokenReuse 'allow': a redeemed refresh token stays valid, as at Entra, until revoked", async () => {
    const lenient = await startTestEmulator({ refreshTokenReuse: 'allow' });
    try {
      const again = (rt: string): Promise<RawResponse> =>
        tokenRequest(lenient, { grant_type: 'refresh_token', client_id: lenient.client.clientId, refresh_token: rt, scope: `${lenient.url}/user_impersonation offline_access` });
      const rt = body(await tokenRequest(lenient, { ...ropc(), scope: `${lenient.url}/user_impersonation offline_access` })).refresh_token as string;
      const first = body(await again(rt));
      const second = body(await again(rt));
      // Each redemption still hands out a new refresh token and a working access token for the user.
      expect(first.refresh_token).toEqual(expect.any(String));
      expect(new Set([rt, first.refresh_token, second.refresh_token]).size).toBe(3);
      expect(claimsOf(second.access_token as string)).toMatchObject({ aud: lenient.url, upn: lenient.user.username });
      // The newer ones work too, and the old one still works after them.
      expect((await again(first.refresh_token as string)).status).toBe(200);
      expect((await again(second.refresh_token as string)).status).toBe(200);
      expect((await again(rt)).status).toBe(200);
      expect(lenient.counters.tokenRequests).toEqual({ password: 1, refresh_token: 5 });
      // Unknown and revoked tokens are still refused.
      expectEntraError(await again('1.AQnot-a-token'), 400, 'invalid_grant', 9002313);
      lenient.revokeRefreshTokens();
      for (const old of [rt, first.refresh_token as string]) expectEntraError(await again(old), 400, 'invalid_grant', 50173);
    } finally {
      await lenient.close();
    }
  });

  it('rejects every refresh token issued before revokeRefreshTokens() with AADSTS50173', async () => {
    const rt = await refreshToken();
    emulator.revokeRefreshTokens();
    expectEntraError(await refresh(rt), 400, 'invalid_grant', 50173);
    // Tokens issued afterwards work.
    expect((await refresh(await refreshToken())).status).toBe(200);
  });

  it('is multi-resource: a refresh may ask for another resource', async () => {
    const res = await refresh(await refreshToken(), { scope: `${otherResource}/user_impersonation openid offline_access` });
    expect(res.status).toBe(200);
    expect(claimsOf(body(res).access_token as string).aud).toBe(otherResource);
  });

  it('rejects a refresh token presented by another client', async () => {
    const other = await startTestEmulator({ clients: [{ clientId: '11111111-2222-3333-4444-555555555555', clientSecret: 's1' }, { clientId: '66666666-7777-8888-9999-000000000000', clientSecret: 's2' }] });
    try {
      const rt = body(await tokenRequest(other, { ...ropc(), client_id: '11111111-2222-3333-4444-555555555555', scope: `${other.url}/.default offline_access` })).refresh_token as string;
      const res = await tokenRequest(other, { grant_type: 'refresh_token', client_id: '66666666-7777-8888-9999-000000000000', refresh_token: rt, scope: `${other.url}/.default` });
      expectEntraError(res, 400, 'invalid_grant', 70000);
    } finally {
      await other.close();
    }
  });
});

describe('authorization code with PKCE', () => {
  const redirectUri = 'http://localhost:3000/auth/callback';
  const verifier = randomBytes(32).toString('base64url');

  async function authorize(extra: Record<string, string> = {}): Promise<URL> {
    const q = new URLSearchParams({
      client_id: emulator.client.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: `${env}/user_impersonation openid profile offline_access`,
      state: 'state-123',
      nonce: 'nonce-456',
      code_challenge: b64urlSha256(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    const res = await httpsRequest(emulator, { path: `/${tenant}/oauth2/v2.0/authorize?${q.toString()}` });
    expect(res.status).toBe(302);
    return new URL(res.headers.location as string);
  }
  const redeem = (code: string, extra: Record<string, string> = {}): Promise<RawResponse> =>
    tokenRequest(emulator, {
      grant_type: 'authorization_code',
      client_id: emulator.client.clientId,
      client_secret: emulator.client.clientSecret,
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      scope: `${env}/user_impersonation openid profile offline_access`,
      client_info: '1',
      ...extra,
    });

  it('redirects with a code and the state, and redeems it with the right verifier (nonce in the id_token)', async () => {
    const location = await authorize();
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('state')).toBe('state-123');
    const res = await redeem(location.searchParams.get('code') as string);
    expect(res.status).toBe(200);
    const b = body(res);
    expect(claimsOf(b.id_token as string).nonce).toBe('nonce-456');
    expect(claimsOf(b.access_token as string)).toMatchObject({ aud: env, scp: 'user_impersonation', upn: emulator.user.username });
    expect(b.refresh_token).toEqual(expect.any(String));
  });

  it('rejects a wrong verifier (AADSTS501481), a second redemption (54005) and another redirect URI (500112)', async () => {
    const code1 = (await authorize()).searchParams.get('code') as string;
    expectEntraError(await redeem(code1, { code_verifier: randomBytes(32).toString('base64url') }), 400, 'invalid_grant', 501481);
    const code2 = (await authorize()).searchParams.get('code') as string;
    expect((await redeem(code2)).status).toBe(200);
    expectEntraError(await redeem(code2), 400, 'invalid_grant', 54005);
    const code3 = (await authorize()).searchParams.get('code') as string;
    expectEntraError(await redeem(code3, { redirect_uri: 'http://localhost:3000/elsewhere' }), 400, 'invalid_grant', 500112);
  });

  it('signs in the login_hint user and supports response_mode=form_post', async () => {
    const res = await httpsRequest(emulator, {
      path: `/${tenant}/oauth2/v2.0/authorize?${new URLSearchParams({ client_id: emulator.client.clientId, response_type: 'code', redirect_uri: redirectUri, scope: `${env}/.default`, state: 's', response_mode: 'form_post' }).toString()}`,
    });
    expect(res.status).toBe(200);
    expect(res.body).toContain(`action="${redirectUri}"`);
    expect(res.body).toMatch(/name="code" value="[^"]+"/);
    expect(res.body).toContain('name="state" value="s"');
  });

  it('shows an error page for an unknown client and redirects protocol errors with the state', async () => {
    const page = await httpsRequest(emulator, { path: `/${tenant}/oauth2/v2.0/authorize?client_id=00000000-1111-2222-3333-444444444444&response_type=code&redirect_uri=${encodeURIComponent(redirectUri)}&scope=openid` });
    expect(page.status).toBe(400);
    expect(page.body).toContain('AADSTS700016');
    const location = await authorize({ response_type: 'token' });
    expect(location.searchParams.get('error')).toBe('unsupported_response_type');
    expect(location.searchParams.get('state')).toBe('state-123');
  });
});

describe('device code', () => {
  it('is pending on the first poll, then issues tokens for the default user, then refuses the used code', async () => {
    const start = await httpsRequest(emulator, {
      method: 'POST',
      path: `/${tenant}/oauth2/v2.0/devicecode`,
      body: new URLSearchParams({ client_id: emulator.client.clientId, scope: `${env}/user_impersonation openid profile offline_access` }),
    });
    expect(start.status).toBe(200);
    const dc = body(start);
    expect(dc).toMatchObject({ user_code: expect.any(String), device_code: expect.any(String), verification_uri: expect.stringContaining(env), expires_in: 900, interval: expect.any(Number), message: expect.stringContaining(dc.user_code as string) });
    const poll = (): Promise<RawResponse> => tokenRequest(emulator, { grant_type: 'device_code', client_id: emulator.client.clientId, device_code: dc.device_code as string, client_info: '1' });
    expectEntraError(await poll(), 400, 'authorization_pending', 70016);
    const ok = await poll();
    expect(ok.status).toBe(200);
    expect(claimsOf(body(ok).access_token as string)).toMatchObject({ aud: env, upn: emulator.user.username });
    expect(body(ok).id_token).toEqual(expect.any(String));
    expect(body(ok).scope).toBe(`${env}/user_impersonation`);
    expectEntraError(await poll(), 400, 'invalid_grant', 54005);
    expect(emulator.counters.tokenRequests).toEqual({ device_code: 3 });
  });

  it('works on the v1 endpoints with resource=', async () => {
    const start = await httpsRequest(emulator, { method: 'POST', path: `/${tenant}/oauth2/devicecode`, body: new URLSearchParams({ client_id: emulator.client.clientId, resource: env }) });
    const dc = body(start);
    expect(dc).toMatchObject({ verification_url: expect.stringContaining(env), expires_in: '900' });
    const poll = (): Promise<RawResponse> => tokenRequest(emulator, { grant_type: 'device_code', client_id: emulator.client.clientId, code: dc.device_code as string }, { v1: true });
    expectEntraError(await poll(), 400, 'authorization_pending', 70016);
    expect(body(await poll())).toMatchObject({ resource: env, scope: 'user_impersonation', refresh_token: expect.any(String) });
  });

  it('accepts the RFC 8628 grant type name too', async () => {
    const dc = body(await httpsRequest(emulator, { method: 'POST', path: `/${tenant}/oauth2/v2.0/devicecode`, body: new URLSearchParams({ client_id: emulator.client.clientId, scope: `${env}/.default` }) }));
    const poll = (): Promise<RawResponse> => tokenRequest(emulator, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: emulator.client.clientId, device_code: dc.device_code as string });
    expect((await poll()).status).toBe(400);
    expect((await poll()).status).toBe(200);
  });
});

describe('v1 token endpoint', () => {
  it('takes resource= and answers in the v1 format (numbers as strings, resource, expires_on, not_before)', async () => {
    const res = await tokenRequest(emulator, { grant_type: 'client_credentials', client_id: emulator.client.clientId, client_secret: emulator.client.clientSecret, resource: env }, { v1: true });
    expect(res.status).toBe(200);
    const b = body(res);
    expect(b).toMatchObject({ token_type: 'Bearer', expires_in: '3600', ext_expires_in: '3600', resource: env, expires_on: expect.stringMatching(/^\d+$/), not_before: expect.stringMatching(/^\d+$/) });
    expect(Number(b.expires_on)).toBe(claimsOf(b.access_token as string).exp);
    expect(claimsOf(b.access_token as string).aud).toBe(env);
  });

  it('returns a refresh token for user grants, and requires resource', async () => {
    const res = await tokenRequest(emulator, { grant_type: 'password', client_id: emulator.client.clientId, username: emulator.user.username, password: emulator.user.password, resource: env }, { v1: true });
    expect(body(res)).toMatchObject({ scope: 'user_impersonation', resource: env, refresh_token: expect.any(String) });
    const missing = await tokenRequest(emulator, { grant_type: 'client_credentials', client_id: emulator.client.clientId, client_secret: emulator.client.clientSecret }, { v1: true });
    expectEntraError(missing, 400, 'invalid_request', 900144);
  });
});

describe('checkAuthorization (what the Web API trusts)', () => {
  let key: SigningKey;
  let entra: EntraService;
  const origin = 'https://127.0.0.1:1';
  const now = (): number => Math.floor(Date.now() / 1000);
  beforeAll(async () => {
    key = await SigningKey.create();
    entra = new EntraService(
      { origin, environmentUrl: origin, tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', clients: [resolveClient({ clientId: 'c', clientSecret: 's' })], users: [resolveUser({ username: 'u@x', password: 'p' })], tokenLifetimeSeconds: 60 },
      key,
      createCounters(),
    );
  });
  const tid = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
  const claims = (over: Json = {}): Json => ({ aud: origin, oid: 'o', tid, appid: 'c', exp: now() + 60, nbf: now() - 300, idtyp: 'user', upn: 'u@x', ...over });

  it('accepts a valid token and classifies each failure', async () => {
    expect(entra.checkAuthorization(`Bearer ${key.sign(claims())}`)).toEqual({ ok: true, token: { oid: 'o', tid, appid: 'c', aud: origin, exp: expect.any(Number), kind: 'user', upn: 'u@x' } });
    expect(entra.checkAuthorization(`bearer ${key.sign(claims({ aud: `${origin}/`, idtyp: 'app', upn: undefined }))}`)).toMatchObject({ ok: true, token: { kind: 'app' } });
    expect(entra.checkAuthorization(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(entra.checkAuthorization('Basic abc')).toEqual({ ok: false, reason: 'malformed' });
    expect(entra.checkAuthorization('Bearer not.a-jwt')).toEqual({ ok: false, reason: 'malformed' });
    expect(entra.checkAuthorization(`Bearer ${key.sign(claims({ exp: now() - 1 }))}`)).toEqual({ ok: false, reason: 'expired' });
    expect(entra.checkAuthorization(`Bearer ${key.sign(claims({ aud: otherResource }))}`)).toEqual({ ok: false, reason: 'audience' });
    // The environment belongs to one tenant.
    expect(entra.checkAuthorization(`Bearer ${key.sign(claims({ tid: '99999999-bbbb-cccc-dddd-eeeeeeeeeeee' }))}`)).toEqual({ ok: false, reason: 'audience' });
    const foreign = await SigningKey.create();
    expect(entra.checkAuthorization(`Bearer ${foreign.sign(claims())}`)).toEqual({ ok: false, reason: 'signature' });
    const [h, , s] = key.sign(claims()).split('.');
    const forged = Buffer.from(JSON.stringify(claims({ oid: 'admin' }))).toString('base64url');
    expect(entra.checkAuthorization(`Bearer ${h}.${forged}.${s}`)).toEqual({ ok: false, reason: 'signature' });
  });

  it('checks the signature of a token once and its claims on every request', () => {
    const token = key.sign(claims({ exp: now() + 30 }));
    expect(entra.checkAuthorization(`Bearer ${token}`)).toMatchObject({ ok: true });
    expect(entra.checkAuthorization(`Bearer ${token}`)).toMatchObject({ ok: true });
    // The same header and claims under another signature: not the token that was checked.
    const [h, p, sig] = token.split('.');
    const flipped = `${sig.slice(0, -2)}${sig.at(-2) === 'A' ? 'B' : 'A'}${sig.at(-1)}`;
    expect(entra.checkAuthorization(`Bearer ${h}.${p}.${flipped}`)).toEqual({ ok: false, reason: 'signature' });
    // A token whose signature was checked still expires.
    const later = Date.now() + 31_000;
    const clock = jest.spyOn(Date, 'now').mockReturnValue(later);
    try {
      expect(entra.checkAuthorization(`Bearer ${token}`)).toEqual({ ok: false, reason: 'expired' });
    } finally {
      clock.mockRestore();
    }
    expect(entra.checkAuthorization(`Bearer ${token}`)).toMatchObject({ ok: true });
  });

  it('shows no credential when inspected or serialised: secrets, passwords, tokens it checked', async () => {
    const secret = 'client-secret-never-shown-1234';
    const password = 'user-password-never-shown-5678';
    const own = new EntraService(
      { origin, environmentUrl: origin, tenantId: tid, clients: [resolveClient({ clientId: 'c', clientSecret: secret })], users: [resolveUser({ username: 'u@x', password })], tokenLifetimeSeconds: 60 },
      key,
      createCounters(),
    );
    const token = key.sign(claims());
    expect(own.checkAuthorization(`Bearer ${token}`)).toMatchObject({ ok: true });
    const rendered = inspect(own, { showHidden: true, depth: 20 }) + JSON.stringify(own);
    for (const credential of [secret, password, token.split('.')[2]]) expect(rendered).not.toContain(credential);
  });

  it('the Web API answers a token for another resource, or from another emulator, with 401 and WWW-Authenticate', async () => {
    const foreignAudience = body(await tokenRequest(emulator, cc({ scope: `${otherResource}/.default` }))).access_token as string;
    expect(claimsOf(foreignAudience).aud).toBe(otherResource);
    const other = await startTestEmulator();
    let fromOther: string;
    try {
      fromOther = body(await tokenRequest(other, { grant_type: 'client_credentials', client_id: other.client.clientId, client_secret: other.client.clientSecret, scope: `${env}/.default` })).access_token as string;
    } finally {
      await other.close();
    }
    const good = body(await tokenRequest(emulator, cc())).access_token as string;
    const whoAmI = (token?: string): Promise<RawResponse> =>
      httpsRequest(emulator, { path: '/api/data/v9.2/WhoAmI', headers: token ? { Authorization: `Bearer ${token}`, Accept: 'application/json' } : { Accept: 'application/json' } });
    const ok = await whoAmI(good);
    expect(ok.status).toBe(200);
    for (const token of [foreignAudience, fromOther, undefined]) {
      const res = await whoAmI(token);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(`authorization_uri=${env}/${tenant}/oauth2/authorize`);
    }
  });
  it('the Web API refuses an expired token', async () => {
    const e = await startTestEmulator({ tokenLifetimeSeconds: 1 });
    try {
      const token = body(await tokenRequest(e, { grant_type: 'client_credentials', client_id: e.client.clientId, client_secret: e.client.clientSecret, scope: `${e.url}/.default` })).access_token as string;
      const exp = claimsOf(token).exp as number;
      // Accepted first (its signature checked once), then refused once it has expired.
      const first = await httpsRequest(e, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${token}` } });
      expect(first.status).toBe(200);
      // Wait until the token's exp (whole seconds) has passed.
      await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
      const res = await httpsRequest(e, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain('authorization_uri=');
    } finally {
      await e.close();
    }
  });
});

describe('options', () => {
  it('sends refresh_in and the configured lifetime', async () => {
    const e = await startTestEmulator({ tokenLifetimeSeconds: 240, refreshInSeconds: 120 });
    try {
      const b = body(await tokenRequest(e, { grant_type: 'client_credentials', client_id: e.client.clientId, client_secret: e.client.clientSecret, scope: `${e.url}/.default` }));
      expect(b).toMatchObject({ expires_in: 240, ext_expires_in: 240, refresh_in: 120 });
      const c = claimsOf(b.access_token as string);
      expect((c.exp as number) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(240);
    } finally {
      await e.close();
    }
  });

  it('rejects invalid options naming the option', async () => {
    await expect(startTestEmulator({ port: 70000 })).rejects.toThrow(/EmulatorOptions\.port/);
    await expect(startTestEmulator({ tokenLifetimeSeconds: 0 })).rejects.toThrow(/EmulatorOptions\.tokenLifetimeSeconds/);
    await expect(startTestEmulator({ tenantId: 'contoso' })).rejects.toThrow(/EmulatorOptions\.tenantId/);
    await expect(startTestEmulator({ metadata: '/no/such/file.xml' })).rejects.toThrow(/EmulatorOptions\.metadata/);
    await expect(startTestEmulator({ refreshTokenReuse: 'sometimes' as 'allow' })).rejects.toThrow("EmulatorOptions.refreshTokenReuse must be 'reject' or 'allow', got \"sometimes\"");
    await expect(startTestEmulator({ port: emulator.port })).rejects.toThrow(/EmulatorOptions\.port: 127\.0\.0\.1:\d+ is already in use/);
  });

  it('env() returns the DYNAMICS_* variables', () => {
    expect(emulator.env('/tmp/ca.pem')).toEqual({
      DYNAMICS_TOKEN_URL: `${env}/${tenant}/oauth2/token`,
      DYNAMICS_CLIENT_ID: emulator.client.clientId,
      DYNAMICS_CLIENT_SECRET: emulator.client.clientSecret,
      DYNAMICS_USER_NAME: emulator.user.username,
      DYNAMICS_PASSWORD: emulator.user.password,
      DYNAMICS_RESOURCE: env,
      DYNAMICS_CA_FILE: '/tmp/ca.pem',
      DYNAMICS_ENABLED: 'true',
    });
    expect(Object.keys(emulator.env('/tmp/ca.pem')).pop()).toBe('DYNAMICS_ENABLED');
    expect(emulator.env()).not.toHaveProperty('DYNAMICS_CA_FILE');
  });
});

describe('close()', () => {
  it('closes keep-alive connections and the server, and can be called twice', async () => {
    const e = await startTestEmulator();
    const agent = new Agent({ keepAlive: true, ca: e.caPem });
    const get = (): Promise<number> =>
      new Promise((res, rej) => {
        request(`${e.url}/${e.tenantId}/discovery/v2.0/keys`, { agent }, (r) => {
          r.resume();
          r.on('end', () => res(r.statusCode ?? 0));
        }).on('error', rej).end();
      });
    expect(await get()).toBe(200);
    await Promise.all([e.close(), e.close()]);
    agent.destroy();
    await expect(httpsRequest(e, { path: '/' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('fault injection and counters', () => {
  it('answers the next token request with 429 + Retry-After in Entra shape, then serves normally', async () => {
    emulator.injectFault({ route: 'token', fault: { status: 429, retryAfterSeconds: 7 } });
    const throttled = await tokenRequest(emulator, cc());
    expect(throttled.headers['retry-after']).toBe('7');
    expectEntraError(throttled, 429, 'temporarily_unavailable', 90055);
    expect((await tokenRequest(emulator, cc())).status).toBe(200);
    expect(emulator.counters).toMatchObject({ faultedRequests: 1, tokenRequestsTotal: 1 });
  });

  it('applies a rule count times, in the order rules were added', async () => {
    emulator.injectFault({ route: 'token', fault: { status: 503, retryAfterSeconds: 2 }, count: 2 });
    emulator.injectFault({ route: 'token', fault: { status: 500 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await tokenRequest(emulator, cc())).status);
    expect(statuses).toEqual([503, 503, 500, 200]);
  });

  it('serves a 502 as an HTML page, a 504 too', async () => {
    emulator.injectFault({ route: 'token', fault: { status: 502, html: true } });
    emulator.injectFault({ route: 'api', fault: { status: 504 } });
    const bad = await tokenRequest(emulator, cc());
    expect(bad.status).toBe(502);
    expect(bad.headers['content-type']).toContain('text/html');
    expect(bad.json).toBeUndefined();
    const timeout = await httpsRequest(emulator, { path: '/api/data/v9.2/accounts' });
    expect(timeout.status).toBe(504);
    expect(timeout.body).toContain('<html');
  });

  it('shapes Web API faults as Dataverse does: 429 with Retry-After and error code, 401 with WWW-Authenticate', async () => {
    emulator.injectFault({ route: 'api', fault: { status: 429 } });
    emulator.injectFault({ route: 'api', fault: { status: 401 } });
    const throttled = await httpsRequest(emulator, { path: '/api/data/v9.2/accounts' });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(throttled.json).toEqual({ error: { code: '0x80072322', message: expect.stringContaining('Number of requests exceeded') } });
    const unauthorized = await httpsRequest(emulator, { path: '/api/data/v9.2/accounts' });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['www-authenticate']).toMatch(/^Bearer authorization_uri=https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+\/oauth2\/authorize/);
    expect(emulator.counters.faultedRequests).toBe(2);
  });

  it('answers an injected Entra error with its suberror', async () => {
    emulator.injectFault({ route: 'token', fault: { status: 400, error: 'invalid_grant', suberror: 'bad_token', aadsts: 50173 } });
    const res = await tokenRequest(emulator, cc());
    expect(expectEntraError(res, 400, 'invalid_grant', 50173).suberror).toBe('bad_token');
    expect(() => emulator.injectFault({ route: 'token', fault: { status: 400, error: '' } })).toThrow(/fault\.error/);
  });

  it('resets the connection', async () => {
    emulator.injectFault({ route: 'token', fault: { reset: true } });
    await expect(tokenRequest(emulator, cc())).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect((await tokenRequest(emulator, cc())).status).toBe(200);
  });

  it('delays a request and then serves it normally (counted as served)', async () => {
    emulator.injectFault({ route: 'token', fault: { delayInMs: 50 } });
    expect((await tokenRequest(emulator, cc())).status).toBe(200);
    expect(emulator.counters).toMatchObject({ faultedRequests: 0, tokenRequestsTotal: 1 });
  });

  it('matches method + path rules, and the returned function removes a rule', async () => {
    const remove = emulator.injectFault({ route: { method: 'GET', path: /openid-configuration$/ }, fault: { status: 500 }, count: 5 });
    expect((await tokenRequest(emulator, cc())).status).toBe(200);
    expect((await httpsRequest(emulator, { path: `/${tenant}/v2.0/.well-known/openid-configuration` })).status).toBe(500);
    remove();
    expect((await httpsRequest(emulator, { path: `/${tenant}/v2.0/.well-known/openid-configuration` })).status).toBe(200);
    emulator.injectFault({ route: 'token', fault: { status: 500 } });
    emulator.clearFaults();
    expect((await tokenRequest(emulator, cc())).status).toBe(200);
  });

  it('rejects invalid fault rules', () => {
    expect(() => emulator.injectFault({ route: 'token', fault: { status: 418 } as unknown as { status: 500 } })).toThrow(/status/);
    expect(() => emulator.injectFault({ route: 'token', fault: { status: 500 }, count: 0 })).toThrow(/count/);
  });

  it('counts token requests per grant and resets', async () => {
    await tokenRequest(emulator, cc());
    await tokenRequest(emulator, ropc());
    await tokenRequest(emulator, ropc({ password: 'bad' }));
    expect(emulator.counters.tokenRequests).toEqual({ client_credentials: 1, password: 2 });
    expect(emulator.counters.tokenRequestsTotal).toBe(3);
    emulator.resetCounters();
    expect(emulator.counters).toMatchObject({ tokenRequests: {}, tokenRequestsTotal: 0, faultedRequests: 0, discoveryRequests: 0 });
  });
});

/** MSAL's network module over node:https trusting the emulator's CA; throws on a non-JSON body as MSAL's own client does. */
function msalNetwork(caPem: string): INetworkModule {
  const send = <T>(method: 'GET' | 'POST', url: string, options?: { headers?: Record<string, string>; body?: string }): Promise<NetworkResponse<T>> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method, headers: options?.headers, ca: caPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
            resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
      req.on('error', reject);
      if (options?.body) req.write(options.body);
      req.end();
    });
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

describe('MSAL against the emulator', () => {
  const app = (): ConfidentialClientApplication =>
    new ConfidentialClientApplication({
      auth: { clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret, authority: emulator.authority, knownAuthorities: [`127.0.0.1:${emulator.port}`] },
      system: { networkClient: msalNetwork(emulator.caPem) },
    });

  it('client credentials: discovery, token, then the cache', async () => {
    const cca = app();
    const first = await cca.acquireTokenByClientCredential({ scopes: [`${env}/.default`] });
    expect(first?.accessToken).toEqual(expect.any(String));
    expect(first?.fromCache).toBe(false);
    expect(claimsOf(first?.accessToken as string).aud).toBe(env);
    const second = await cca.acquireTokenByClientCredential({ scopes: [`${env}/.default`] });
    expect(second?.fromCache).toBe(true);
    expect(emulator.counters).toMatchObject({ discoveryRequests: 1, tokenRequests: { client_credentials: 1 } });
  });

  it('username/password: an account, a silent cache hit and a silent refresh', async () => {
    const cca = app();
    const scopes = [`${env}/user_impersonation`];
    const result = await cca.acquireTokenByUsernamePassword({ scopes, username: emulator.user.username, password: emulator.user.password });
    expect(result?.account?.username).toBe(emulator.user.username);
    expect(result?.account?.tenantId).toBe(tenant);
    const account = result?.account;
    if (!account) throw new Error('no account');
    const cached = await cca.acquireTokenSilent({ scopes, account });
    expect(cached.fromCache).toBe(true);
    const refreshed = await cca.acquireTokenSilent({ scopes, account, forceRefresh: true });
    expect(refreshed.fromCache).toBe(false);
    expect(refreshed.accessToken).not.toBe(result?.accessToken);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, refresh_token: 1 });
    await expect(cca.acquireTokenByUsernamePassword({ scopes, username: emulator.user.username, password: 'wrong' })).rejects.toThrow(/AADSTS50126/);
  });

  it('auth code + PKCE through getAuthCodeUrl and acquireTokenByCode', async () => {
    const cca = app();
    const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
    const redirectUri = 'http://localhost:3000/redirect';
    const scopes = [`${env}/user_impersonation`];
    const url = await cca.getAuthCodeUrl({ scopes, redirectUri, codeChallenge: challenge, codeChallengeMethod: 'S256', state: 'st', nonce: 'nn' });
    const res = await httpsRequest(emulator, { path: url });
    const location = new URL(res.headers.location as string);
    const code = location.searchParams.get('code') as string;
    const result = await cca.acquireTokenByCode({ code, scopes, redirectUri, codeVerifier: verifier, state: 'st', nonce: 'nn' }, { code, state: location.searchParams.get('state') ?? undefined });
    expect(result.account?.username).toBe(emulator.user.username);
    expect(result.idTokenClaims).toMatchObject({ nonce: 'nn' });
  });

  it('an injected interaction_required becomes InteractionRequiredAuthError; a revoked refresh token too', async () => {
    const cca = app();
    const scopes = [`${env}/user_impersonation`];
    const result = await cca.acquireTokenByUsernamePassword({ scopes, username: emulator.user.username, password: emulator.user.password });
    const account = result?.account;
    if (!account) throw new Error('no account');
    emulator.injectFault({ route: 'token', fault: { status: 400, error: 'interaction_required', aadsts: 50076, description: 'You must use multi-factor authentication.' } });
    await expect(cca.acquireTokenSilent({ scopes, account, forceRefresh: true })).rejects.toMatchObject({ name: 'InteractionRequiredAuthError', errorCode: 'interaction_required' });
    emulator.revokeRefreshTokens();
    await expect(cca.acquireTokenSilent({ scopes, account, forceRefresh: true })).rejects.toMatchObject({ name: 'InteractionRequiredAuthError', subError: 'bad_token' });
  });

  it('device code through PublicClientApplication', async () => {
    const pca = new PublicClientApplication({
      auth: { clientId: emulator.client.clientId, authority: emulator.authority, knownAuthorities: [`127.0.0.1:${emulator.port}`] },
      system: { networkClient: msalNetwork(emulator.caPem) },
    });
    let message = '';
    const result = await pca.acquireTokenByDeviceCode({ scopes: [`${env}/user_impersonation`], deviceCodeCallback: (r) => { message = r.message; } });
    expect(message).toContain('enter the code');
    expect(result?.account?.username).toBe(emulator.user.username);
    expect(emulator.counters.tokenRequests).toEqual({ device_code: 2 });
  });
});
