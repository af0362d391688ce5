/**
 * No secret reachable from any object the library hands out: every public class and factory is
 * built with marker secrets (client secret, password, refresh token, certificate key), runs one real
 * token acquisition against the emulator through MSAL, and is then rendered every way a logger, an
 * error reporter or a framework's debug dump would (./helpers/secrets.ts). Neither the markers nor
 * the access and refresh tokens that were issued may appear, nor in any debug-level log line.
 */
import { generateKeyPairSync, createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  DynamicsClient,
  DynamicsService,
  MsalTokenProvider,
  fileTokenCache,
  fromTokenCredential,
  redisThrottle,
  redisTokenCache,
  type TokenProvider,
} from '../../src';
import Redis from 'ioredis';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';
import { leaks, recordingLogger } from '../helpers/secrets';

const SECRET = 'SECRET-MARKER-3f9c1a7e-client-secret';
const PASSWORD = 'PASSWORD-MARKER-8d2b6c40-user-password';
const CLIENT_ID = '5b7e2f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b';

describe('no secret reachable from library objects', () => {
  let emulator: Emulator;
  const issued = new Set<string>();
  const markers = (): string[] => [SECRET, PASSWORD, ...issued];

  beforeAll(async () => {
    emulator = await startTestEmulator({
      clients: [{ clientId: CLIENT_ID, clientSecret: SECRET }],
      users: [{ username: 'ada@contoso.example', password: PASSWORD }],
    });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  function base() {
    return { tenantId: emulator.tenantId, authorityHost: emulator.url, clientId: CLIENT_ID, resource: emulator.url, ca: emulator.caPem };
  }

  async function acquire(provider: TokenProvider): Promise<void> {
    const token = await provider.getToken();
    expect(token.token.length).toBeGreaterThan(20);
    issued.add(token.token);
  }

  it('the markers are really used: the emulator refuses a wrong secret, so a passing scan is not a scan of unused values', async () => {
    const wrong = new MsalTokenProvider({ ...base(), clientSecret: `${SECRET}-wrong` });
    await expect(wrong.getToken()).rejects.toMatchObject({ name: 'AuthenticationError' });
    wrong.close();
  });

  it('MsalTokenProvider (client credentials), with its debug log', async () => {
    const log = recordingLogger();
    const provider = new MsalTokenProvider({ ...base(), clientSecret: SECRET, logger: log.logger });
    await acquire(provider);
    expect(log.lines.length).toBeGreaterThan(0);
    expect(leaks(provider, markers())).toEqual([]);
    expect(log.lines.filter((line) => markers().some((m) => line.includes(m)))).toEqual([]);
    provider.close();
  });

  it('MsalTokenProvider (password grant) and the refresh token it holds, then one built from that refresh token', async () => {
    const log = recordingLogger();
    const provider = new MsalTokenProvider({ ...base(), clientSecret: SECRET, username: 'ada@contoso.example', password: PASSWORD, logger: log.logger });
    const set = await provider.getTokenSet();
    issued.add(set.accessToken);
    expect(set.refreshToken).toEqual(expect.any(String));
    issued.add(set.refreshToken as string);
    expect(leaks(provider, markers())).toEqual([]);

    const fromRefresh = new MsalTokenProvider({ ...base(), clientSecret: SECRET, refreshToken: set.refreshToken, logger: log.logger });
    await acquire(fromRefresh);
    expect(leaks(fromRefresh, markers())).toEqual([]);
    expect(log.lines.filter((line) => markers().some((m) => line.includes(m)))).toEqual([]);
    provider.close();
    fromRefresh.close();
  });

  it('MsalTokenProvider with a certificate: the private key is not reachable', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const keyMarker = pem.split('\n')[5];
    const provider = new MsalTokenProvider({ ...base(), clientCertificate: { thumbprintSha256: createHash('sha256').update('cert').digest('hex'), privateKey: pem } });
    expect(keyMarker.length).toBeGreaterThan(40);
    expect(leaks(provider, [keyMarker])).toEqual([]);
    provider.close();
    void X509Certificate;
  });

  it('DynamicsClient built from MSAL options and from a provider', async () => {
    const fromOptions = new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: { tenantId: emulator.tenantId, authorityHost: emulator.url, clientId: CLIENT_ID, clientSecret: SECRET } });
    const who = await fromOptions.callFunction<{ UserId: string }>('WhoAmI');
    expect(who.UserId).toEqual(expect.any(String));
    expect(leaks(fromOptions, markers())).toEqual([]);
    fromOptions.close();

    const provider = new MsalTokenProvider({ ...base(), clientSecret: SECRET });
    const fromProvider = new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: provider });
    await fromProvider.callFunction('WhoAmI');
    expect(leaks(fromProvider, markers())).toEqual([]);
    fromProvider.close();
    provider.close();
  });

  it('DynamicsService with a password and a secret, after a call', async () => {
    const log = recordingLogger();
    const service = new DynamicsService({
      enabled: true,
      tokenUrl: emulator.tokenUrl,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      username: 'ada@contoso.example',
      password: PASSWORD,
      resource: emulator.url,
      ca: emulator.caPem,
      logger: log.logger,
    });
    const page = (await service.get('api/data/v9.2/accounts?$top=1')) as { value: unknown[] };
    expect(Array.isArray(page.value)).toBe(true);
    const token = await service.getAccessToken();
    issued.add(token as unknown as string);
    expect(leaks(service, markers())).toEqual([]);
    expect(log.lines.filter((line) => markers().some((m) => line.includes(m)))).toEqual([]);
    await service.close();
  });

  it('fromTokenCredential: the token it caches is not reachable', async () => {
    const token = `eyJ0eXAiOiJKV1QifQ.${Buffer.from('{"credential":"marker"}').toString('base64url')}.CREDENTIAL-TOKEN-MARKER`;
    const provider = fromTokenCredential({ getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) }, { scopes: [`${emulator.url}/.default`] });
    expect((await provider.getToken()).token).toBe(token);
    expect(leaks(provider, [token, 'CREDENTIAL-TOKEN-MARKER'])).toEqual([]);
  });

  it('fileTokenCache after an acquisition: the cache contents are not reachable from the plugin', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'secrets-cache-'));
    try {
      const cache = fileTokenCache(path.join(dir, 'cache.json'));
      const provider = new MsalTokenProvider({ ...base(), clientSecret: SECRET, username: 'ada@contoso.example', password: PASSWORD, cache });
      const set = await provider.getTokenSet();
      issued.add(set.accessToken);
      if (set.refreshToken) issued.add(set.refreshToken);
      expect(leaks(cache, markers())).toEqual([]);
      expect(leaks(provider, markers())).toEqual([]);
      provider.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not installed')('with Redis', () => {
    let redis: TestRedis;
    let client: Redis;

    beforeAll(async () => {
      redis = await startRedis();
      client = new Redis(redis.url);
    });

    afterAll(async () => {
      await client?.quit();
      await redis?.stop();
    });

    it('redisTokenCache after an acquisition: the cache contents are not reachable from the plugin', async () => {
      const cache = redisTokenCache(client);
      const provider = new MsalTokenProvider({ ...base(), clientSecret: SECRET, username: 'ada@contoso.example', password: PASSWORD, cache });
      const set = await provider.getTokenSet();
      issued.add(set.accessToken);
      if (set.refreshToken) issued.add(set.refreshToken);
      // The redis client itself is the application's: it is not the plugin's to hide.
      const withoutClient = leaks(cache, markers()).filter((where) => !where.startsWith('structuredClone'));
      expect(withoutClient).toEqual([]);
      expect(leaks(provider, markers())).toEqual([]);
      provider.close();
    });

    it('redisThrottle on a client, after calls: neither the tokens nor the secret are reachable from the client or the limiter', async () => {
      const throttle = redisThrottle({ redis: client, keyPrefix: 'secrets-test:' });
      const dynamics = new DynamicsClient({ url: emulator.url, ca: emulator.caPem, auth: { tenantId: emulator.tenantId, authorityHost: emulator.url, clientId: CLIENT_ID, clientSecret: SECRET }, throttle });
      const who = await dynamics.callFunction<{ UserId: string }>('WhoAmI');
      expect(who.UserId).toEqual(expect.any(String));
      // The limiter scopes by the token's identity: it must keep neither the token nor anything that contains it.
      const keys = await client.keys('secrets-test:*');
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(markers().some((m) => key.includes(m))).toBe(false);
      expect(leaks(dynamics, markers())).toEqual([]);
      expect(leaks(throttle, markers()).filter((where) => !where.startsWith('structuredClone'))).toEqual([]);
      dynamics.close();
    });

    it('DynamicsService with DYNAMICS_REDIS_URL carrying a password: the Redis password is not reachable and not logged', async () => {
      const REDIS_PASSWORD = 'REDIS-PASSWORD-MARKER-61c0d2';
      const log = recordingLogger();
      const url = new URL(redis.url);
      const service = new DynamicsService({
        env: {
          DYNAMICS_ENABLED: 'true',
          DYNAMICS_TOKEN_URL: emulator.tokenUrl,
          DYNAMICS_CLIENT_ID: CLIENT_ID,
          DYNAMICS_CLIENT_SECRET: SECRET,
          DYNAMICS_USER_NAME: 'ada@contoso.example',
          DYNAMICS_PASSWORD: PASSWORD,
          DYNAMICS_RESOURCE: emulator.url,
          // The test server has no password: ioredis warns and carries on, so the password stays in its options.
          DYNAMICS_REDIS_URL: `redis://:${REDIS_PASSWORD}@${url.host}`,
        },
        ca: emulator.caPem,
        logger: log.logger,
      });
      try {
        const page = (await service.get('api/data/v9.2/accounts?$top=1')) as { value: unknown[] };
        expect(Array.isArray(page.value)).toBe(true);
        // The Redis path really ran: the token cache and the limiter wrote their keys.
        expect((await client.keys('dynamics-odata:throttle:*')).length).toBeGreaterThan(0);
        expect((await client.keys('dynamics-odata:msal:*')).length).toBeGreaterThan(0);
        const all = [...markers(), REDIS_PASSWORD];
        expect(leaks(service, all)).toEqual([]);
        expect(log.lines.filter((line) => all.some((m) => line.includes(m)))).toEqual([]);
      } finally {
        await service.close();
      }
    });
  });
});
