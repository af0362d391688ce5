/**
 * DynamicsService (the @edirect/dynamics API) against a hostile Web API, with the emulator as its
 * identity provider: issue 11's items as a compat user meets them. A body past `maxResponseBytes`
 * (the service's option, axios's per-call `maxContentLength`, or the client default it inherits) is
 * `response_too_large`; durations past 2^31-1 ms are refused; a redirect never completes a write;
 * an error echoing the token does not carry it.
 */
import { inspect } from 'node:util';
import { DynamicsService } from '../../src/compat/DynamicsService';
import { ConfigurationError, DynamicsError, ErrorCode } from '../../src/errors';
import type { Emulator } from '../../src/emulator';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../src/net/body';
import { startTestEmulator } from '../helpers/emulator';
import { echoAuthorization, misbehave, startHostileServer, type EchoShape, type HostileServer } from '../helpers/hostile';

const API = 'api/data/v9.2';
let emulator: Emulator;
let server: HostileServer;
const services: DynamicsService[] = [];
/** Every token the hostile server was sent. */
const tokens = new Set<string>();

beforeAll(async () => {
  emulator = await startTestEmulator();
  server = await startHostileServer();
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.close()));
  await server?.close();
  await emulator?.close();
});

/** A service whose token comes from the emulator and whose resource is the hostile server. */
function service(extra: Record<string, unknown> = {}): DynamicsService {
  const s = new DynamicsService({
    enabled: true,
    tokenUrl: emulator.tokenUrl,
    clientId: emulator.client.clientId,
    clientSecret: emulator.client.clientSecret,
    resource: server.origin,
    ca: `${emulator.caPem}\n${server.caPem}`,
    env: {},
    maxRetries: 0,
    ...extra,
  });
  services.push(s);
  return s;
}

function on(handler: Parameters<HostileServer['on']>[0]): void {
  server.on((req, res) => {
    tokens.add(String(req.headers.authorization ?? '').replace(/^Bearer /, ''));
    return handler(req, res);
  });
}

async function failure(promise: Promise<unknown>): Promise<DynamicsError> {
  const error = await promise.then(
    (value) => ({ resolved: value }),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DynamicsError);
  return error as DynamicsError;
}

describe('maxResponseBytes', () => {
  it('the service option bounds every call; axios maxContentLength overrides it per call', async () => {
    const dynamics = service({ maxResponseBytes: 64 * 1024 });
    on((_req, res) => misbehave.oversized(res, 1024 * 1024, { declare: true }));
    const error = await failure(dynamics.get(`${API}/accounts`, undefined, 'client_credentials'));
    expect(error.code).toBe(ErrorCode.responseTooLarge);
    expect(error.message).toContain('65536 bytes');
    await expect(dynamics.get(`${API}/accounts`, { maxContentLength: 2 * 1024 * 1024 }, 'client_credentials')).resolves.toHaveLength(1024 * 1024 - 2);
  });

  it('without the option, the client default (128 MiB) applies: a 2 GiB br bomb fails, the process survives', async () => {
    const dynamics = service();
    on((_req, res) => misbehave.bomb(res, { encoding: 'br', inflatedBytes: 2 ** 31 }));
    const error = await failure(dynamics.get(`${API}/accounts`, undefined, 'client_credentials'));
    expect(error.code).toBe(ErrorCode.responseTooLarge);
    expect(error.message).toContain(String(DEFAULT_MAX_RESPONSE_BYTES));
  }, 60_000);

  it('a bad value is refused: the option at construction, maxContentLength before sending', async () => {
    expect(() => service({ maxResponseBytes: 2 ** 31 })).toThrow(ConfigurationError);
    const dynamics = service();
    const error = await failure(dynamics.get(`${API}/accounts`, { maxContentLength: 0 }, 'client_credentials'));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/maxContentLength/);
  });
});

describe('durations past 2^31-1 ms', () => {
  it.each([2 ** 31, Number.MAX_SAFE_INTEGER])('timeoutInMs %p is refused at construction, and as a call timeout', async (value) => {
    expect(() => service({ timeoutInMs: value })).toThrow(/timeoutInMs.*2147483647/s);
    const dynamics = service();
    const before = server.seen.length;
    const error = await failure(dynamics.get(`${API}/accounts`, { timeout: value }, 'client_credentials'));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/options\.timeout: .*2147483647/);
    expect(server.seen.length).toBe(before);
  });
});

describe('a redirect never completes a write', () => {
  it.each<[string, (d: DynamicsService) => Promise<unknown>]>([
    ['post', (d) => d.post(`${API}/accounts`, { name: 'A' }, undefined, 'client_credentials')],
    ['patch', (d) => d.patch(`${API}/accounts(00000000-0000-0000-0000-000000000001)`, { name: 'A' }, undefined, 'client_credentials')],
    ['delete', (d) => d.delete(`${API}/accounts(00000000-0000-0000-0000-000000000001)`, undefined, 'client_credentials')],
    ['get', (d) => d.get(`${API}/accounts`, undefined, 'client_credentials')],
  ])('%s answered 302 rejects with the status and the Location', async (_name, run) => {
    const dynamics = service();
    on((_req, res) => misbehave.redirect(res, 302, 'https://sso.example.invalid/login'));
    const error = await failure(run(dynamics));
    expect(error).toMatchObject({ code: ErrorCode.malformedResponse, status: 302 });
    expect(error.message).toContain('Location: https://sso.example.invalid/login');
    expect(error.response?.status).toBe(302);
  });
});

describe('errors echoing the token', () => {
  it.each<EchoShape>(['json400', 'json401', 'json500', 'html502', 'truncatedJson200', 'header400'])('%s: no token in the error', async (shape) => {
    const dynamics = service();
    on((req, res) => echoAuthorization(req, res, shape));
    const error = await failure(dynamics.get(`${API}/accounts`, undefined, 'client_credentials'));
    const text = [String(error), error.stack, inspect(error, { showHidden: true, depth: Infinity }), JSON.stringify(error), JSON.stringify(error.response)].join('\n');
    expect(tokens.size).toBeGreaterThan(0);
    for (const token of tokens) {
      expect(token.length).toBeGreaterThan(20);
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split('.')[1]);
    }
  });
});
