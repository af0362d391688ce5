/**
 * A token cache that cannot be used never breaks authentication (issue 11, item 13): a cache file or
 * Redis value MSAL cannot read, a file that cannot be read or written, a lock that cannot be taken,
 * a Redis that answers errors. Each logs one warning (not one per call) and the provider carries on
 * with its tokens in memory; a broken file is rewritten with the next token.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { MsalTokenProvider, fileTokenCache, redisTokenCache, type MsalTokenProviderOptions } from '../../src/auth';
import { ConfigurationError } from '../../src/errors';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { redisServerAvailable, startRedis, type TestRedis } from '../helpers/redis';

const CLIENT = { clientId: '0c0c0c0c-1111-4222-8333-666666666666', clientSecret: 'secret-c-0123456789' };

/** A logger that keeps its warnings. */
function recorder(): { warn: (m: string) => void; error: () => void; info: () => void; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => void warnings.push(m), error: () => undefined, info: () => undefined };
}

/** A cache entry of each section with the wrong shape: what MSAL's deserializer cannot take. */
const ILL_SHAPED = [
  ['a null access token (the reported case)', { AccessToken: { k: null } }],
  ['an access token whose fields have the wrong types', { AccessToken: { k: { home_account_id: '', environment: 1, credential_type: 'AccessToken', client_id: [], secret: {}, realm: 'r', target: 't', cached_at: 'x', expires_on: 'soon' } } }],
  ['sections that are not maps', { Account: [1, 2], IdToken: 'x', AccessToken: 5, RefreshToken: null, AppMetadata: true }],
  ['an account whose tenant profiles are not JSON', { Account: { a: { home_account_id: 'h', environment: 'e', realm: 'r', local_account_id: 'l', username: 'u', authority_type: 'MSSTS', tenantProfiles: ['{nope'] } } }],
  ['a top-level array', [{ AccessToken: {} }]],
  ['a JSON string', 'cache'],
] as const;

