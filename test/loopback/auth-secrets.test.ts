/**
 * No secret is reachable from an auth object. Every object of src/auth that holds a client secret,
 * a certificate key, a password, a proxy or Redis credential, a refresh token or an access token is
 * built with marker values, runs one real token acquisition against the emulator, and is then
 * rendered every way a logger, an error reporter or a framework's debug dump might render it.
 * None of the markers, and none of the tokens that were issued, may appear in any rendering or in
 * the debug-level log.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { ClientSecretCredential } from '@azure/identity';
import { startTestEmulator, tokenRequest } from '../helpers/emulator';
import type { Emulator } from '../../src/emulator';
import type { Logger } from '../../src/logger';
import {
  MsalTokenProvider,
  fileTokenCache,
  fromTokenCredential,
  redisTokenCache,
  type MsalTokenProviderOptions,
  type PartitionedCachePlugin,
  type RedisLike,
  type TokenCachePartition,
} from '../../src/auth';
import { HttpsNetworkClient } from '../../src/auth/networkClient';

const MARKER = {
  clientSecret: 'MARKER-CLIENT-SECRET-7f3a9c51',
  password: 'MARKER-USER-PASSWORD-5b1e02d7',
  proxyPassword: 'MARKER-PROXY-PASSWORD-44d1e8',
  redisPassword: 'MARKER-REDIS-PASSWORD-9e7c3b',
} as const;
const CLIENT = { clientId: '5ec0e7a1-1111-4222-8333-444444444444', clientSecret: MARKER.clientSecret };
const USER = { username: 'marker.user@contoso.onmicrosoft.com', password: MARKER.password };

/** Every way an object can end up in a log, an error report or a debug dump. */
function renderings(value: unknown): Array<[string, string]> {
  const deep = { depth: Infinity, showHidden: true, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity };
  const out: Array<[string, string]> = [
    ['util.inspect', inspect(value)],
    ['util.inspect deep + showHidden', inspect(value, deep)],
    ['JSON.stringify (cycle-safe, as pino and winston serialise)', safeStringify(value)],
    ['Object.keys', inspect(Object.keys(value as object), deep)],
    ['Object.entries', inspect(Object.entries(value as object), deep)],
    ['spread', inspect({ ...(value as object) }, deep)],
    ['JSON.stringify of the spread', safeStringify({ ...(value as object) })],
  ];
  try {
    out.push(['JSON.stringify', JSON.stringify(value) ?? '']);
  } catch {
    // A cycle: the cycle-safe rendering above stands in for it.
  }
  try {
    out.push(['structuredClone', inspect(structuredClone(value), deep)]);
  } catch {
    // Objects that carry functions or promises cannot be cloned: nothing escapes that way.
  }
  return out;
}

function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
        if (v instanceof Map) return Object.fromEntries(v);
        if (v instanceof Set) return [...v];
      }
      return v;
    }) ?? ''
  );
}

/** Lines of a private key (each a newline-free run of base64, so an escaped rendering still shows it). */
function keyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----'));
}

/**
 * `secrets` found in the renderings of each of `objects`, as `object / rendering: secret name`. Log
 * lines are passed as one string, whose renderings include the text itself.
 */
function leaksOf(objects: Record<string, unknown>, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [what, value] of Object.entries(objects)) {
    const texts: Array<[string, string]> = typeof value === 'string' ? [['text', value]] : renderings(value);
    for (const [how, text] of texts) {
      for (const [name, secret] of Object.entries(secrets)) if (text.includes(secret)) found.push(`${what} / ${how}: ${name}`);
    }
  }
  return found;
}

function debugLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push(`${level} ${message} ${meta ? safeStringify(meta) : ''}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') };
}

/** A Redis client that, like ioredis, keeps its own password and (in its queue) the values it stores. */
class RecordingRedis implements RedisLike {
  readonly options = { host: '127.0.0.1', password: MARKER.redisPassword };
  readonly data = new Map<string, string>();
  async get(key: string): Promise<string | null> {
    return this.data.get(key) ?? null;
  }
  async set(key: string, value: string): Promise<unknown> {
    this.data.set(key, value);
    return 'OK';
  }
}

describe('no secret is reachable from an auth object', () => {
  let emulator: Emulator;
  let dir: string;
  let proxy: http.Server;
  let proxyUrl: string;
  const proxyAuthorizations: string[] = [];
  const closers: Array<() => void> = [];

  beforeAll(async () => {
    emulator = await startTestEmulator({ clients: [CLIENT], users: [USER] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-auth-secrets-'));
    // A CONNECT proxy that demands credentials, so the proxy URL must carry a password.
    proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      proxyAuthorizations.push(String(req.headers['proxy-authorization']));
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
    proxyUrl = `http://proxy-user:${MARKER.proxyPassword}@127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const close of closers) close();
    proxy.closeAllConnections?.();
    await new Promise((r) => proxy.close(r));
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function provider(options: Partial<MsalTokenProviderOptions>): MsalTokenProvider {
    const p = new MsalTokenProvider({ tokenUrl: emulator.tokenUrl, clientId: CLIENT.clientId, resource: emulator.url, ca: emulator.caPem, ...options });
    closers.push(() => p.close());
    return p;
  }

  it('MsalTokenProvider with a client secret (client credentials), as in the issue', async () => {
    const logger = debugLogger();
    const p = provider({ clientSecret: MARKER.clientSecret, logger });
    const { token } = await p.getToken();
    const secrets = { clientSecret: MARKER.clientSecret, accessToken: token };
    expect(logger.lines.some((l) => l.startsWith('debug '))).toBe(true);
    expect(leaksOf({ MsalTokenProvider: p, 'debug log': logger.lines.join('\n') }, secrets)).toEqual([]);
  });

  it('MsalTokenProvider with a password and a fileTokenCache holding the refresh token', async () => {
    const logger = debugLogger();
    const cache = fileTokenCache(path.join(dir, 'cache.json'), { logger });
    const p = provider({ clientSecret: MARKER.clientSecret, ...USER, cache, logger });
    const set = await p.getTokenSet();
    expect(set.refreshToken).toEqual(expect.any(String));
    // The file holds the tokens (that is its job); the objects must not.
    expect(fs.readFileSync(path.join(dir, 'cache.json'), 'utf8')).toContain(set.refreshToken);
    const secrets = { clientSecret: MARKER.clientSecret, password: MARKER.password, accessToken: set.accessToken, refreshToken: set.refreshToken! };
    expect(leaksOf({ MsalTokenProvider: p, fileTokenCache: cache, 'debug log': logger.lines.join('\n') }, secrets)).toEqual([]);
  });

  it('MsalTokenProvider from a refresh token with a redisTokenCache and its partition plugin', async () => {
    const seed = await tokenRequest(emulator, {
      grant_type: 'password',
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      ...USER,
      scope: `${emulator.url}/user_impersonation offline_access`,
    });
    const seedRefreshToken = (seed.json as { refresh_token: string }).refresh_token;
    expect(seedRefreshToken).toEqual(expect.any(String));

    const logger = debugLogger();
    const redis = new RecordingRedis();
    const shared = redisTokenCache(redis, { logger });
    const plugins: PartitionedCachePlugin[] = [];
    const recording = {
      forPartition: (partition: TokenCachePartition) => {
        const plugin = shared.forPartition(partition);
        plugins.push(plugin);
        return plugin;
      },
    };
    const p = provider({ clientSecret: MARKER.clientSecret, refreshToken: seedRefreshToken, cache: recording, logger });
    const set = await p.getTokenSet();
    expect(set.refreshToken).toEqual(expect.any(String));
    expect(plugins).toHaveLength(1);
    // Redis holds the tokens (that is its job); the objects must not reach them, nor the client.
    expect([...redis.data.values()].join('\n')).toContain(set.refreshToken);
    const secrets = {
      clientSecret: MARKER.clientSecret,
      redisPassword: MARKER.redisPassword,
      seedRefreshToken,
      accessToken: set.accessToken,
      refreshToken: set.refreshToken!,
    };
    expect(
      leaksOf({ MsalTokenProvider: p, redisTokenCache: shared, 'partition plugin': plugins[0], 'debug log': logger.lines.join('\n') }, secrets),
    ).toEqual([]);
  });

  it('MsalTokenProvider with a certificate key, through a proxy whose URL carries a password', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const logger = debugLogger();
    const before = proxyAuthorizations.length;
    const p = provider({
      clientCertificate: { thumbprintSha256: createHash('sha256').update('marker-cert').digest('hex'), privateKey: pem },
      proxy: proxyUrl,
      logger,
    });
    const { token } = await p.getToken();
    // The request really went through the proxy, with the credentials of its URL.
    expect(proxyAuthorizations.length).toBeGreaterThan(before);
    expect(Buffer.from(proxyAuthorizations[before].replace(/^Basic /, ''), 'base64').toString()).toBe(`proxy-user:${MARKER.proxyPassword}`);
    const secrets: Record<string, string> = { proxyPassword: MARKER.proxyPassword, accessToken: token };
    keyLines(pem).forEach((line, i) => (secrets[`privateKey line ${i + 1}`] = line));
    expect(Object.keys(secrets).length).toBeGreaterThan(10);
    expect(leaksOf({ MsalTokenProvider: p, 'debug log': logger.lines.join('\n') }, secrets)).toEqual([]);
  });

  it('HttpsNetworkClient with a proxy URL that carries a password', async () => {
    const logger = debugLogger();
    const before = proxyAuthorizations.length;
    const client = new HttpsNetworkClient({ ca: emulator.caPem, proxy: proxyUrl, logger });
    closers.push(() => client.destroy());
    const res = await client.sendGetRequestAsync<Record<string, unknown>>(`${emulator.authority}/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(proxyAuthorizations.length).toBeGreaterThan(before);
    const secrets = { proxyPassword: MARKER.proxyPassword, proxyAuthorization: proxyAuthorizations[before] };
    expect(leaksOf({ HttpsNetworkClient: client, 'debug log': logger.lines.join('\n') }, secrets)).toEqual([]);
  });

  it("fromTokenCredential's provider over a ClientSecretCredential", async () => {
    const credential = new ClientSecretCredential(emulator.tenantId, CLIENT.clientId, MARKER.clientSecret, {
      authorityHost: emulator.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: emulator.caPem },
    });
    const tokens = fromTokenCredential(credential, { scopes: [`${emulator.url}/.default`] });
    const { token } = await tokens.getToken();
    // The credential itself holds the secret (it is the caller's object); the adapter must not expose it.
    expect(inspect(credential, { depth: Infinity, showHidden: true })).toContain(MARKER.clientSecret);
    expect(leaksOf({ 'fromTokenCredential provider': tokens }, { clientSecret: MARKER.clientSecret, accessToken: token })).toEqual([]);
  });
});
