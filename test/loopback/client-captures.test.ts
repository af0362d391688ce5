/**
 * DynamicsClient against a purpose-built HTTPS server that answers with the real captures in
 * ../shared/fixtures/real (a v9.1 collection, a v9.x error body, a documented nextLink and a documented
 * $batch response) and records what the client sent: headers, the composed Prefer, the nextLink byte
 * for byte, impersonation, gzip.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { inspect } from 'node:util';
import { createCertificates } from '../../src/emulator/cert';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { AuthenticationError, DynamicsError, NetworkError, NotFoundError, TimeoutError } from '../../src/errors';

const REAL = path.resolve(__dirname, '../../../shared/fixtures/real');
const TOKEN = 'fixed-test-token-5b1f0c7e';
const leads = readFileSync(path.join(REAL, 'leads-collection-v9.1.json'), 'utf8');
const errorBody = readFileSync(path.join(REAL, 'error-resource-not-found-segment.json'), 'utf8');
const pagingExcerpt = readFileSync(path.join(REAL, 'paging-nextlink-contacts.docs-excerpt.http'), 'utf8');
const batchExcerpt = readFileSync(path.join(REAL, 'batch-changeset-response.docs-excerpt.http'), 'utf8');

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let origin: string;
let caPem: string;
let client: DynamicsClient;
const seen: Seen[] = [];
const applied = new Set<string>();

/** The documented nextLink, moved to our server. */
let nextLink: string;