describe('token caches that cannot be used', () => {
  let emulator: Emulator;
  let dir: string;
  const providers: MsalTokenProvider[] = [];

  beforeAll(async () => {
    emulator = await startTestEmulator({ clients: [CLIENT] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-cache-broken-'));
  });
  afterAll(async () => {
    for (const p of providers) p.close();
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => emulator.resetCounters());

  function provider(extra: Partial<MsalTokenProviderOptions>): MsalTokenProvider {
    const p = new MsalTokenProvider({ tokenUrl: emulator.tokenUrl, ...CLIENT, resource: emulator.url, ca: emulator.caPem, ...extra });
    providers.push(p);
    return p;
  }

  describe('fileTokenCache', () => {
    it.each(ILL_SHAPED)('a file holding %s: tokens are served, one warning, and the file is rewritten', async (_what, content) => {
      const file = path.join(dir, `ill-${Math.random().toString(36).slice(2)}`, 'cache.json');
      fs.mkdirSync(path.dirname(file));
      fs.writeFileSync(file, JSON.stringify(content));
      const logger = recorder();
      const p = provider({ cache: fileTokenCache(file, { logger }) });
      const first = await p.getToken();
      await p.getToken({ forceRefresh: true });
      expect(first.token).toBeTruthy();
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toMatch(/Token cache file (is corrupt|has \d+ entr(y|ies) MSAL cannot read)/);
      // Rewritten: a new provider on the same file finds the token and asks for none.
      emulator.resetCounters();
      const again = provider({ cache: fileTokenCache(file) });
      expect((await again.getToken()).token).toBeTruthy();
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
    });

    it('keeps the entries MSAL can read beside those it cannot', async () => {
      const file = path.join(dir, 'mixed', 'cache.json');
      const token = await provider({ cache: fileTokenCache(file) }).getToken();
      const cache = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
      cache.AccessToken!['garbage'] = null;
      cache.RefreshToken = { broken: { secret: 1 } };
      fs.writeFileSync(file, JSON.stringify(cache));
      emulator.resetCounters();
      const logger = recorder();
      expect((await provider({ cache: fileTokenCache(file, { logger }) }).getToken()).token).toBe(token.token);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
      expect(logger.warnings).toEqual([expect.stringMatching(/has 2 entries MSAL cannot read/)]);
    });

    it('a directory where the file should be: tokens are served from memory, warnings are not repeated per call', async () => {
      const file = path.join(dir, 'is-a-directory');
      fs.mkdirSync(file);
      const logger = recorder();
      const p = provider({ cache: fileTokenCache(file, { logger }) });
      await p.getToken();
      const afterFirst = logger.warnings.length;
      expect(afterFirst).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) await p.getToken({ forceRefresh: true });
      expect(logger.warnings).toHaveLength(afterFirst);
      expect(logger.warnings.join('\n')).toMatch(/cannot be (read|written); carrying on with the tokens in memory/);
      expect(fs.statSync(file).isDirectory()).toBe(true);
    });

    it('a lock that cannot be taken (a directory in its place): no write, no failure, one warning', async () => {
      const file = path.join(dir, 'locked', 'cache.json');
      fs.mkdirSync(`${file}.lock`, { recursive: true });
      const logger = recorder();
      const p = provider({ cache: fileTokenCache(file, { logger, lockTimeoutInMs: 200, staleLockInMs: 0 }) });
      await p.getToken();
      await p.getToken({ forceRefresh: true });
      expect(logger.warnings).toEqual(['Removing an abandoned token cache lock', expect.stringMatching(/The token cache lock cannot be taken; carrying on with the tokens in memory/)]);
      expect(fs.existsSync(file)).toBe(false);
    });

    it('a cache folder below a regular file (ENOTDIR everywhere): tokens are served', async () => {
      const blocker = path.join(dir, 'blocker');
      fs.writeFileSync(blocker, 'not a folder');
      const logger = recorder();
      const p = provider({ cache: fileTokenCache(path.join(blocker, 'cache.json'), { logger }) });
      await p.getToken();
      await p.getToken({ forceRefresh: true });
      expect(logger.warnings.length).toBeGreaterThan(0);
      expect(logger.warnings.length).toBeLessThanOrEqual(2);
    });

    it('a read-only cache folder (as an unprivileged user): tokens are served, one warning for every call', async () => {
      const roDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-cache-ro-'));
      try {
        const cacheDir = path.join(roDir, 'cache');
        fs.mkdirSync(cacheDir);
        const caFile = path.join(roDir, 'ca.pem');
        fs.writeFileSync(caFile, emulator.caPem);
        const script = path.join(roDir, 'child.ts');
        fs.writeFileSync(
          script,
          `import { readFileSync } from 'node:fs';
import { MsalTokenProvider, fileTokenCache } from ${JSON.stringify(path.resolve(__dirname, '../../src/auth'))};
(async () => {
  const warnings: string[] = [];
  const logger = { warn: (m: string) => void warnings.push(m), error: () => undefined, info: () => undefined };
  const p = new MsalTokenProvider({
    tokenUrl: process.env.T_URL!, clientId: process.env.T_ID!, clientSecret: process.env.T_SECRET!,
    resource: process.env.T_RES!, ca: readFileSync(process.env.T_CA!, 'utf8'), cache: fileTokenCache(process.env.T_FILE!, { logger }),
  });
  const tokens: boolean[] = [];
  let error: string | undefined;
  try {
    for (let i = 0; i < 3; i++) tokens.push(Boolean((await p.getToken({ forceRefresh: i > 0 })).token));
  } catch (e) {
    error = String((e as Error).message);
  }
  p.close();
  process.stdout.write(JSON.stringify({ tokens, warnings, error }));
})();
`,
        );
        // Root ignores permissions: the child runs as nobody then, as an application would.
        const root = process.getuid?.() === 0;
        fs.chmodSync(roDir, 0o755);
        fs.chmodSync(cacheDir, 0o555);
        if (root) fs.chmodSync(caFile, 0o644);
        fs.chmodSync(script, 0o644);
        const out = await new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script], {
            cwd: path.resolve(__dirname, '../..'),
            env: { ...process.env, HOME: roDir, T_URL: emulator.tokenUrl, T_ID: CLIENT.clientId, T_SECRET: CLIENT.clientSecret, T_RES: emulator.url, T_CA: caFile, T_FILE: path.join(cacheDir, 'cache.json') },
            stdio: ['ignore', 'pipe', 'pipe'],
            ...(root ? { uid: 65534, gid: 65534 } : {}),
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`))));
        });
        const result = JSON.parse(out) as { tokens: boolean[]; warnings: string[]; error?: string };
        expect(result).toEqual({ tokens: [true, true, true], warnings: [expect.stringMatching(/cannot be taken|cannot be written/)] });
        expect(fs.readdirSync(cacheDir)).toEqual([]);
      } finally {
        fs.chmodSync(path.join(roDir, 'cache'), 0o755);
        fs.rmSync(roDir, { recursive: true, force: true });
      }
    }, 60_000);
  });

  it('deserializeCache refuses entries MSAL cannot read with a ConfigurationError, not a TypeError', async () => {
    const p = provider({});
    for (const [, content] of ILL_SHAPED) {
      const err = await p.deserializeCache(JSON.stringify(content)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as Error).message).toMatch(/deserializeCache\(json\): expected the JSON text returned by serializeCache\(\)/);
    }
  });

  const describeRedis = describeIfAvailable(redisServerAvailable() ? undefined : 'redis-server is not on PATH (.ci/run installs it with apt)');
  describeRedis('redisTokenCache (real redis-server)', () => {
    let server: TestRedis;
    const clients: Redis[] = [];
    beforeAll(async () => {
      server = await startRedis();
    });
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await server.stop();
    });
    function connect(url = server.url): Redis {
      const c = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    }
    const appKey = (prefix: string): string => `${prefix}app:${CLIENT.clientId}.${emulator.tenantId}`;

    it.each(ILL_SHAPED)('a blob holding %s: tokens are served, one warning, the blob is overwritten', async (_what, content) => {
      const prefix = `ill-${Math.random().toString(36).slice(2)}:`;
      await connect().set(appKey(prefix), JSON.stringify(content));
      const logger = recorder();
      const p = provider({ cache: redisTokenCache(connect(), { keyPrefix: prefix, logger }) });
      await p.getToken();
      await p.getToken({ forceRefresh: true });
      expect(logger.warnings).toEqual([expect.stringMatching(/Token cache entry in Redis (is corrupt|has \d+ entr(y|ies) MSAL cannot read)/)]);
      emulator.resetCounters();
      await provider({ cache: redisTokenCache(connect(), { keyPrefix: prefix }) }).getToken();
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
    });

    it('a key of the wrong type (WRONGTYPE on GET and SET … of a hash): tokens are served from memory', async () => {
      const prefix = 'wrongtype:';
      await connect().hset(appKey(prefix), 'field', 'value');
      const logger = recorder();
      const p = provider({ cache: redisTokenCache(connect(), { keyPrefix: prefix, logger }) });
      for (let i = 0; i < 3; i++) expect((await p.getToken({ forceRefresh: i > 0 })).token).toBeTruthy();
      expect(logger.warnings).toEqual([expect.stringMatching(/The token cache in Redis cannot be read; carrying on with the tokens in memory/)]);
    });

    it('a read-only Redis (READONLY on SET): tokens are served and kept in memory, one warning', async () => {
      const admin = connect();
      const prefix = 'readonly:';
      // A replica of a master that does not exist refuses writes (READONLY) and still answers reads.
      await admin.call('REPLICAOF', '127.0.0.1', '1');
      try {
        const logger = recorder();
        const p = provider({ cache: redisTokenCache(connect(), { keyPrefix: prefix, logger }) });
        const first = await p.getToken();
        await p.getToken({ forceRefresh: true });
        expect(first.token).toBeTruthy();
        expect(logger.warnings).toEqual([expect.stringMatching(/The token cache in Redis cannot be written; carrying on with the tokens in memory/)]);
      } finally {
        await admin.call('REPLICAOF', 'NO', 'ONE');
      }
    });

    it('a Redis that is down: tokens are served, one warning however many calls', async () => {
      const down = await startRedis();
      const client = connect(down.url);
      await client.ping();
      await down.stop();
      const logger = recorder();
      const p = provider({ cache: redisTokenCache(client, { keyPrefix: 'down:', logger }) });
      for (let i = 0; i < 3; i++) expect((await p.getToken({ forceRefresh: i > 0 })).token).toBeTruthy();
      expect(logger.warnings.length).toBeGreaterThan(0);
      expect(logger.warnings.length).toBeLessThanOrEqual(2);
      expect(logger.warnings.join('\n')).toMatch(/cannot be (read|written); carrying on with the tokens in memory/);
    }, 30_000);
  });
});
