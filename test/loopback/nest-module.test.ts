/**
 * DynamicsModule in a real Nest application (@nestjs/testing), configured only by environment
 * variables pointing at the emulator's v1 token URL, as @edirect/dynamics users configure it.
 *
 * The Nest application runs in a child process (test/packaging/nest-host.ts explains why: Nest 12 is
 * ES-module-only and jest cannot load it); the emulator runs here, so its counters are read directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';

/** A collection body. Bodies cross the IPC channel from the Nest host, so `expect.any(Array)` (an instanceof check in jest's realm) would not see them as arrays. */
const isCollection = (body: unknown): boolean => typeof body === 'object' && body !== null && Array.isArray((body as { value?: unknown }).value);

const ROOT = path.resolve(__dirname, '../..');
const HOST = path.join(ROOT, 'test/packaging/nest-host.ts');
const API = 'api/data/v9.2';

interface HostError {
  name: string;
  message: string;
  code?: string;
  isDynamicsError: boolean;
  responseStatus?: number;
  responseData?: unknown;
  issues?: Array<{ name: string; expected: string }>;
  surface: string;
}

class HostFailure extends Error {
  constructor(readonly detail: HostError) {
    super(`${detail.name}: ${detail.message}`);
  }
}

/** One Nest host process; requests are answered in any order, matched by id. */
class NestHost {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: HostError }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new HostFailure(m.error!));
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`Nest host exited (${code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  static start(): Promise<NestHost> {
    // The host sees no DYNAMICS_* variable but those each boot sets.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DYNAMICS_')) env[k] = v;
    // tsx compiles with experimentalDecorators only for files its tsconfig includes.
    env.TSX_TSCONFIG_PATH = path.join(ROOT, 'test/packaging/tsconfig.json');
    const child = spawn(process.execPath, ['--import', 'tsx', HOST], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const host = new NestHost(child);
    return new Promise((resolve, reject) => {
      host.pending.set(0, { resolve: () => resolve(host), reject });
    });
  }

  send<T = unknown>(message: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...message, id });
    });
  }

  call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    return this.send<T>({ op: 'call', method, args });
  }

  /** The error a call failed with, as the host saw it. */
  async failure(promise: Promise<unknown>): Promise<HostError> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof HostFailure) return err.detail;
      throw err;
    }
    throw new Error('expected the call to fail');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.send({ op: 'exit' }).catch(() => undefined);
    await exited;
  }
}

let emulator: Emulator;
let host: NestHost;
let dir: string;
let caFile: string;

beforeAll(async () => {
  emulator = await startTestEmulator();
  dir = mkdtempSync(path.join(tmpdir(), 'nest-module-'));
  caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, emulator.caPem);
  host = await NestHost.start();
});

afterAll(async () => {
  await host?.stop();
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The application's environment: the emulator's DYNAMICS_* variables (v1 token URL) and DYNAMICS_ENABLED=true. */
function appEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = { ...emulator.env(caFile), DYNAMICS_ENABLED: 'true', ...extra };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

function bootFromEnv(extra: Record<string, string | undefined> = {}): Promise<{ injected: boolean; isDynamicsService: boolean; enabled: boolean }> {
  return host.send({ op: 'boot', mode: 'env', env: appEnv(extra) });
}

describe('@Module({ imports: [DynamicsModule] }) from environment variables alone', () => {
  it('provides one DynamicsService, injected by class into application providers', async () => {
    expect(emulator.env(caFile).DYNAMICS_TOKEN_URL).toBe(emulator.tokenUrl);
    expect(emulator.tokenUrl).toMatch(/\/oauth2\/token$/); // v1
    await expect(bootFromEnv()).resolves.toEqual({ injected: true, isDynamicsService: true, enabled: true, factoryCalls: 0 });
  });

  it.each(['password', 'client_credentials'] as const)('get, post, patch and delete with grantType %s', async (grantType) => {
    await bootFromEnv();
    emulator.resetCounters();
    const created = await host.call<{ id: string; entityId: string }>('post', `${API}/accounts`, { name: `Nest ${grantType}` }, undefined, grantType);
    expect(created).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), entityId: `${emulator.url}/${API}/accounts(${created.id})` });
    expect(await host.call('get', `/${API}/accounts(${created.id})?$select=name`, undefined, grantType)).toMatchObject({ name: `Nest ${grantType}` });
    expect(await host.call('patch', `${emulator.url}/${API}/accounts(${created.id})`, { name: 'Renamed' }, { headers: { 'If-Match': '*' } }, grantType)).toEqual(created);
    expect(await host.call('get', `${API}/accounts(${created.id})`, { params: { $select: 'name' } }, grantType)).toMatchObject({ name: 'Renamed' });
    expect(await host.call('delete', `${API}/accounts(${created.id})`, undefined, grantType)).toEqual({});
    // Every call used this grant's token, requested once.
    expect(emulator.counters.tokenRequests).toEqual({ [grantType]: 1 });
    expect(emulator.counters.apiRequestsTotal).toBe(5);
  });

  it('getAccessToken, getAccessTokenByClientCredentials and getRefreshToken return v1 token sets from the cache', async () => {
    await bootFromEnv();
    emulator.resetCounters();
    const user = await host.call<Record<string, string>>('getAccessToken');
    expect(user).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String), expires_in: expect.stringMatching(/^\d+$/), expires_on: expect.stringMatching(/^\d+$/), resource: emulator.url });
    expect((await host.call<Record<string, string>>('getAccessToken')).access_token).toBe(user.access_token);
    const app = await host.call<Record<string, string>>('getAccessTokenByClientCredentials');
    expect(app).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), resource: emulator.url });
    expect(app.refresh_token).toBeUndefined();
    const refreshed = await host.call<Record<string, string>>('getRefreshToken');
    expect(refreshed.access_token).not.toBe(user.access_token);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1, refresh_token: 1 });
  });

  it('errors are DynamicsErrors with response.status and response.data, and carry no secret', async () => {
    await bootFromEnv();
    const token = (await host.call<Record<string, string>>('getAccessToken')).access_token;
    const err = await host.failure(host.call('get', `${API}/accounts(00000000-0000-0000-0000-0000000000ff)`));
    expect(err).toMatchObject({ name: 'NotFoundError', isDynamicsError: true, responseStatus: 404, responseData: { error: { message: expect.any(String) } } });
    for (const secret of [emulator.client.clientSecret, emulator.user.password, token]) expect(err.surface).not.toContain(secret);
  });

  it('DYNAMICS_ENABLED=false: every call returns null with zero requests, and nothing else need be set', async () => {
    await expect(host.send({ op: 'boot', mode: 'env', env: { DYNAMICS_ENABLED: 'false' } })).resolves.toMatchObject({ enabled: false });
    emulator.resetCounters();
    const calls = [
      host.call('get', `${API}/accounts`),
      host.call('post', `${API}/accounts`, { name: 'x' }),
      host.call('patch', `${API}/accounts(00000000-0000-0000-0000-000000000001)`, { name: 'x' }, undefined, 'client_credentials'),
      host.call('delete', `${API}/accounts(00000000-0000-0000-0000-000000000001)`),
      host.call('getAccessToken'),
      host.call('getAccessTokenByClientCredentials'),
      host.call('getRefreshToken'),
    ];
    expect(await Promise.all(calls)).toEqual([null, null, null, null, null, null, null]);
    expect(emulator.counters.tokenRequestsTotal).toBe(0);
    expect(emulator.counters.apiRequestsTotal).toBe(0);
  });

  it('200 concurrent calls on a cold start make one token request', async () => {
    await bootFromEnv();
    emulator.resetCounters();
    const outcome = await host.send({ op: 'concurrent', method: 'get', args: [`${API}/accounts?$top=1&$select=name`], count: 200 });
    expect(outcome).toEqual({ results: 200, allObjects: true });
    expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
    expect(emulator.counters.apiRequestsTotal).toBe(200);
  });

  it('a revoked refresh token falls back to the password grant', async () => {
    await bootFromEnv();
    await host.call('getAccessToken');
    emulator.resetCounters();
    emulator.revokeRefreshTokens();
    expect(await host.call('getRefreshToken')).toMatchObject({ access_token: expect.any(String) });
    expect(emulator.counters.tokenRequests).toEqual({ refresh_token: 1, password: 1 });
  });

  it('a missing variable fails the boot with one ConfigurationError naming it, without secrets', async () => {
    const err = await host.failure(bootFromEnv({ DYNAMICS_CLIENT_ID: undefined }));
    expect(err).toMatchObject({ name: 'ConfigurationError', isDynamicsError: true, issues: [{ name: 'DYNAMICS_CLIENT_ID' }] });
    expect(err.message).toContain('DYNAMICS_CLIENT_ID');
    expect(err.surface).not.toContain(emulator.client.clientSecret);
    expect(err.surface).not.toContain(emulator.user.password);
  });

  it('closes the service when the application shuts down', async () => {
    await bootFromEnv();
    await host.call('get', `${API}/accounts?$top=1`);
    const { afterClose } = await host.send<{ afterClose: string }>({ op: 'close' });
    expect(afterClose).toContain('DynamicsService is closed');
  });
});

describe('DynamicsModule.forRoot and forRootAsync', () => {
  it('forRoot(options): options in code, no DYNAMICS_* variable set', async () => {
    const options = {
      enabled: true,
      tokenUrl: emulator.tokenUrl,
      clientId: emulator.client.clientId,
      clientSecret: emulator.client.clientSecret,
      username: emulator.user.username,
      password: emulator.user.password,
      resource: emulator.url,
      ca: emulator.caPem,
    };
    await expect(host.send({ op: 'boot', mode: 'forRoot', env: {}, options })).resolves.toMatchObject({ injected: true, enabled: true });
    emulator.resetCounters();
    expect(isCollection(await host.call('get', `${API}/accounts?$top=1`))).toBe(true);
    expect(isCollection(await host.call('get', `${API}/accounts?$top=1`, undefined, 'client_credentials'))).toBe(true);
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1 });
  });

  it('forRoot with some options: the rest come from the environment', async () => {
    const env = appEnv({ DYNAMICS_ENABLED: undefined, DYNAMICS_RESOURCE: undefined });
    await expect(host.send({ op: 'boot', mode: 'forRoot', env, options: { enabled: true, resource: emulator.url } })).resolves.toMatchObject({ enabled: true });
    expect(isCollection(await host.call('get', `${API}/accounts?$top=1`))).toBe(true);
  });

  it('forRootAsync({ imports, inject, useFactory }) from a ConfigService', async () => {
    const config = { ...appEnv(), CA_PEM: emulator.caPem };
    delete (config as Record<string, string>).DYNAMICS_CA_FILE;
    const booted = await host.send<Record<string, unknown>>({ op: 'boot', mode: 'forRootAsync', env: {}, config });
    expect(booted).toEqual({ injected: true, isDynamicsService: true, enabled: true, factoryCalls: 1 });
    emulator.resetCounters();
    const created = await host.call<{ id: string }>('post', `${API}/accounts`, { name: 'From ConfigService' });
    expect(await host.call('get', `${API}/accounts(${created.id})?$select=name`)).toMatchObject({ name: 'From ConfigService' });
    expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
  });

  it.each(['forRoot', 'forRootAsync'] as const)('%s: no secret or token reachable from the module, the service or the options provider after a call', async (mode) => {
    const secrets = { DYNAMICS_CLIENT_SECRET: emulator.client.clientSecret, DYNAMICS_PASSWORD: emulator.user.password };
    const boot =
      mode === 'forRoot'
        ? { op: 'boot', mode, env: {}, options: { enabled: true, tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: secrets.DYNAMICS_CLIENT_SECRET, username: emulator.user.username, password: secrets.DYNAMICS_PASSWORD, resource: emulator.url, ca: emulator.caPem } }
        : { op: 'boot', mode, env: {}, config: { ...appEnv(), CA_PEM: emulator.caPem, DYNAMICS_CA_FILE: undefined } };
    await host.send(boot);
    expect(isCollection(await host.call('get', `${API}/accounts?$top=1`))).toBe(true);
    const tokens = await host.call<{ access_token: string; refresh_token?: string }>('getAccessToken');
    const scan = await host.send<{ hasOptions: boolean; text: string }>({ op: 'scan' });
    expect(scan.hasOptions).toBe(true);
    expect(scan.text.length).toBeGreaterThan(1000);
    for (const secret of [secrets.DYNAMICS_CLIENT_SECRET, secrets.DYNAMICS_PASSWORD, tokens.access_token, tokens.refresh_token as string]) {
      expect(secret.length).toBeGreaterThanOrEqual(8);
      expect(scan.text.includes(secret)).toBe(false);
    }
  });

  it('forRootAsync whose factory disables the service: null, zero requests', async () => {
    await expect(host.send({ op: 'boot', mode: 'forRootAsync', env: {}, config: { DYNAMICS_ENABLED: 'false' } })).resolves.toMatchObject({ enabled: false });
    emulator.resetCounters();
    expect(await host.call('get', `${API}/accounts`)).toBeNull();
    expect(emulator.counters.tokenRequestsTotal + emulator.counters.apiRequestsTotal).toBe(0);
  });
});
