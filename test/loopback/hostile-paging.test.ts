/**
 * Items 9, 10 and the continuation part of 15 of issue 11, against a hostile HTTPS server scripting
 * `@odata.nextLink`s: one origin comparison for the whole library (scheme and host without regard to
 * case, a default port equal to none, userinfo refused), a refusal that fails at once and is never
 * retried, nextLink cycles of any length detected at their first repeat, and a `continuationToken`
 * held to the API root exactly as a nextLink is.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

let server: HostileServer;
let client: DynamicsClient;
/** The client's environment URL: `https://localhost:PORT` (the certificate names localhost too). */
let origin: string;
let root: string;

beforeAll(async () => {
  server = await startHostileServer();
  origin = `https://localhost:${server.port}`;
  root = `${origin}/api/data/v9.2/`;
  client = new DynamicsClient({ url: origin, ca: server.caPem, auth: staticToken() });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** Pages keyed by `$skiptoken`: page `n` answers with the rows and the nextLink `links[n]`. */
function pages(links: Record<string, string | undefined>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const token = new URL(req.url ?? '/', 'https://x').searchParams.get('$skiptoken') ?? 'first';
    const next = links[token];
    misbehave.json(res, 200, { value: [{ page: token }], ...(next === undefined ? {} : { '@odata.nextLink': next }) });
  };
}

async function walk(iterable: AsyncIterable<unknown>): Promise<{ rows: unknown[]; error?: DynamicsError }> {
  const rows: unknown[] = [];
  try {
    for await (const row of iterable) rows.push(row);
    return { rows };
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return { rows, error: error as DynamicsError };
  }
}

describe('one origin comparison', () => {
  it.each([
    ['upper-case scheme', (port: number) => `HTTPS://localhost:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['upper-case host', (port: number) => `https://LOCALHOST:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['mixed case everywhere', (port: number) => `HtTpS://LocalHost:${port}/api/data/v9.2/accounts?$skiptoken=2`],
  ])('a nextLink with an %s is on the origin and is followed', async (_name, link) => {
    server.on(pages({ first: link(server.port) }));
    const { rows, error } = await walk(client.list('accounts'));
    expect(error).toBeUndefined();
    expect(rows).toEqual([{ page: 'first' }, { page: '2' }]);
  });

  it.each([
    ['userinfo', (port: number) => `https://user:secret-password@localhost:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['an empty userinfo', (port: number) => `https://@localhost:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['plain http', (port: number) => `http://localhost:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['upper-case plain http', (port: number) => `HTTP://LOCALHOST:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['another host', (port: number) => `https://127.0.0.1:${port}/api/data/v9.2/accounts?$skiptoken=2`],
    ['another port', (port: number) => `https://localhost:${port + 1}/api/data/v9.2/accounts?$skiptoken=2`],
    ['a path outside the API root', (port: number) => `https://localhost:${port}/api/data/v9.2/../../../evil?$skiptoken=2`],
  ])('a nextLink with %s is refused at once, with one request and no retry', async (_name, link) => {
    server.on(pages({ first: link(server.port) }));
    const before = server.seen.length;
    const started = Date.now();
    const { rows, error } = await walk(client.list('accounts'));
    // The page that carries the link fails with it: nothing is handed over from a page that points astray.
    expect(rows).toEqual([]);
    expect(error?.code).toBe(ErrorCode.malformedResponse);
    expect(error?.message).toMatch(/nextLink/);
    expect(error?.message).not.toContain('secret-password');
    expect(server.seen.length).toBe(before + 1);
    // At once: no backoff (a retried refusal took 75–150 s before the fix).
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('request() takes an absolute URL on the origin whatever its case, and refuses userinfo before sending', async () => {
    server.on((_req, res) => misbehave.json(res, 200, { ok: true }));
    await expect(client.request('GET', `HTTPS://LOCALHOST:${server.port}/api/data/v9.2/accounts`)).resolves.toMatchObject({ data: { ok: true } });
    const before = server.seen.length;
    const error = (await client.request('GET', `https://me:pw1234@localhost:${server.port}/api/data/v9.2/accounts`).catch((e: unknown) => e)) as DynamicsError;
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).not.toContain('pw1234');
    expect(server.seen.length).toBe(before);
  });
});

describe('nextLink cycles', () => {
  const link = (token: string) => `${root}accounts?$skiptoken=${token}`;

  it('A → B → A stops at the first repeat with malformed_response naming the link', async () => {
    server.on(pages({ first: link('B'), B: link('A'), A: link('B') }));
    const { rows, error } = await walk(client.list('accounts'));
    // Page A, whose link repeats, fails with it.
    expect(rows).toEqual([{ page: 'first' }, { page: 'B' }]);
    expect(error?.code).toBe(ErrorCode.malformedResponse);
    expect(error?.message).toContain(link('B'));
    expect(error?.message).toMatch(/already fetched/);
  });

  it('a link back to the first page, and a long cycle, are caught too', async () => {
    server.on(pages({ first: link('2'), '2': link('3'), '3': `${root}accounts` }));
    expect((await walk(client.list('accounts'))).error?.code).toBe(ErrorCode.malformedResponse);
    const ring: Record<string, string> = { first: link('0') };
    for (let i = 0; i < 50; i++) ring[String(i)] = link(String((i + 1) % 50));
    server.on(pages(ring));
    const { rows, error } = await walk(client.list('accounts'));
    expect(rows).toHaveLength(50);
    expect(error?.code).toBe(ErrorCode.malformedResponse);
  });

  it('in a byPage({ continuationToken }) walk as well', async () => {
    server.on(pages({ C: link('D'), D: link('C') }));
    const { rows, error } = await walk(client.list('accounts').byPage({ continuationToken: link('C') }));
    expect(rows).toHaveLength(1);
    expect(error?.message).toContain(link('C'));
  });

  it('distinct links that only look alike are not a cycle', async () => {
    server.on(pages({ first: link('x1'), x1: link('x2'), x2: link('x3') }));
    expect((await walk(client.list('accounts'))).rows).toHaveLength(4);
  });
});

describe('continuation tokens are held to the API root', () => {
  it.each([
    ['a path on the origin outside the API root', (port: number) => `https://localhost:${port}/api/data/v9.1/accounts?$skiptoken=1`],
    ['the origin root', (port: number) => `https://localhost:${port}/`],
    ['userinfo', (port: number) => `https://u:p@localhost:${port}/api/data/v9.2/accounts`],
    ['another origin', () => 'https://evil.example/api/data/v9.2/accounts'],
    ['a relative link', () => 'accounts?$skiptoken=1'],
  ])('refuses %s with invalid_argument before sending', async (_name, token) => {
    const before = server.seen.length;
    const { error } = await walk(client.list('accounts').byPage({ continuationToken: token(server.port) }));
    expect(error?.code).toBe(ErrorCode.invalidArgument);
    expect(error?.message).toMatch(/^settings\.continuationToken: expected an @odata\.nextLink from this environment/);
    expect(server.seen.length).toBe(before);
  });

  it('takes a token under the API root whatever the case of scheme and host', async () => {
    server.on(pages({ '7': undefined }));
    const { rows } = await walk(client.list('accounts').byPage({ continuationToken: `HTTPS://LOCALHOST:${server.port}/api/data/v9.2/accounts?$skiptoken=7` }));
    expect(rows).toEqual([[{ page: '7' }]]);
  });
});