beforeAll(async () => {
  const certs = await createCertificates();
  caPem = certs.caPem;
  server = createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      seen.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const json = (status: number, body: string, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', ...extra });
        res.end(body);
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, '{"error":{"code":"","message":"no token"}}');
      if (url === '/api/data/v9.2/leads?$select=fullname') {
        const page = JSON.parse(leads) as Record<string, unknown>;
        page['@odata.nextLink'] = nextLink;
        return json(200, JSON.stringify(page), { 'Preference-Applied': 'odata.maxpagesize=2' });
      }
      if (url === nextLink.slice(origin.length)) {
        // The last page, gzip-compressed as Dataverse sends it when asked.
        res.writeHead(200, { 'Content-Type': 'application/json; odata.metadata=minimal', 'Content-Encoding': 'gzip' });
        return res.end(gzipSync(Buffer.from(leads)));
      }
      if (url.startsWith('/api/data/v9.2/leadsss')) return json(404, errorBody, { 'x-ms-service-request-id': 'svc-req-1' });
      if (url.startsWith('/api/data/v9.2/truncated')) return json(200, leads.slice(0, 500));
      // A user without the privilege: Dataverse's 403 names the principal and the missing privilege.
      if (url.startsWith('/api/data/v9.2/competitors')) {
        return json(403, '{"error":{"code":"0x80040220","message":"Principal user (Id=00000000-0000-0000-0000-000000000009, type=8, roleCount=1, privilegeCount=0, accessMode=0), is missing prvReadCompetitor privilege (Id=5b2d7e8a-1111-4222-8333-444444444444) on OTC=123 for entity \'competitor\'."}}', { 'x-ms-service-request-id': 'svc-req-403' });
      }
      // A misbehaving gateway that echoes the request, bearer token included, in its error page.
      if (url.startsWith('/api/data/v9.2/echoing')) {
        res.writeHead(502, { 'Content-Type': 'text/html' });
        return res.end(`<html><body><h1>502 Bad Gateway</h1><pre>GET ${url} HTTP/1.1\r\nAuthorization: ${req.headers.authorization ?? ''}\r\n</pre></body></html>`);
      }
      if (url.startsWith('/api/data/v9.2/WhoAmI')) return json(200, '{"UserId":"00000000-0000-0000-0000-000000000009"}');
      if (url === '/api/data/v9.2/tasks' && req.method === 'POST') {
        res.writeHead(204, { 'OData-EntityId': `${origin}/api/data/v9.2/tasks(e73ffc82-e292-ed11-aad1-000d3a9933c9)` });
        return res.end();
      }
      // A create-only upsert whose first answer is lost (502) although it was applied: the re-send finds the record.
      if (url.startsWith('/api/data/v9.2/accounts(') && req.method === 'PATCH') {
        const first = !applied.has(url);
        applied.add(url);
        if (first) {
          res.writeHead(502, { 'Content-Type': 'text/html' });
          return res.end('<html><body>502 Bad Gateway</body></html>');
        }
        return json(412, '{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}');
      }
      // A delete whose first answer is lost: the re-send finds nothing.
      if (url.startsWith('/api/data/v9.2/accounts(') && req.method === 'DELETE') {
        const first = !applied.has(url);
        applied.add(url);
        if (first) {
          res.writeHead(504);
          return res.end();
        }
        return json(404, '{"error":{"code":"0x80040217","message":"Entity \'account\' With Id = x Does Not Exist"}}');
      }
      if (url === '/api/data/v9.2/$batch') {
        const body = batchExcerpt.slice(batchExcerpt.indexOf('\n\n') + 2).replace(/\[Organization Uri\]/g, origin);
        const boundary = /^--(batchresponse_[^\r\n]+)/m.exec(body)?.[1] ?? '';
        res.writeHead(200, { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'OData-Version': '4.0' });
        return res.end(body);
      }
      return json(404, '{"error":{"code":"0x80060888","message":"Resource not found."}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const documented = /"@odata\.nextLink": "([^"]+)"/.exec(pagingExcerpt)?.[1] as string;
  nextLink = documented.replace('[Organization URI]', origin).replace('/contacts?$select=fullname', '/leads?$select=fullname');
  client = new DynamicsClient({
    url: origin,
    ca: caPem,
    auth: { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
  });
});

afterAll(async () => {
  client?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('decodes a real collection across pages, following the documented nextLink byte for byte (gzip too)', async () => {
  const expected = (JSON.parse(leads) as { value: Array<Record<string, unknown>> }).value;
  const pages: unknown[][] = [];
  for await (const page of client.list('leads', { select: ['fullname'], maxPageSize: 2, annotations: true }).byPage()) pages.push(page);
  expect(pages).toHaveLength(2);
  expect([...pages[0]]).toEqual(expected);
  expect((pages[0] as { continuationToken?: string }).continuationToken).toBe(nextLink);
  expect([...pages[1]]).toEqual(expected);
  const [first, second] = seen.filter((s) => s.url.includes('/leads'));
  expect(second.url).toBe(nextLink.slice(origin.length));
  // Every page is asked for with the same preferences, composed into one Prefer header.
  expect(first.headers.prefer).toBe('odata.include-annotations="*",odata.maxpagesize=2');
  expect(second.headers.prefer).toBe(first.headers.prefer);
  expect(first.headers).toMatchObject({ accept: 'application/json', 'odata-maxversion': '4.0', 'odata-version': '4.0', 'if-none-match': 'null' });
});

it('decodes a real error body into NotFoundError with its code, message and request id', async () => {
  const error = (await client.request('GET', 'leadsss').catch((e: unknown) => e)) as DynamicsError;
  expect(error).toBeInstanceOf(NotFoundError);
  expect(error.code).toBe('0x8006088a');
  expect(error.message).toContain("Resource not found for the segment 'leadsss'.");
  expect(error.requestId).toBe('svc-req-1');
  expect(error.request).toEqual({ method: 'GET', url: `${origin}/api/data/v9.2/leadsss` });
  expect(leakSurface(error)).not.toContain(TOKEN);
});

/** Everything a token could leak through: message, stack, util.inspect (hidden properties, the cause chain) and JSON. */
function leakSurface(error: unknown): string {
  return [String(error), (error as Error)?.stack, inspect(error, { showHidden: true, depth: null }), JSON.stringify(error)].join('\n');
}

it('a 403 (missing privilege) is an AuthenticationError with the service message, sent once, without the token', async () => {
  const before = seen.filter((s) => s.url.startsWith('/api/data/v9.2/competitors')).length;
  const error = (await client.request('GET', 'competitors').catch((e: unknown) => e)) as DynamicsError;
  expect(error).toBeInstanceOf(AuthenticationError);
  expect(error).toMatchObject({ status: 403, code: '0x80040220', requestId: 'svc-req-403' });
  expect(error.message).toContain('is missing prvReadCompetitor privilege');
  // A new token cannot grant a privilege: no re-send.
  expect(seen.filter((s) => s.url.startsWith('/api/data/v9.2/competitors')).length - before).toBe(1);
  expect(leakSurface(error)).not.toContain(TOKEN);
});

it('an HTML 502 page that echoes the Authorization header does not carry the token into the error', async () => {
  const once = new DynamicsClient({ url: origin, ca: caPem, maxRetries: 0, auth: { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) } });
  try {
    const error = (await once.request('GET', 'echoing').catch((e: unknown) => e)) as DynamicsError;
    expect(error).toBeInstanceOf(DynamicsError);
    expect(error).toMatchObject({ status: 502, code: 'malformed_response' });
    // The gateway really did echo it: the test is not vacuous.
    expect(seen.filter((s) => s.url.startsWith('/api/data/v9.2/echoing')).pop()?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(leakSurface(error)).not.toContain(TOKEN);
  } finally {
    once.close();
  }
});

it('truncated JSON in a 200 is a malformed_response DynamicsError', async () => {
  await expect(client.request('GET', 'truncated')).rejects.toMatchObject({ code: 'malformed_response', status: 200 });
});

it('decodes the documented $batch response (change set of three creates, then a GET)', async () => {
  const results = await client.batch([
    {
      changeSet: [1, 2, 3].map((n) => ({
        method: 'POST' as const,
        url: 'tasks',
        body: { subject: `Task ${n} in batch`, 'regardingobjectid_account_task@odata.bind': 'accounts(00000000-0000-0000-0000-000000000001)' },
      })),
    },
    { method: 'GET', url: 'tasks?$select=subject&$filter=contains(subject,%27Task%20in%20batch%27)' },
  ]);
  expect(results.map((r) => r.status)).toEqual([204, 204, 204, 200]);
  expect(results.slice(0, 3).map((r) => r.entityId)).toEqual(['e73ffc82-e292-ed11-aad1-000d3a9933c9', 'e83ffc82-e292-ed11-aad1-000d3a9933c9', 'e93ffc82-e292-ed11-aad1-000d3a9933c9']);
  expect((results[3].body as { value: unknown[] }).value).toHaveLength(3);
  const sent = seen.find((s) => s.url.endsWith('$batch')) as Seen;
  expect(sent.headers['content-type']).toMatch(/^multipart\/mixed; boundary="?batch_/);
  expect(sent.body).toContain('Content-ID: 1');
});

it('sends Content-Type on bodies, no If-None-Match on writes, and CallerObjectId when impersonating', async () => {
  const callerObjectId = '2dbbc5fc-dbf6-59e7-af28-3377d0baf9ec';
  await client.create('tasks', { subject: 'x' }, { impersonate: { callerObjectId }, headers: { 'MSCRM.BypassCustomPluginExecution': 'true' } });
  const post = seen.filter((s) => s.method === 'POST' && s.url === '/api/data/v9.2/tasks').pop() as Seen;
  expect(post.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(post.headers['if-none-match']).toBeUndefined();
  expect(post.headers.callerobjectid).toBe(callerObjectId);
  expect(post.headers['mscrm.bypasscustompluginexecution']).toBe('true');
  expect(JSON.parse(post.body)).toEqual({ subject: 'x' });
  await expect(client.create('tasks', { subject: 'x' }, { impersonate: { callerObjectId: 'nope' } })).rejects.toMatchObject({ code: 'invalid_argument' });
});

it('function parameters go as aliases with encoded literals', async () => {
  await client.callFunction('WhoAmI', { name: "O'Brien &#?+% é" });
  const call = seen.filter((s) => s.url.startsWith('/api/data/v9.2/WhoAmI')).pop() as Seen;
  expect(call.url).toBe("/api/data/v9.2/WhoAmI(name=@p1)?@p1='O''Brien%20%26%23%3F%2B%25%20%C3%A9'");
});

it('a create-only upsert re-sent after a lost answer reports success when it finds its own record', async () => {
  const id = '7d5c8f5e-1d1b-4a51-9b7e-4b8f0c6a2d11';
  await expect(client.upsert('accounts', id, { name: 'once' }, { mode: 'createOnly' })).resolves.toBe(id);
  const patches = seen.filter((s) => s.method === 'PATCH' && s.url.includes(id));
  expect(patches).toHaveLength(2);
  expect(patches.every((p) => p.headers['if-none-match'] === '*')).toBe(true);
});

it('a delete re-sent after a lost answer that finds nothing counts as done', async () => {
  const id = '9a1c8f5e-1d1b-4a51-9b7e-4b8f0c6a2d22';
  await expect(client.delete('accounts', id)).resolves.toBeUndefined();
  expect(seen.filter((s) => s.method === 'DELETE' && s.url.includes(id))).toHaveLength(2);
});

describe('through an HTTPS proxy from the environment (CONNECT)', () => {
  /** What the test proxy does with the n-th CONNECT (0-based). */
  type Answer = 'tunnel' | 'drop' | 'silent' | 407;

  interface TestProxy {
    url: string;
    /** The authority of every CONNECT, in order. */
    connects: string[];
    /** The Proxy-Authorization header of every CONNECT. */
    authorizations: Array<string | undefined>;
    /** What happened at the proxy, for failure messages. */
    log: string[];
    close(): Promise<void>;
  }

  /** A small forward proxy: answers CONNECT as `answer` says, and tunnels like a real one (502 when the origin is unreachable). */
  async function startProxy(answer: (n: number) => Answer): Promise<TestProxy> {
    const connects: string[] = [];
    const authorizations: Array<string | undefined> = [];
    const log: string[] = [];
    const sockets = new Set<Socket>();
    const proxy = createHttpServer();
    proxy.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const n = connects.push(req.url ?? '') - 1;
      authorizations.push(req.headers['proxy-authorization']);
      sockets.add(socket);
      socket.on('error', (e) => log.push(`CONNECT #${n}: client socket: ${e.message}`));
      const what = answer(n);
      log.push(`CONNECT #${n} ${req.url ?? ''}: ${what}`);
      if (what === 'drop') return void socket.destroy();
      if (what === 'silent') return;
      if (what === 407) return void socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on('error', (e) => {
        log.push(`CONNECT #${n}: origin: ${e.message}`);
        if (upstream.connecting) socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      connects,
      authorizations,
      log,
      async close() {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      },
    };
  }

  // Every variable a proxy can come from, lower case included (it wins over upper case), so a developer's
  // own proxy settings can neither take these requests elsewhere nor exempt 127.0.0.1 from the test proxy.
  const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];
  const saved: Record<string, string | undefined> = {};
  const proxies: TestProxy[] = [];
  const clients: DynamicsClient[] = [];
  beforeEach(() => {
    for (const name of PROXY_VARIABLES) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterEach(async () => {
    for (const name of PROXY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    for (const c of clients.splice(0)) c.close();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  /**
   * A client whose HTTPS_PROXY is `proxyUrl` (read at construction). `timeoutInMs` keeps any failure of the
   * proxy path well inside jest's 60 s: it fails with a DynamicsError naming the request, never hangs the suite.
   */
  function proxiedClient(proxyUrl: string, options: { timeoutInMs?: number; maxRetries?: number } = {}): DynamicsClient {
    process.env.HTTPS_PROXY = proxyUrl;
    const c = new DynamicsClient({
      url: origin,
      ca: caPem,
      timeoutInMs: options.timeoutInMs ?? 10_000,
      ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
      auth: { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
    });
    clients.push(c);
    return c;
  }

  /** Runs `call`, adding what the proxy saw to the message of any failure. */
  async function withProxyLog<T>(proxy: TestProxy, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof Error) error.message += `\nproxy log:\n  ${proxy.log.join('\n  ') || '(no CONNECT arrived)'}`;
      throw error;
    }
  }

  it('goes through an HTTPS proxy from the environment (CONNECT), with the same pipeline', async () => {
    const proxy = await startProxy(() => 'tunnel');
    proxies.push(proxy);
    const proxied = proxiedClient(proxy.url);
    await withProxyLog(proxy, async () => {
      const who = await proxied.callFunction<{ UserId: string }>('WhoAmI');
      expect(who.UserId).toBe('00000000-0000-0000-0000-000000000009');
      await expect(proxied.request('GET', 'leadsss')).rejects.toBeInstanceOf(NotFoundError);
    });
    // One tunnel, kept alive for both requests (the client's keep-alive pool works through the proxy),
    // and no Proxy-Authorization when the proxy URL has no credentials.
    expect(proxy.connects).toEqual([origin.replace('https://', '')]);
    expect(proxy.authorizations).toEqual([undefined]);
    // End to end TLS: the proxy relayed the requests without seeing them, and the origin got the bearer token.
    const whoAmI = seen.filter((s) => s.url.startsWith('/api/data/v9.2/WhoAmI')).pop() as Seen;
    expect(whoAmI.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('a proxy that drops the CONNECT is noticed at once and the call is retried through a new tunnel', async () => {
    const proxy = await startProxy((n) => (n === 0 ? 'drop' : 'tunnel'));
    proxies.push(proxy);
    // A create (not retry-safe on an ambiguous failure) is re-sent too: nothing reached the service.
    await expect(withProxyLog(proxy, () => proxiedClient(proxy.url).create('tasks', { subject: 'through a flaky proxy' }))).resolves.toBe('e73ffc82-e292-ed11-aad1-000d3a9933c9');
    expect(proxy.connects).toHaveLength(2);
  });

  it('a CONNECT the proxy never answers fails with a TimeoutError within timeoutInMs', async () => {
    const proxy = await startProxy(() => 'silent');
    proxies.push(proxy);
    const error = await proxiedClient(proxy.url, { timeoutInMs: 1_000 })
      .callFunction('WhoAmI')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).request).toEqual({ method: 'GET', url: `${origin}/api/data/v9.2/WhoAmI()` });
    expect(proxy.connects).toHaveLength(1);
  });

  it('a 407 from the proxy is a NetworkError naming the refusal, not retried, and the proxy password appears nowhere', async () => {
    const proxy = await startProxy(() => 407);
    proxies.push(proxy);
    const password = 'pr0xy-S3cret!';
    const withCredentials = proxy.url.replace('http://', `http://alice:${encodeURIComponent(password)}@`);
    const error = await proxiedClient(withCredentials)
      .callFunction('WhoAmI')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    expect((error as NetworkError).message).toContain(`the proxy ${proxy.url} refused CONNECT ${origin.replace('https://', '')}: 407 Proxy Authentication Required`);
    expect(proxy.connects).toHaveLength(1);
    // The credentials went to the proxy, on CONNECT only.
    expect(proxy.authorizations).toEqual([`Basic ${Buffer.from(`alice:${password}`).toString('base64')}`]);
    const surface = [String(error), (error as Error).stack, inspect(error, { showHidden: true, depth: null }), JSON.stringify(error)].join('\n');
    expect(surface).not.toContain(password);
    expect(surface).not.toContain(Buffer.from(`alice:${password}`).toString('base64'));
  });

  it('a malformed proxy variable is a clear error at construction that does not echo the value', () => {
    process.env.HTTPS_PROXY = 'ftp://bob:hunter2@proxy.example:21';
    const attempt = () => new DynamicsClient({ url: origin, ca: caPem, auth: { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) } });
    expect(attempt).toThrow(/HTTPS_PROXY\/ALL_PROXY variable is not an http:\/\/ or https:\/\/ proxy URL/);
    let error: unknown;
    try {
      attempt();
    } catch (e) {
      error = e;
    }
    // Not in the message, nor in the stack, hidden properties, cause or JSON.
    expect(leakSurface(error)).not.toContain('hunter2');
  });
});
