/**
 * Items 5 and 14 of issue 11, against a hostile HTTPS server: every operation states the statuses it
 * succeeds with, and anything else (a redirect above all, which is never followed) is a
 * `malformed_response` naming the status and the `Location`, so that no write looks done when it was
 * only redirected. An answer whose body is not what the operation reads (a 200 with `null`, an
 * array, nothing, text) is `malformed_response` too, never a value taken for a record. Errors quote
 * at most 2,048 characters of a URL.
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

const ID = '00000000-0000-0000-0000-0000000000aa';
let server: HostileServer;
let client: DynamicsClient;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function failure(promise: Promise<unknown>): Promise<DynamicsError> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(DynamicsError);
  return outcome as DynamicsError;
}

/** Every operation of the client, each a write or a read a redirect must not complete. */
const OPERATIONS: Array<[string, (c: DynamicsClient) => Promise<unknown>]> = [
  ['create', (c) => c.create('accounts', { name: 'A' })],
  ['create with returnRepresentation', (c) => c.create('accounts', { name: 'A' }, { returnRepresentation: true })],
  ['retrieve', (c) => c.retrieve('accounts', ID)],
  ['update', (c) => c.update('accounts', ID, { name: 'B' })],
  ['upsert', (c) => c.upsert('accounts', ID, { name: 'B' })],
  ['upsert createOnly', (c) => c.upsert('accounts', ID, { name: 'B' }, { mode: 'createOnly' })],
  ['delete', (c) => c.delete('accounts', ID)],
  ['associate', (c) => c.associate('accounts', ID, 'contact_customer_accounts', { entitySet: 'contacts', key: ID })],
  ['disassociate', (c) => c.disassociate('accounts', ID, 'primarycontactid')],
  ['callAction', (c) => c.callAction('WinOpportunity', { Status: 3 })],
  ['callFunction', (c) => c.callFunction('WhoAmI')],
  ['batch', (c) => c.batch([{ method: 'POST', url: 'accounts', body: { name: 'A' } }])],
  ['list', (c) => c.list('accounts').byPage().next()],
  ['count', (c) => c.count('accounts')],
  ['request()', (c) => c.request('PATCH', `accounts(${ID})`, { name: 'B' })],
];

describe('a redirect never completes an operation', () => {
  const location = 'https://login.example.invalid/adfs/ls/?wa=wsignin1.0&wreply=x';

  it.each(OPERATIONS)('%s answered 302 fails with the status and the Location, and follows nothing', async (_name, run) => {
    server.on((_req, res) => misbehave.redirect(res, 302, location));
    const before = server.seen.length;
    const error = await failure(run(client));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.status).toBe(302);
    expect(error.message).toContain('HTTP 302');
    expect(error.message).toContain(`Location: ${location}`);
    expect(error.message).toMatch(/never followed/);
    // One request: no retry, and the redirect was not followed (the server would have seen it).
    expect(server.seen.length).toBe(before + 1);
  });

  it.each([301, 303, 307, 308] as const)('update answered %i fails the same way', async (status) => {
    server.on((_req, res) => misbehave.redirect(res, status, `${server.origin}/elsewhere`));
    const error = await failure(client.update('accounts', ID, { name: 'B' }));
    expect(error).toMatchObject({ code: ErrorCode.malformedResponse, status });
  });

  it('a 304 to a read is not an empty record either', async () => {
    server.on((_req, res) => {
      res.writeHead(304);
      res.end();
    });
    const error = await failure(client.retrieve('accounts', ID));
    expect(error).toMatchObject({ code: ErrorCode.malformedResponse, status: 304 });
  });
});

describe('a 2xx the operation has no reading for', () => {
  it.each<[string, number, (c: DynamicsClient) => Promise<unknown>]>([
    ['delete answered 202 Accepted', 202, (c) => c.delete('accounts', ID)],
    ['update answered 206', 206, (c) => c.update('accounts', ID, { name: 'B' })],
    ['retrieve answered 204', 204, (c) => c.retrieve('accounts', ID)],
    ['list answered 201', 201, (c) => c.list('accounts').byPage().next()],
    ['batch answered 204', 204, (c) => c.batch([{ method: 'GET', url: 'accounts' }])],
  ])('%s is an error naming the status', async (_name, status, run) => {
    server.on((_req, res) => misbehave.json(res, status, { value: [] }));
    const error = await failure(run(client));
    expect(error).toMatchObject({ code: ErrorCode.malformedResponse, status });
    expect(error.message).toContain(`got HTTP ${status}`);
  });

  it('the documented alternatives still succeed: 200 for a delete, 201 and 204 for an upsert, 200 for an update', async () => {
    server.on((_req, res) => misbehave.json(res, 200, {}));
    await expect(client.delete('accounts', ID)).resolves.toBeUndefined();
    await expect(client.update('accounts', ID, { name: 'B' })).resolves.toBeUndefined();
    server.on((_req, res) => misbehave.json(res, 201, { accountid: ID }));
    await expect(client.upsert('accounts', ID, { name: 'B' }, { returnRepresentation: true })).resolves.toEqual({ accountid: ID });
  });
});

