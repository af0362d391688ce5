/**
 * Issue 13, item 5: `client.fetchXml()` against a scripted HTTPS server that misbehaves as services
 * and gateways do. The walk accepts every cookie form Dataverse has been seen to send (twice- and
 * once-encoded, empty, `morerecords: false`, annotations absent); it stops with `malformed_response`
 * on a cookie that never advances, a page that repeats, a malformed cookie or a truncated page; it
 * gets through a 503 mid-walk with every row once; it never follows a nextLink on a FetchXML page;
 * and a body larger than allowed is `response_too_large`. Nothing hangs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

let server: HostileServer;
let client: DynamicsClient;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxRetryAfterInMs: 2000 });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

const QUERY = "<fetch><entity name='account'><attribute name='name'/></entity></fetch>";

/** The `<fetch>` element's page and paging-cookie of a request. */
function pagingOf(req: IncomingMessage): { page: number; cookie?: string; count?: string } {
  const xml = new URL(req.url ?? '/', 'https://x').searchParams.get('fetchXml') ?? '';
  const head = /<fetch([^>]*)>/.exec(xml)?.[1] ?? '';
  const attr = (name: string) => {
    const m = new RegExp(`${name}='([^']*)'`).exec(head);
    return m ? (m[1] as string).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&') : undefined;
  };
  return { page: Number(attr('page') ?? 1), ...(attr('paging-cookie') !== undefined ? { cookie: attr('paging-cookie') } : {}), ...(attr('count') !== undefined ? { count: attr('count') } : {}) };
}

const cookieOf = (page: number, encodings: 0 | 1 | 2): string => {
  let inner = `<cookie page="${page}"><accountid last="{0000000${page}-0000-0000-0000-000000000000}" first="{0000000${page}-0000-0000-0000-000000000000}" /></cookie>`;
  for (let i = 0; i < encodings; i++) inner = encodeURIComponent(inner);
  return `<cookie pagenumber="${page + 1}" pagingcookie="${inner}" istracking="False" />`;
};

async function walk(options: Parameters<DynamicsClient['fetchXml']>[2] = {}): Promise<{ rows: Array<Record<string, unknown>>; error?: DynamicsError }> {
  const rows: Array<Record<string, unknown>> = [];
  try {
    for await (const row of client.fetchXml('accounts', QUERY, options)) rows.push(row);
    return { rows };
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return { rows, error: error as DynamicsError };
  }
}

/** Pages of `size` rows numbered by page, `pages` of them, each answered by `answer`. */
function pages(total: number, answer: (page: number, last: boolean, res: ServerResponse, req: IncomingMessage) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const { page } = pagingOf(req);
    answer(page, page >= total, res, req);
  };
}

const rowsOf = (page: number) => [{ name: `p${page}a` }, { name: `p${page}b` }];

