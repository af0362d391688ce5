/**
 * Items 14 and 15 of issue 11, the arguments the transport layer checks: `ifMatch` is validated like
 * every other header value (a string, no line break), for `delete` as for `update`, and a body that
 * JSON cannot serialise (a BigInt, a cycle) is `invalid_argument` naming the argument, for every
 * operation that sends one; in each case nothing reaches the server.
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

const ID = '00000000-0000-0000-0000-0000000000bb';
let server: HostileServer;
let client: DynamicsClient;

beforeAll(async () => {
  server = await startHostileServer((_req, res) => misbehave.json(res, 204, ''));
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function refused(run: () => Promise<unknown>, argument: RegExp): Promise<DynamicsError> {
  const before = server.seen.length;
  const error = (await run().catch((e: unknown) => e)) as DynamicsError;
  expect(error).toBeInstanceOf(DynamicsError);
  expect(error.code).toBe(ErrorCode.invalidArgument);
  expect(error.message).toMatch(argument);
  expect(server.seen.length).toBe(before);
  return error;
}

describe('ifMatch', () => {
  it.each<[string, unknown]>([
    ['a CR LF', 'W/"1"\r\nX-Injected: yes'],
    ['a bare LF', 'W/"1"\nX-Injected: yes'],
    ['a NUL', 'W/"1"\u0000'],
    ['an empty string', ''],
    ['a number', 12345],
    ['an object', { etag: 'W/"1"' }],
  ])('delete refuses %s', async (_name, etag) => {
    await refused(() => client.delete('accounts', ID, { ifMatch: etag as string }), /^options\.ifMatch: expected an @odata\.etag value/);
  });

  it.each<[string, unknown]>([
    ['a CR LF', 'W/"1"\r\nX-Injected: yes'],
    ['a number', 7],
  ])('update refuses %s', async (_name, etag) => {
    await refused(() => client.update('accounts', ID, { name: 'x' }, { ifMatch: etag as string }), /^options\.ifMatch: expected/);
  });

  it('a well-formed etag goes out as If-Match', async () => {
    await client.delete('accounts', ID, { ifMatch: 'W/"42"' });
    expect(server.seen[server.seen.length - 1].headers['if-match']).toBe('W/"42"');
  });
});

describe('bodies JSON cannot serialise', () => {
  const cyclic = (): Record<string, unknown> => {
    const o: Record<string, unknown> = { name: 'loop' };
    o.self = o;
    return o;
  };

  it.each<[string, () => Promise<unknown>, RegExp]>([
    ['create with a BigInt', () => client.create('accounts', { revenue: 10n } as never), /^record: expected a JSON-serialisable value, but record.revenue is a BigInt/],
    ['create with a cycle', () => client.create('accounts', cyclic()), /^record: expected a JSON-serialisable value, but record.self refers back to record/],
    ['update with a BigInt', () => client.update('accounts', ID, { revenue: 1n } as never), /^changes: expected a JSON-serialisable value/],
    ['upsert with a cycle', () => client.upsert('accounts', ID, cyclic()), /^record: expected a JSON-serialisable value/],
    ['callAction with a BigInt', () => client.callAction('Act', { n: 1n }), /^params: expected a JSON-serialisable value/],
    ['request() with a cycle', () => client.request('POST', 'accounts', cyclic()), /^body: expected a JSON-serialisable value/],
  ])('%s is invalid_argument naming the argument', async (_name, run, message) => {
    await refused(run, message);
  });
});