describe('a 200 whose body is not what the operation reads', () => {
  it.each<[string, string]>([
    ['null', 'null'],
    ['an array', '[{"accountid":"x"}]'],
    ['a string', '"x"'],
    ['a number', '42'],
    ['an empty body', ''],
  ])('retrieve of %s is malformed_response, never a record', async (name, body) => {
    server.on((_req, res) => misbehave.json(res, 200, body));
    const error = await failure(client.retrieve('accounts', ID));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.message).toContain(`got ${name}`);
    expect(error.request?.url).toContain(`accounts(${ID})`);
  });

  it.each<[string, (c: DynamicsClient) => Promise<unknown>]>([
    ['a page', (c) => c.list('accounts').byPage().next()],
    ['callFunction', (c) => c.callFunction('WhoAmI')],
    ['callAction', (c) => c.callAction('WinOpportunity')],
    ['create with returnRepresentation', (c) => c.create('accounts', { name: 'A' }, { returnRepresentation: true })],
    ['update with returnRepresentation', (c) => c.update('accounts', ID, { name: 'A' }, { returnRepresentation: true })],
  ])('%s answered 200 with null is malformed_response naming the request', async (_name, run) => {
    server.on((_req, res) => misbehave.json(res, 200, 'null'));
    const error = await failure(run(client));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.request?.url).toMatch(new RegExp(`^${server.origin}/api/data/v9\\.2/`));
  });

  it('a page without a value array names the request', async () => {
    server.on((_req, res) => misbehave.json(res, 200, { values: [] }));
    const error = await failure(client.list('accounts').byPage().next());
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.message).toContain(`GET ${server.origin}/api/data/v9.2/accounts`);
  });

  it.each(['', 'many', '-3', '1.5', '1e3', '99999999999999999999', '{"count":1}'])('count of %p is malformed_response', async (text) => {
    server.on((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
    });
    expect((await failure(client.count('accounts'))).code).toBe(ErrorCode.malformedResponse);
  });
});

describe('errors quote a bounded part of a URL', () => {
  it('a 1 MB filter value is refused before sending, with an error of a few KB', async () => {
    const before = server.seen.length;
    const huge = 'x'.repeat(1024 * 1024);
    const error = await failure(Promise.resolve().then(() => client.list('accounts', { filter: { name: huge } }).byPage().next()));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message.length).toBeLessThan(4096);
    expect(JSON.stringify(error).length).toBeLessThan(8192);
    expect(server.seen.length).toBe(before);
  });

  it('a 20,000-character filter the server refuses gives an error with request.url cut at 2,048 characters', async () => {
    // Under Dataverse's 32,768-character URL limit, so it is sent; node's server refuses the request line (431), as a front end might.
    const long = 'x'.repeat(20_000);
    const error = await failure(client.list('accounts', { filter: { name: long } }).byPage().next());
    expect(error.status).toBe(431);
    expect(error.message.length).toBeLessThan(4096);
    expect(error.request?.url.length).toBeLessThanOrEqual(2049);
    expect(error.request?.url.endsWith('…')).toBe(true);
    expect(JSON.stringify(error).length).toBeLessThan(8192);
  });

  it('so does a failure with no answer (a reset) and a redirect to a long URL', async () => {
    server.on((_req, res) => misbehave.reset(res));
    const reset = await failure(client.request('POST', `accounts?$filter=${'y'.repeat(8_000)}`, {}));
    expect(reset.code).toBe(ErrorCode.network);
    expect(reset.message.length).toBeLessThan(4096);
    server.on((_req, res) => misbehave.redirect(res, 302, `${server.origin}/${'z'.repeat(12_000)}`));
    const redirected = await failure(client.request('GET', 'accounts'));
    expect(redirected.message.length).toBeLessThan(4096);
  });
});