describe('the cookie forms Dataverse sends', () => {
  it.each([
    ['encoded twice (the docs)', 2],
    ['encoded once (a v9.1 capture)', 1],
  ] as const)('follows a cookie %s, sends it back decoded with page + 1, and stops when the annotations are absent', async (_name, encodings) => {
    const seen: Array<{ page: number; cookie?: string }> = [];
    server.on(
      pages(3, (page, last, res, req) => {
        seen.push(pagingOf(req));
        misbehave.json(res, 200, { value: rowsOf(page), ...(last ? {} : { '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(page, encodings) }) });
      }),
    );
    const { rows, error } = await walk();
    expect(error).toBeUndefined();
    expect(rows.map((r) => r.name)).toEqual(['p1a', 'p1b', 'p2a', 'p2b', 'p3a', 'p3b']);
    expect(seen.map((s) => s.page)).toEqual([1, 2, 3]);
    expect(seen[0]?.cookie).toBeUndefined();
    expect(seen[1]?.cookie).toBe(`<cookie page="1"><accountid last="{00000001-0000-0000-0000-000000000000}" first="{00000001-0000-0000-0000-000000000000}" /></cookie>`);
    expect(seen[2]?.cookie).toMatch(/^<cookie page="2">/);
    const prefer = server.seen[server.seen.length - 1]?.headers.prefer;
    expect(prefer).toBe('odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"');
  });

  it('stops on morerecords: false (with a cookie still there), and pages by number when the cookie is empty', async () => {
    const seen: Array<{ page: number; cookie?: string }> = [];
    server.on(
      pages(3, (page, last, res, req) => {
        seen.push(pagingOf(req));
        const cookie = page === 1 ? '<cookie pagenumber="2" pagingcookie="" istracking="False" />' : cookieOf(page, 2);
        misbehave.json(res, 200, { value: rowsOf(page), '@Microsoft.Dynamics.CRM.morerecords': !last, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookie });
      }),
    );
    const { rows, error } = await walk();
    expect(error).toBeUndefined();
    expect(rows).toHaveLength(6);
    expect(seen).toEqual([{ page: 1, count: '5000' }, { page: 2, count: '5000' }, { page: 3, count: '5000', cookie: expect.stringMatching(/^<cookie page="2">/) }]);
  });

  it('keeps its own page counter whatever pagenumber says, and never follows an @odata.nextLink on a FetchXML page', async () => {
    const seen: number[] = [];
    server.on(
      pages(2, (page, last, res, req) => {
        seen.push(pagingOf(req).page);
        misbehave.json(res, 200, {
          value: rowsOf(page),
          '@odata.nextLink': `${server.origin}/api/data/v9.2/accounts?$skiptoken=elsewhere`,
          ...(last ? {} : { '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(page, 2).replace('pagenumber="2"', 'pagenumber="7"') }),
        });
      }),
    );
    const { rows, error } = await walk();
    expect(error).toBeUndefined();
    expect(rows).toHaveLength(4);
    expect(seen).toEqual([1, 2]);
    expect(server.seen.some((r) => r.url.includes('skiptoken'))).toBe(false);
  });
});

describe('services that would make the walk loop or lose rows', () => {
  it('a cookie that never advances stops the walk with malformed_response after the second page, not forever', async () => {
    let requests = 0;
    server.on((_req, res) => {
      requests++;
      misbehave.json(res, 200, { value: [{ name: `r${requests}` }], '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(1, 2) });
    });
    const { rows, error } = await walk();
    expect(error?.code).toBe(ErrorCode.malformedResponse);
    expect(error?.message).toMatch(/paging cookie is one this walk has already sent \(a cycle\)/);
    expect(rows).toHaveLength(1);
    expect(requests).toBeLessThanOrEqual(3);
  });

  it('pages by number that repeat the same rows stop the walk; so does an empty page that says more follow', async () => {
    server.on((_req, res) => misbehave.json(res, 200, { value: [{ name: 'same' }], '@Microsoft.Dynamics.CRM.morerecords': true }));
    const repeat = await walk();
    expect(repeat.error?.message).toMatch(/repeats the rows of the page before it/);
    expect(repeat.rows).toHaveLength(1);
    // A, B, A, … by page number (no cookie): every page differs from the one before it, so only a
    // walk that remembers every page stops.
    let n = 0;
    server.on((_req, res) => misbehave.json(res, 200, { value: [{ name: n++ % 2 === 0 ? 'A' : 'B' }], '@Microsoft.Dynamics.CRM.morerecords': true }));
    const alternating = await walk();
    expect(alternating.error?.message).toMatch(/repeats the rows of the page before it, or of one earlier/);
    expect(alternating.rows).toHaveLength(2);
    server.on((_req, res) => misbehave.json(res, 200, { value: [], '@Microsoft.Dynamics.CRM.morerecords': true }));
    const empty = await walk();
    expect(empty.error?.message).toMatch(/an empty page says more records follow/);
  });

  it.each([
    ['not a cookie element', '<notacookie />'],
    ['not XML at all', 'pagingcookie=%3Ccookie'],
    ['a pagingcookie that is not percent-encoding', '<cookie pagenumber="2" pagingcookie="%E0%A4%A" istracking="False" />'],
    ['a pagingcookie that decodes to no element', '<cookie pagenumber="2" pagingcookie="hello" istracking="False" />'],
  ])('a malformed cookie (%s) is malformed_response, naming it', async (_name, annotation) => {
    server.on((_req, res) => misbehave.json(res, 200, { value: [{ name: 'x' }], '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation }));
    const { rows, error } = await walk();
    expect(error?.code).toBe(ErrorCode.malformedResponse);
    expect(error?.message).toMatch(/paging cookie|fetchxmlpagingcookie/);
    expect(rows).toEqual([]);
  });

  it('a cookie that echoes a bearer token is quoted redacted in the error', async () => {
    const jwt = 'eyJ0eXAiOiJKV1QifQ.eyJvaWQiOiJlY2hvIn0.ECHOED-SIGNATURE-MARKER';
    for (const annotation of [`Bearer ${jwt}`, `<cookie pagenumber="2" pagingcookie="${encodeURIComponent(`Bearer ${jwt}`)}" istracking="False" />`]) {
      server.on((_req, res) => misbehave.json(res, 200, { value: [{ name: 'x' }], '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation }));
      const { error } = await walk();
      expect(error?.code).toBe(ErrorCode.malformedResponse);
      expect(`${error?.message} ${error?.stack}`).not.toContain('ECHOED-SIGNATURE-MARKER');
    }
  });

  it('morerecords that is not a boolean is malformed_response', async () => {
    server.on((_req, res) => misbehave.json(res, 200, { value: [{ name: 'x' }], '@Microsoft.Dynamics.CRM.morerecords': 'yes' }));
    expect((await walk()).error?.code).toBe(ErrorCode.malformedResponse);
  });

  it('a second page cut short (the connection dropped mid-body) is sent again: every row arrives once', async () => {
    let cut = 0;
    server.on(
      pages(2, (page, last, res) => {
        const body = JSON.stringify({ value: rowsOf(page), ...(last ? {} : { '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(page, 2) }) });
        if (page === 2 && cut++ === 0) misbehave.truncated(res, 200, { 'Content-Type': 'application/json' }, body, 20);
        else misbehave.json(res, 200, body);
      }),
    );
    const { rows, error } = await walk();
    expect(error).toBeUndefined();
    expect(rows.map((r) => r.name)).toEqual(['p1a', 'p1b', 'p2a', 'p2b']);
    expect(cut).toBe(2);
  }, 20_000);

  it('a page whose JSON is cut short (complete as bytes) is malformed_response, after the first page\'s rows', async () => {
    server.on(
      pages(2, (page, last, res) => {
        const body = JSON.stringify({ value: rowsOf(page), ...(last ? {} : { '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(page, 2) }) });
        misbehave.json(res, 200, page === 1 ? body : body.slice(0, 25));
      }),
    );
    const { rows, error } = await walk();
    expect(rows.map((r) => r.name)).toEqual(['p1a', 'p1b']);
    expect(error?.code).toBe(ErrorCode.malformedResponse);
  });

  it('a connection that always drops mid-body ends in a network error once the retries are spent, not a hang', async () => {
    const impatient = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), maxRetries: 1 });
    try {
      server.on((_req, res) => misbehave.truncated(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ value: rowsOf(1) }), 10));
      const error = await (async () => {
        for await (const row of impatient.fetchXml('accounts', QUERY)) void row;
      })().catch((e: unknown) => e as DynamicsError);
      expect(error).toBeInstanceOf(DynamicsError);
      expect([ErrorCode.network, ErrorCode.malformedResponse]).toContain((error as DynamicsError).code);
    } finally {
      impatient.close();
    }
  }, 20_000);

  it('a 503 with Retry-After mid-walk is retried: every row arrives once', async () => {
    let failed = false;
    server.on(
      pages(3, (page, last, res) => {
        if (page === 2 && !failed) {
          failed = true;
          misbehave.json(res, 503, { error: { code: '0x80040216', message: 'busy' } }, { 'Retry-After': '1' });
          return;
        }
        misbehave.json(res, 200, { value: rowsOf(page), ...(last ? {} : { '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': cookieOf(page, 2) }) });
      }),
    );
    const { rows, error } = await walk();
    expect(error).toBeUndefined();
    expect(rows.map((r) => r.name)).toEqual(['p1a', 'p1b', 'p2a', 'p2b', 'p3a', 'p3b']);
    expect(failed).toBe(true);
  }, 15_000);

  it('a page larger than maxResponseBytes is response_too_large; a trickling page is bounded by timeoutInMs', async () => {
    server.on((_req, res) => misbehave.oversized(res, 3 * 1024 * 1024));
    expect((await walk({ maxResponseBytes: 1024 * 1024 })).error?.code).toBe(ErrorCode.responseTooLarge);
    server.on((_req, res) => misbehave.trickle(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ value: rowsOf(1) }), { intervalInMs: 200 }));
    const started = Date.now();
    const slow = await walk({ timeoutInMs: 500 });
    expect(slow.error?.code).toBe(ErrorCode.timeout);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 20_000);

  it('a 400 with the aggregate limit code carries the advice; the service\'s body is kept redacted', async () => {
    server.on((_req, res) => misbehave.json(res, 400, { error: { code: '0x8004E023', message: 'AggregateQueryRecordLimit exceeded. Cannot perform this operation.' } }));
    const { error } = await walk();
    expect(error?.status).toBe(400);
    expect(error?.message).toMatch(/narrow its filter, or aggregate in parts/);
  });
});
