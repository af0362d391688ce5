/**
 * Item 1 of issue 11: unbounded and decompression-bomb bodies, against a hostile HTTPS server. A
 * 1.6 KB `br` body that inflates to 2 GiB, gzip and deflate bombs, an uncompressed oversized body
 * with and without Content-Length: the process survives, the event loop keeps ticking while the
 * body is inflated, and the call fails with `response_too_large` naming the limit; a body just under
 * the limit still works. The limit is the client's `maxResponseBytes` or a call's own
 * (DynamicsService's is in hostile-service.test.ts).
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { ConfigurationError, DynamicsError, ErrorCode } from '../../src/errors';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../src/net/body';
import { compressedZeros, misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

let server: HostileServer;
let client: DynamicsClient;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxRetries: 0 });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function failure(promise: Promise<unknown>): Promise<DynamicsError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(DynamicsError);
  return outcome as DynamicsError;
}

/** Counts event-loop turns (a 1 ms interval) while `work` runs. */
async function ticksDuring<T>(work: Promise<T>): Promise<{ ticks: number; result: T }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const result = await work;
    return { ticks, result };
  } finally {
    clearInterval(timer);
  }
}

/** A JSON collection page of exactly `bytes` bytes. */
function pageOf(bytes: number): string {
  const head = '{"value":[{"name":"';
  const tail = '"}]}';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

describe('decompression bombs fail with response_too_large, off the event loop', () => {
  it('a 1.6 KB br body inflating to 2 GiB: the process survives, the loop ticks, the error names the limit', async () => {
    const bomb = await compressedZeros('br', 2 ** 31);
    expect(bomb.length).toBeLessThan(4096);
    server.on((_req, res) => misbehave.bomb(res, { encoding: 'br', inflatedBytes: 2 ** 31 }));
    const { ticks, result } = await ticksDuring(failure(client.request('GET', 'accounts')));
    expect(result.code).toBe(ErrorCode.responseTooLarge);
    expect(result.message).toContain(String(DEFAULT_MAX_RESPONSE_BYTES));
    expect(result.message).toMatch(/maxResponseBytes/);
    // Inflating 128 MiB takes a while; the loop kept turning meanwhile (a synchronous inflate would block it).
    expect(ticks).toBeGreaterThan(5);
  }, 60_000);

  it.each(['gzip', 'deflate'] as const)('a %s bomb inflating to 512 MiB fails the same way', async (encoding) => {
    server.on((_req, res) => misbehave.bomb(res, { encoding, inflatedBytes: 512 * 1024 * 1024 }));
    const { ticks, result } = await ticksDuring(failure(client.list('accounts').byPage().next()));
    expect(result.code).toBe(ErrorCode.responseTooLarge);
    expect(result.message).toContain(String(DEFAULT_MAX_RESPONSE_BYTES));
    expect(ticks).toBeGreaterThan(5);
  }, 60_000);

  it("the client's maxResponseBytes bounds the inflated size: a small bomb past 1 MiB fails, its inflated twin under the limit works", async () => {
    const small = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxResponseBytes: 1024 * 1024 });
    try {
      server.on((_req, res) => misbehave.bomb(res, { encoding: 'gzip', inflatedBytes: 1024 * 1024 + 1 }));
      const error = await failure(small.request('GET', 'accounts'));
      expect(error.code).toBe(ErrorCode.responseTooLarge);
      expect(error.message).toContain('1048576 bytes');
      // Just under: a real page compressed, inflating to exactly the limit.
      server.on((_req, res) => misbehave.compressed(res, 200, pageOf(1024 * 1024), 'gzip'));
      const page = await small.list('accounts').byPage().next();
      expect((page.value as unknown[])[0]).toEqual({ name: 'x'.repeat(1024 * 1024 - 23) });
    } finally {
      small.close();
    }
  });
});

describe('uncompressed oversized bodies', () => {
  const limited = () => new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxResponseBytes: 256 * 1024 });

  it.each([
    ['with Content-Length', true],
    ['without Content-Length', false],
  ])('a body past the limit %s fails with response_too_large and its connection is closed', async (_name, declare) => {
    const c = limited();
    try {
      const open = server.connections();
      server.on((_req, res) => misbehave.oversized(res, 64 * 1024 * 1024, { declare }));
      const error = await failure(c.retrieve('accounts', '00000000-0000-0000-0000-000000000001'));
      expect(error.code).toBe(ErrorCode.responseTooLarge);
      expect(error.message).toContain('262144 bytes');
      // The client hung up rather than reading 64 MiB to the end (c is not closed yet).
      while (server.connections() > open) await new Promise((r) => setTimeout(r, 10));
    } finally {
      c.close();
    }
  });

  it('a body of exactly the limit is read', async () => {
    const c = limited();
    try {
      server.on((_req, res) => misbehave.json(res, 200, pageOf(256 * 1024)));
      const rows = await c.list('accounts').byPage().next();
      expect(rows.value).toHaveLength(1);
    } finally {
      c.close();
    }
  });

  it("a call's own maxResponseBytes overrides the client's, both ways", async () => {
    const c = limited();
    try {
      server.on((_req, res) => misbehave.json(res, 200, pageOf(512 * 1024)));
      expect((await failure(c.request('GET', 'accounts'))).code).toBe(ErrorCode.responseTooLarge);
      await expect(c.request('GET', 'accounts', undefined, { maxResponseBytes: 1024 * 1024 })).resolves.toMatchObject({ status: 200 });
      expect((await failure(client.request('GET', 'accounts', undefined, { maxResponseBytes: 1024 }))).message).toContain('1024 bytes');
    } finally {
      c.close();
    }
  });

  it('applies to $batch answers too', async () => {
    const c = limited();
    try {
      server.on((_req, res) => misbehave.oversized(res, 8 * 1024 * 1024));
      const error = await failure(c.batch([{ method: 'GET', url: 'accounts' }]));
      expect(error.code).toBe(ErrorCode.responseTooLarge);
      expect(error.request?.url).toBe(`${server.origin}/api/data/v9.2/$batch`);
      server.on((_req, res) => misbehave.bomb(res, { encoding: 'br', inflatedBytes: 2 ** 31 }));
      expect((await failure(client.batch([{ method: 'GET', url: 'accounts' }], { maxResponseBytes: 4 * 1024 * 1024 }))).message).toContain('4194304 bytes');
    } finally {
      c.close();
    }
  });
});

describe('the option is validated and documented', () => {
  it.each([0, -1, 1.5, 2 ** 30 + 1, Number.MAX_SAFE_INTEGER, Infinity, '1000'])('the client refuses maxResponseBytes %p, naming it', (value) => {
    const error = (() => {
      try {
        return new DynamicsClient({ url: server.origin, auth: staticToken(), maxResponseBytes: value as number });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/maxResponseBytes/);
  });

  it('a call refuses a bad maxResponseBytes before sending anything', async () => {
    const before = server.seen.length;
    const error = await failure(client.request('GET', 'accounts', undefined, { maxResponseBytes: 0 }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^options\.maxResponseBytes: expected a whole number of bytes from 1 to 1073741824/);
    expect(server.seen.length).toBe(before);
  });
});
