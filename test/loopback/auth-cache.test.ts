/**
 * Token cache persistence: serialize/deserialize, the file cache shared by two processes, and
 * the Redis cache shared by two providers (a real redis-server).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';
import type { Emulator } from '../../src/emulator';
import { MsalTokenProvider, fileTokenCache, redisTokenCache, type MsalTokenProviderOptions } from '../../src/auth';

const CLIENT_A = { clientId: '0a0a0a0a-1111-4222-8333-444444444444', clientSecret: 'secret-a-0123456789' };
const CLIENT_B = { clientId: '0b0b0b0b-1111-4222-8333-555555555555', clientSecret: 'secret-b-0123456789' };

describe('token cache persistence', () => {
  let emulator: Emulator;
  let dir: string;
  const providers: MsalTokenProvider[] = [];

  beforeAll(async () => {
    emulator = await startTestEmulator({ clients: [CLIENT_A, CLIENT_B] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-auth-cache-'));
  });
  afterAll(async () => {
    for (const p of providers) p.close();
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => emulator.resetCounters());

  function provider(extra: Partial<MsalTokenProviderOptions> = {}): MsalTokenProvider {
    const p = new MsalTokenProvider({ tokenUrl: emulator.tokenUrl, ...CLIENT_A, resource: emulator.url, ca: emulator.caPem, ...extra });
    providers.push(p);
    return p;
  }

  describe('serializeCache / deserializeCache', () => {
    it.each([
      ['client credentials', false],
      ['password', true],
    ])('a new provider fed the serialized cache makes 0 token requests (%s)', async (_name, withUser) => {
      const user = withUser ? { username: emulator.user.username, password: emulator.user.password } : {};
      const first = provider(user);
      const token = await first.getToken();
      const json = await first.serializeCache();
      expect(JSON.parse(json)).toHaveProperty('AccessToken');
      emulator.resetCounters();

      const second = provider(user);
      await second.deserializeCache(json);
      expect((await second.getToken()).token).toBe(token.token);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
    });

    it('rejects text that is not a serialized cache', async () => {
      await expect(provider().deserializeCache('not json')).rejects.toThrow(/deserializeCache/);
    });

    it('clearCache forgets the tokens', async () => {
      const p = provider();
      await p.getToken();
      await p.clearCache();
      await p.getToken();
      expect(emulator.counters.tokenRequestsTotal).toBe(2);
    });
  });

  describe('fileTokenCache', () => {
    it('persists across providers with mode 0600, and a corrupt file is treated as empty with a warning', async () => {
      const file = path.join(dir, 'single', 'cache.json');
      const token = await provider({ cache: fileTokenCache(file) }).getToken();
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      emulator.resetCounters();
      expect((await provider({ cache: fileTokenCache(file) }).getToken()).token).toBe(token.token);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);

      fs.writeFileSync(file, '{"AccessToken": {tru');
      const warnings: string[] = [];
      const logger = { error: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m) };
      const fresh = await provider({ cache: fileTokenCache(file, { logger }) }).getToken();
      expect(fresh.token).not.toBe(token.token);
      expect(warnings.some((w) => /corrupt/.test(w))).toBe(true);
      expect(() => JSON.parse(fs.readFileSync(file, 'utf8'))).not.toThrow();
    });

    it('removes an abandoned lock after staleLockInMs', async () => {
      const file = path.join(dir, 'stale', 'cache.json');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(`${file}.lock`, '99999:dead');
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(`${file}.lock`, old, old);
      await provider({ cache: fileTokenCache(file, { staleLockInMs: 1000 }) }).getToken();
      expect(fs.existsSync(`${file}.lock`)).toBe(false);
      expect(fs.existsSync(file)).toBe(true);
    });

    it('is shared by two processes writing at once without losing an update', async () => {
      const file = path.join(dir, 'shared', 'cache.json');
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, emulator.caPem);
      const script = path.join(dir, 'child.ts');
      const src = path.resolve(__dirname, '../../src/auth');
      fs.writeFileSync(
        script,
        `import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { MsalTokenProvider, fileTokenCache } from ${JSON.stringify(src)};
(async () => {
  const p = new MsalTokenProvider({
    tokenUrl: process.env.T_URL!, clientId: process.env.T_ID!, clientSecret: process.env.T_SECRET!,
    resource: process.env.T_RES!, ca: readFileSync(process.env.T_CA!, 'utf8'), cache: fileTokenCache(process.env.T_FILE!),
  });
  let last = '';
  for (let i = 0; i < 15; i++) last = (await p.getToken({ forceRefresh: true })).token;
  p.close();
  process.stdout.write(createHash('sha256').update(last).digest('hex'));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`,
      );
      const run = (client: typeof CLIENT_A): Promise<string> =>
        new Promise((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script], {
            cwd: path.resolve(__dirname, '../..'),
            env: { ...process.env, T_URL: emulator.tokenUrl, T_ID: client.clientId, T_SECRET: client.clientSecret, T_RES: emulator.url, T_CA: caFile, T_FILE: file },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          let err = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}: ${err}`))));
        });

      const [hashA, hashB] = await Promise.all([run(CLIENT_A), run(CLIENT_B)]);
      expect(emulator.counters.tokenRequests.client_credentials).toBe(30);

      const cache = JSON.parse(fs.readFileSync(file, 'utf8')) as { AccessToken: Record<string, { client_id: string; secret: string }> };
      const byClient = new Map(Object.values(cache.AccessToken).map((e) => [e.client_id, createHash('sha256').update(e.secret).digest('hex')]));
      // Each process's last token is in the file: neither overwrote the other's final update.
      expect(byClient.get(CLIENT_A.clientId)).toBe(hashA);
      expect(byClient.get(CLIENT_B.clientId)).toBe(hashB);
      expect(fs.readdirSync(path.dirname(file))).toEqual(['cache.json']);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);

      emulator.resetCounters();
      await provider({ ...CLIENT_B, cache: fileTokenCache(file) }).getToken();
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
    }, 120_000);
  });

  const describeRedis = describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not on PATH (.ci/run installs it with apt)');
  describeRedis('redisTokenCache (real redis-server)', () => {
    let redisServer: TestRedis;
    let clients: Redis[] = [];
    beforeAll(async () => {
      redisServer = await startRedis();
    });
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      clients = [];
      await redisServer.stop();
    });
    function connect(): Redis {
      const c = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
      clients.push(c);
      return c;
    }

    it('two app instances share client-credential tokens: the second makes 0 token requests', async () => {
      const token = await provider({ cache: redisTokenCache(connect(), { keyPrefix: 'app-test:' }) }).getToken();
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
      const second = provider({ cache: redisTokenCache(connect(), { keyPrefix: 'app-test:' }) });
      expect((await second.getToken()).token).toBe(token.token);
      expect(emulator.counters.tokenRequestsTotal).toBe(1);
      const keys = await connect().keys('app-test:*');
      expect(keys).toEqual([`app-test:app:${CLIENT_A.clientId}.${emulator.tenantId}`]);
    });

    it('user tokens are partitioned by account, found again from the user name', async () => {
      const user = { username: emulator.user.username, password: emulator.user.password };
      const first = await provider({ ...user, cache: redisTokenCache(connect(), { keyPrefix: 'user-test:' }) }).getTokenSet();
      await provider({ cache: redisTokenCache(connect(), { keyPrefix: 'user-test:' }) }).getToken();
      emulator.resetCounters();
      const second = await provider({ ...user, cache: redisTokenCache(connect(), { keyPrefix: 'user-test:' }) }).getTokenSet();
      expect(second.accessToken).toBe(first.accessToken);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
      const keys = (await connect().keys('user-test:*')).sort();
      expect(keys).toContain(`user-test:user:${CLIENT_A.clientId}:${first.account!.homeAccountId}`);
      expect(keys).toContain(`user-test:app:${CLIENT_A.clientId}.${emulator.tenantId}`);
      // The app-only token never lands in the user's blob.
      const blob = JSON.parse((await connect().get(`user-test:user:${CLIENT_A.clientId}:${first.account!.homeAccountId}`))!) as { AccessToken: Record<string, { target: string }> };
      expect(Object.values(blob.AccessToken).every((t) => !t.target.includes('.default'))).toBe(true);
      expect(keys.some((k) => k.includes(emulator.user.username))).toBe(false);
    });
  });
});
