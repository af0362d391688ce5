/**
 * Item 12 of issue 11, against a hostile HTTPS server that echoes the request's `Authorization`
 * header back: in a JSON error's message, code, inner error and keys (400, 401, 403, 404, 500), in a
 * 502 or 200 HTML page, in truncated JSON, in plain text, in response headers, in a `$batch` part's
 * error, and in an `@odata.nextLink` (which then becomes the URL of the next request). No copy of
 * the token may reach an error: its message, stack, `body`, `response.data`, `response.headers`,
 * `util.inspect` with hidden fields, `JSON.stringify`, or anything down its `cause` chain.
 */
import { inspect } from 'node:util';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError } from '../../src/errors';
import { echoAuthorization, misbehave, multipartBatch, startHostileServer, staticToken, type EchoShape, type HostileServer } from '../helpers/hostile';

/** A token shaped like Entra's (a JWT): header, payload, signature. */
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL29yZy5leGFtcGxlIiwic3ViIjoiZWNobyJ9.c2lnbmF0dXJlLW9mLXRoZS1lY2hvLXRlc3Q';
/** Pieces of it that must not survive either (a redactor that keeps half a token has failed). */
const PIECES = [TOKEN, TOKEN.split('.')[1], TOKEN.split('.')[2]];

let server: HostileServer;
let client: DynamicsClient;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(TOKEN), maxRetries: 0 });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** Every way an error can be looked at, its cause chain included. */
export function surfaces(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    const e = current as Error & { body?: unknown; response?: { data?: unknown; headers?: unknown }; request?: unknown; requestId?: unknown; code?: unknown };
    parts.push(String(e), String(e.message), String(e.stack), String(e.code), String(e.requestId));
    parts.push(inspect(e, { showHidden: true, depth: Infinity }));
    parts.push(JSON.stringify(e) ?? '', JSON.stringify(e.body) ?? '', JSON.stringify(e.response?.data) ?? '', JSON.stringify(e.response?.headers) ?? '', JSON.stringify(e.request) ?? '');
    current = e.cause;
  }
  return parts.join('\n');
}

function expectNoToken(error: unknown): void {
  expect(error).toBeInstanceOf(DynamicsError);
  const text = surfaces(error);
  for (const piece of PIECES) expect(text).not.toContain(piece);
}

async function failure(promise: Promise<unknown>): Promise<DynamicsError> {
  const error = await promise.then(
    (value) => ({ resolved: value }),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DynamicsError);
  return error as DynamicsError;
}

describe.each<[EchoShape, number]>([
  ['json400', 400],
  ['json401', 401],
  ['json403', 403],
  ['json404', 404],
  ['json500', 500],
  ['html502', 502],
  ['header400', 400],
])('a %s echoing the Authorization header', (shape, status) => {
  it.each<[string, (c: DynamicsClient) => Promise<unknown>]>([
    ['retrieve', (c) => c.retrieve('accounts', '00000000-0000-0000-0000-000000000001')],
    ['create', (c) => c.create('accounts', { name: 'A' })],
    ['list', (c) => c.list('accounts').byPage().next()],
    ['request()', (c) => c.request('GET', 'WhoAmI')],
  ])('%s fails without the token anywhere in the error', async (_op, run) => {
    server.on((req, res) => echoAuthorization(req, res, shape));
    const error = await failure(run(client));
    expect(error.status).toBe(status);
    expectNoToken(error);
  });
});

describe.each<[EchoShape, string]>([
  ['html200', 'a 200 HTML page'],
  ['truncatedJson200', 'a 200 with truncated JSON'],
])('%s (%s) echoing it', (shape) => {
  it.each<[string, (c: DynamicsClient) => Promise<unknown>]>([
    ['retrieve', (c) => c.retrieve('accounts', '00000000-0000-0000-0000-000000000001')],
    ['list', (c) => c.list('accounts').byPage().next()],
    ['callFunction', (c) => c.callFunction('WhoAmI')],
  ])('%s fails with malformed_response without the token', async (_op, run) => {
    server.on((req, res) => echoAuthorization(req, res, shape));
    const error = await failure(run(client));
    expectNoToken(error);
  });
});

it('request() of truncated JSON fails without it (an HTML 200 is data there: request() hands non-JSON back as text)', async () => {
  server.on((req, res) => echoAuthorization(req, res, 'truncatedJson200'));
  expectNoToken(await failure(client.request('GET', 'WhoAmI')));
});

it('a count answered with the token as text fails without it', async () => {
  server.on((req, res) => echoAuthorization(req, res, 'text200'));
  expectNoToken(await failure(client.count('accounts')));
});

it('a $batch part whose error echoes it: the part error and the result body carry no token', async () => {
  server.on((req, res) => {
    const auth = String(req.headers.authorization);
    const { body, contentType } = multipartBatch([
      { status: 400, headers: { 'X-Echo': auth }, body: { error: { code: '0x80040203', message: `bad request from ${auth}`, [auth]: auth } } },
      { status: 500, headers: { 'Content-Type': 'text/html' }, body: `<html><title>${auth}</title></html>` },
      { status: 200, headers: { 'Content-Type': 'application/json' }, body: `{"value":[{"name":"${auth}"` },
    ]);
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  const results = await client.batch(
    [
      { method: 'GET', url: 'accounts' },
      { method: 'GET', url: 'contacts' },
      { method: 'GET', url: 'leads' },
    ],
    { continueOnError: true },
  );
  for (const result of results) {
    expectNoToken(result.error);
    if (result.status >= 400) for (const piece of PIECES) expect(JSON.stringify(result.body) ?? '').not.toContain(piece);
  }
});

it('a nextLink that carries the token: the next request’s error does not quote it', async () => {
  let n = 0;
  server.on((req, res) => {
    if (n++ === 0) {
      const token = String(req.headers.authorization).replace(/^Bearer /, '');
      misbehave.json(res, 200, { value: [], '@odata.nextLink': `${server.origin}/api/data/v9.2/accounts?$skiptoken=${token}` });
    } else misbehave.json(res, 400, { error: { code: '0x1', message: 'bad skiptoken' } });
  });
  const pages = client.list('accounts').byPage();
  const first = await pages.next();
  const error = await failure(pages.next());
  expectNoToken(error);
  // The token handed to the caller as the page's continuationToken is the caller's data, not an error.
  expect((first.value as { continuationToken?: string }).continuationToken).toContain(TOKEN);
});
