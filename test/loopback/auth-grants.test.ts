/**
 * MsalTokenProvider with the real MSAL against the emulator's Entra ID: every grant, v1 and v2
 * token URLs, single flight, cache reuse, refresh and re-authentication, retries, errors.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { startTestEmulator } from '../helpers/emulator';
import type { Emulator } from '../../src/emulator';
import { AuthenticationError, ConfigurationError, NetworkError, ThrottledError } from '../../src/errors';
import { MsalTokenProvider, loadAuthConfig, type MsalTokenProviderOptions } from '../../src/auth';
import type { Logger } from '../../src/logger';

interface CapturedLogger extends Logger {
  lines: string[];
}

function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const push = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${meta ? JSON.stringify(meta) : ''}`);
  };
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') };
}

/** Everything a secret could leak through: message, stack, util.inspect (hidden properties, cause chain), JSON, and the log lines. */
function leakSurface(err: unknown, logger?: CapturedLogger): string {
  return [String(err), (err as Error)?.stack, inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err), ...(logger?.lines ?? [])].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('MsalTokenProvider against the emulator', () => {
  let emulator: Emulator;
  const providers: MsalTokenProvider[] = [];

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(async () => {
    for (const p of providers) p.close();
    await emulator.close();
  });
  beforeEach(() => {
    emulator.resetCounters();
    emulator.clearFaults();
  });

  function provider(extra: Partial<MsalTokenProviderOptions> = {}): MsalTokenProvider {
    const p = new MsalTokenProvider({
      tokenUrl: emulator.tokenUrl,
      clientId: emulator.client.clientId,
      clientSecret: emulator.client.clientSecret,
      resource: emulator.url,
      ca: emulator.caPem,
      ...extra,
    });
    providers.push(p);
    return p;
  }

  function claims(token: string): Record<string, unknown> {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  }

  describe('client credentials', () => {
    it.each([
      ['v1 token URL', () => emulator.tokenUrl],
      ['v2 token URL', () => emulator.tokenUrlV2],
    ])('gets an app token for the environment from a %s', async (_name, url) => {
      const p = provider({ tokenUrl: url() });
      expect(p.grant).toBe('client_credentials');
      const t = await p.getToken();
      expect(claims(t.token).aud).toBe(emulator.url);
      expect(t.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
      expect(emulator.counters.tokenRequests).toEqual({ client_credentials: 1 });
    });

    it('accepts authority and tenantId + authorityHost as well', async () => {
      await provider({ tokenUrl: undefined, authority: emulator.authority }).getToken();
      await provider({ tokenUrl: undefined, tenantId: emulator.tenantId, authorityHost: emulator.url }).getToken();
      expect(emulator.counters.tokenRequests.client_credentials).toBe(2);
    });

    it('authenticates with a certificate (signed client assertion) instead of a secret', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const p = provider({ clientSecret: undefined, clientCertificate: { thumbprintSha256: createHash('sha256').update('cert').digest('hex'), privateKey: pem } });
      const t = await p.getToken();
      expect(claims(t.token).appidacr).toBe('2');
      expect(emulator.counters.tokenRequests).toEqual({ client_credentials: 1 });
    });

    it('makes exactly one token request for 100 concurrent getToken() calls on a cold cache', async () => {
      const p = provider();
      const tokens = await Promise.all(Array.from({ length: 100 }, () => p.getToken()));
      expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
    });

    it('reuses the cached token for 1,000 further calls and bypasses it with forceRefresh', async () => {
      const p = provider();
      const first = await p.getToken();
      for (let i = 0; i < 1000; i++) expect((await p.getToken()).token).toBe(first.token);
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
      const forced = await Promise.all(Array.from({ length: 20 }, () => p.getToken({ forceRefresh: true })));
      expect(emulator.counters.tokenRequestsTotal).toBe(2);
      expect(forced[0].token).not.toBe(first.token);
      expect((await p.getToken()).token).toBe(forced[0].token);
    });

    it('never contacts login.microsoftonline.com for another authority', async () => {
      const logger = captureLogger();
      await provider({ logger }).getToken();
      const requests = logger.lines.filter((l) => /^debug (GET|POST) /.test(l));
      expect(requests.length).toBeGreaterThanOrEqual(2);
      for (const r of requests) expect(r).toContain(` ${emulator.url}/`);
      expect(logger.lines.join('\n')).not.toContain('login.microsoftonline.com');
    });

    it.each(['common', 'organizations', 'consumers'])('rejects the %s tenant before any I/O', (tenant) => {
      expect(() => provider({ tokenUrl: `${emulator.url}/${tenant}/oauth2/token` })).toThrow(ConfigurationError);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
      expect(emulator.counters.discoveryRequests).toBe(0);
    });

    it('throws AuthenticationError with the AADSTS code and correlation id for a wrong secret, without the secret', async () => {
      const secret = 'wrong-secret-value-1234567890';
      const logger = captureLogger();
      const p = provider({ clientSecret: secret, logger });
      const err = (await p.getToken().catch((e: unknown) => e)) as AuthenticationError;
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.entraErrorCodes).toContain(7000215);
      expect(err.correlationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(leakSurface(err, logger)).not.toContain(secret);
    });
  });

  describe('password grant', () => {
    function userProvider(extra: Partial<MsalTokenProviderOptions> = {}): MsalTokenProvider {
      return provider({ username: emulator.user.username, password: emulator.user.password, ...extra });
    }

    it('signs the user in with user_impersonation and returns the refresh token from the cache', async () => {
      const logger = captureLogger();
      const p = userProvider({ logger });
      expect(p.grant).toBe('password');
      const set = await p.getTokenSet();
      expect(set.scopes).toEqual([`${emulator.url}/user_impersonation`]);
      expect(set.account?.username).toBe(emulator.user.username);
      expect(set.refreshToken).toEqual(expect.any(String));
      expect(claims(set.accessToken).upn ?? claims(set.accessToken).unique_name).toBe(emulator.user.username);
      expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
      // The debug log shows the token request, never what went in or came out of it.
      expect(logger.lines.some((l) => l.startsWith('debug POST '))).toBe(true);
      for (const secret of [emulator.user.password, emulator.client.clientSecret, set.accessToken, set.refreshToken!]) expect(logger.lines.join('\n')).not.toContain(secret);
    });

    it('100 concurrent calls on a cold cache make one request', async () => {
      const p = userProvider({ tokenUrl: emulator.tokenUrlV2 });
      await Promise.all(Array.from({ length: 100 }, () => p.getToken()));
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
    });

    it('refreshes with the refresh token, and signs in again when the refresh token is revoked', async () => {
      const p = userProvider();
      const first = await p.getToken();
      const refreshed = await p.getToken({ forceRefresh: true });
      expect(refreshed.token).not.toBe(first.token);
      expect(emulator.counters.tokenRequests).toEqual({ password: 1, refresh_token: 1 });

      emulator.revokeRefreshTokens();
      const again = await p.getToken({ forceRefresh: true });
      expect(again.token).not.toBe(refreshed.token);
      expect(emulator.counters.tokenRequests).toEqual({ password: 2, refresh_token: 2 });
    });

    it('throws AuthenticationError with AADSTS50126 for a wrong password, never showing it', async () => {
      const password = 'Not-The-Password-!234';
      const logger = captureLogger();
      const p = userProvider({ password, logger });
      const err = (await p.getToken().catch((e: unknown) => e)) as AuthenticationError;
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.entraErrorCodes).toContain(50126);
      expect(err.correlationId).toBeTruthy();
      const everything = leakSurface(err, logger);
      expect(everything).not.toContain(password);
      expect(everything).not.toContain(emulator.client.clientSecret);
    });
  });

  describe('expiry', () => {
    let shortLived: Emulator;
    beforeAll(async () => {
      // 301 s: inside MSAL's 300 s renewal window at most two seconds after issue (MSAL compares
      // whole seconds: expired when nowSeconds + 300 > floor(requestTime) + expires_in).
      shortLived = await startTestEmulator({ tokenLifetimeSeconds: 301 });
    });
    afterAll(() => shortLived.close());

    it('refreshes near expiry, then signs in again with the password when the refresh token is revoked', async () => {
      const logger = captureLogger();
      const p = provider({
        tokenUrl: shortLived.tokenUrl,
        clientId: shortLived.client.clientId,
        clientSecret: shortLived.client.clientSecret,
        username: shortLived.user.username,
        password: shortLived.user.password,
        resource: shortLived.url,
        ca: shortLived.caPem,
        logger,
      });
      const first = await p.getToken();
      expect((await p.getToken()).token).toBe(first.token);
      expect(shortLived.counters.tokenRequests).toEqual({ password: 1 });

      await sleep(2100);
      const second = await Promise.all(Array.from({ length: 10 }, () => p.getToken()));
      expect(second[0].token).not.toBe(first.token);
      expect(shortLived.counters.tokenRequests).toEqual({ password: 1, refresh_token: 1 });

      shortLived.revokeRefreshTokens();
      await sleep(2100);
      const third = await p.getToken();
      expect(third.token).not.toBe(second[0].token);
      expect(shortLived.counters.tokenRequests).toEqual({ password: 2, refresh_token: 2 });
      expect(logger.lines.some((l) => l.startsWith('warn Refreshing the user token failed'))).toBe(true);
      for (const secret of [shortLived.user.password, shortLived.client.clientSecret, first.token, third.token]) {
        expect(logger.lines.join('\n')).not.toContain(secret);
      }
    });
  });

  describe('refresh_token grant', () => {
    it('starts from a refresh token, caches the account (forceCache) and then works silently', async () => {
      const seed = await provider({ username: emulator.user.username, password: emulator.user.password }).getTokenSet();
      emulator.resetCounters();
      const logger = captureLogger();
      const p = provider({ refreshToken: seed.refreshToken, logger });
      expect(p.grant).toBe('refresh_token');
      const set = await p.getTokenSet();
      expect(set.account?.username).toBe(emulator.user.username);
      expect((await p.getToken()).token).toBe(set.accessToken);
      expect(emulator.counters.tokenRequests).toEqual({ refresh_token: 1 });
      // The rotated refresh token from the cache keeps working.
      const rotated = await p.getTokenSet({ forceRefresh: true });
      expect(emulator.counters.tokenRequests).toEqual({ refresh_token: 2 });
      for (const secret of [seed.refreshToken!, rotated.refreshToken!, set.accessToken, rotated.accessToken, emulator.client.clientSecret]) expect(logger.lines.join('\n')).not.toContain(secret);
    });

    it('throws AuthenticationError when the refresh token is refused and nothing else is configured', async () => {
      const logger = captureLogger();
      const p = provider({ refreshToken: 'not-a-real-refresh-token-abcdef', logger });
      const err = (await p.getToken().catch((e: unknown) => e)) as AuthenticationError;
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.entraErrorCodes?.length).toBeGreaterThan(0);
      expect(emulator.counters.tokenRequests).toEqual({ refresh_token: 1 });
      const everything = leakSurface(err, logger);
      expect(everything).not.toContain('not-a-real-refresh-token-abcdef');
      expect(everything).not.toContain(emulator.client.clientSecret);
    });
  });

  describe('token endpoint failures', () => {
    it('retries a 429 honouring Retry-After, then succeeds', async () => {
      const logger = captureLogger();
      emulator.injectFault({ route: 'token', fault: { status: 429, retryAfterSeconds: 1 }, count: 2 });
      const t = await provider({ logger }).getToken();
      expect(t.token).toBeTruthy();
      const retries = logger.lines.filter((l) => l.startsWith('warn Token endpoint answered 429'));
      expect(retries).toHaveLength(2);
      // Retry-After (1 s) plus the jitter of up to 10% that the Web API adds too (src/net/retry.ts).
      const delay = Number(/"delayInMs":(\d+)/.exec(retries[0])?.[1]);
      expect(delay).toBeGreaterThanOrEqual(1000);
      expect(delay).toBeLessThanOrEqual(1100);
    });

    it('retries 5xx and an HTML gateway page with backoff', async () => {
      emulator.injectFault({ route: 'token', fault: { status: 502, html: true }, count: 1 });
      emulator.injectFault({ route: 'token', fault: { status: 503 }, count: 1 });
      const t = await provider({ retry: { retryDelayInMs: 10 } }).getToken();
      expect(t.token).toBeTruthy();
      expect(emulator.counters.tokenRequests.client_credentials).toBe(1);
    });

    it('gives up with ThrottledError after maxRetries, and MSAL does not keep failing without I/O afterwards', async () => {
      emulator.injectFault({ route: 'token', fault: { status: 429, retryAfterSeconds: 0 }, count: 3 });
      const p = provider({ retry: { maxRetries: 1, retryDelayInMs: 10 } });
      const err = await p.getToken().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ThrottledError);
      expect((err as ThrottledError).status).toBe(429);
      expect(leakSurface(err)).not.toContain(emulator.client.clientSecret);
      // One more 429 is queued; it is retried and the next attempt succeeds: MSAL's own throttle
      // cache (which would fail for 60 s without I/O) never saw the 429.
      const t = await p.getToken();
      expect(t.token).toBeTruthy();
      expect(emulator.counters.tokenRequests.client_credentials).toBe(1);
    });

    it('does not wait for a Retry-After longer than maxRetryAfterInMs', async () => {
      emulator.injectFault({ route: 'token', fault: { status: 429, retryAfterSeconds: 3600 }, count: 1 });
      const err = (await provider().getToken().catch((e: unknown) => e)) as ThrottledError;
      expect(err).toBeInstanceOf(ThrottledError);
      expect(err.retryAfterInMs).toBe(3600_000);
    });

    it('reports a connection failure as a NetworkError-coded error after retries', async () => {
      const logger = captureLogger();
      const p = provider({ tokenUrl: 'https://127.0.0.1:1/tenant/oauth2/token', retry: { maxRetries: 1, retryDelayInMs: 10 }, logger });
      const err = (await p.getToken().catch((e: unknown) => e)) as AuthenticationError;
      // MSAL fails first on the authority's metadata; the transport failure is the cause.
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.code).toBe('network_error');
      expect(err.cause).toBeInstanceOf(NetworkError);
      expect((err.cause as NetworkError).request?.url).toMatch(/^https:\/\/127\.0\.0\.1:1\/tenant\//);
      expect(leakSurface(err, logger)).not.toContain(emulator.client.clientSecret);
    });

    it('a caller can abort its wait without cancelling the shared request', async () => {
      emulator.injectFault({ route: 'token', fault: { delayInMs: 300 }, count: 1 });
      const p = provider();
      const controller = new AbortController();
      const aborted = p.getToken({ abortSignal: controller.signal });
      const other = p.getToken();
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ code: 'aborted' });
      expect((await other).token).toBeTruthy();
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
    });
  });

  describe('environment and network', () => {
    it('works from loadAuthConfig(emulator.env(caFile)) (the @edirect/dynamics variables)', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-env-'));
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, emulator.caPem);
      try {
        const config = loadAuthConfig(emulator.env(caFile));
        expect(config.grant).toBe('password');
        const p = new MsalTokenProvider(config);
        providers.push(p);
        expect((await p.getTokenSet()).account?.username).toBe(emulator.user.username);
        expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('sends token requests through an HTTP CONNECT proxy', async () => {
      const tunnels: string[] = [];
      const proxy = http.createServer((_req, res) => res.writeHead(405).end());
      proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
        tunnels.push(String(req.url));
        const [host, port] = String(req.url).split(':');
        const upstream = net.connect(Number(port), host, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      try {
        const { port } = proxy.address() as net.AddressInfo;
        const p = provider({ proxy: `http://127.0.0.1:${port}` });
        expect((await p.getToken()).token).toBeTruthy();
        p.close();
        expect(tunnels.length).toBeGreaterThanOrEqual(1);
        expect(tunnels[0]).toBe(new URL(emulator.url).host);
      } finally {
        proxy.closeAllConnections?.();
        await new Promise((r) => proxy.close(r));
      }
    });
  });

  describe('configuration errors', () => {
    it('lists every invalid option by name, without secret values', () => {
      let err: ConfigurationError | undefined;
      try {
        new MsalTokenProvider({
          tokenUrl: 'http://login.example/tenant/oauth2/token',
          clientId: 'not-a-guid',
          clientSecret: 'top-secret-value',
          username: 'someone',
          resource: 'ftp://x',
        } as MsalTokenProviderOptions);
      } catch (e) {
        err = e as ConfigurationError;
      }
      expect(err).toBeInstanceOf(ConfigurationError);
      const names = err!.issues.map((i) => i.name);
      expect(names).toEqual(expect.arrayContaining(['clientId', 'tokenUrl', 'password', 'resource']));
      expect(leakSurface(err)).not.toContain('top-secret-value');
    });
  });
});
