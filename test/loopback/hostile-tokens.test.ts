/**
 * Item 8 of issue 11, the pipeline's side, against a hostile Web API: token acquisition is bounded by
 * each caller's deadline and abort signal. The shared refresh belongs to no caller: one caller's
 * abort leaves the others waiting (and then succeeding), a later caller's abort is honoured while an
 * earlier caller's refresh runs, and `timeoutInMs` bounds the wait for a token that never comes.
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode, TimeoutError } from '../../src/errors';
import { misbehave, stalledToken, startHostileServer, type HostileServer } from '../helpers/hostile';

let server: HostileServer;

beforeAll(async () => {
  server = await startHostileServer((req, res) => misbehave.json(res, 200, { UserId: '00000000-0000-0000-0000-000000000001', auth: req.headers.authorization }));
});

afterAll(async () => {
  await server?.close();
});

it('a token that never comes: a call with timeoutInMs 2000 fails with a TimeoutError after about 2 s', async () => {
  const tokens = stalledToken();
  const client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: tokens });
  try {
    const started = Date.now();
    const error = await client.callFunction('WhoAmI', undefined, { timeoutInMs: 2000 }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as DynamicsError).code).toBe(ErrorCode.timeout);
    expect((error as Error).message).toMatch(/waiting for an access token/);
    // Bounded by the deadline (before the fix it was still pending after 10 s).
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(10_000);
    expect(tokens.calls).toHaveLength(1);
  } finally {
    tokens.release();
    client.close();
  }
}, 20_000);

it("aborting caller A leaves caller B waiting, then succeeding; the provider never sees A's signal", async () => {
  const tokens = stalledToken();
  const client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: tokens });
  try {
    const a = new AbortController();
    const callA = client.callFunction('WhoAmI', undefined, { abortSignal: a.signal }).catch((e: unknown) => e);
    const callB = client.callFunction<{ auth: string }>('WhoAmI');
    await new Promise((r) => setTimeout(r, 50));
    expect(tokens.calls).toHaveLength(1);
    a.abort();
    const errorA = (await callA) as DynamicsError;
    expect(errorA).toBeInstanceOf(DynamicsError);
    expect(errorA.code).toBe(ErrorCode.aborted);
    // The shared request for a token is not the caller's: A's abort did not reach it.
    expect(tokens.calls[0].abortSignal?.aborted).toBe(false);
    tokens.release('token-for-b-0123456789');
    await expect(callB).resolves.toMatchObject({ auth: 'Bearer token-for-b-0123456789' });
    expect(tokens.calls).toHaveLength(1);
  } finally {
    tokens.release();
    client.close();
  }
});

it("a later caller's abort is honoured while an earlier caller's token request runs", async () => {
  const tokens = stalledToken();
  const client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: tokens });
  try {
    const first = client.callFunction<{ auth: string }>('WhoAmI');
    await new Promise((r) => setTimeout(r, 20));
    const b = new AbortController();
    const later = client.callFunction('WhoAmI', undefined, { abortSignal: b.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    b.abort();
    expect(((await later) as DynamicsError).code).toBe(ErrorCode.aborted);
    tokens.release('token-for-first-0123456789');
    await expect(first).resolves.toMatchObject({ auth: 'Bearer token-for-first-0123456789' });
  } finally {
    tokens.release();
    client.close();
  }
});
