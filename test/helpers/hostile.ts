/**
 * Hostile servers for tests: a real HTTPS server on a loopback port (with a generated CA) whose every
 * answer a test scripts, and the misbehaviours servers and gateways really produce, ready to use:
 * decompression bombs, oversized and truncated bodies, bytes trickling in, redirects, resets, echoed
 * credentials. Every capability of the client is proven against these as well as the emulator.
 *
 * @example
 * const server = await startHostileServer();
 * server.on((req, res) => misbehave.bomb(res, { encoding: 'br', inflatedBytes: 2 ** 31 }));
 * const client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
 */
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as zlib from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { generate } from 'selfsigned';

/** A request as the hostile server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Answers one request. `req.body` holds the whole request body. */
export type HostileHandler = (req: IncomingMessage & { body: Buffer }, res: ServerResponse) => void | Promise<void>;

export interface HostileServer {
  /** `https://127.0.0.1:PORT`. */
  readonly origin: string;
  readonly port: number;
  /** PEM of the CA that signed the server's certificate: the client's `ca`. */
  readonly caPem: string;
  /** Every request received, in order. */
  readonly seen: SeenRequest[];
  /** Sets the handler for the requests that follow (default: 404 JSON). */
  on(handler: HostileHandler): void;
  /** Open sockets right now (a client that leaks connections shows here). */
  connections(): number;
  close(): Promise<void>;
}

const DEFAULT: HostileHandler = (_req, res) => misbehave.json(res, 404, { error: { code: '0x80060888', message: 'no handler for this request' } });

/**
 * A CA and a server certificate for 127.0.0.1 / localhost, like the emulator's, but with a CA name of
 * its own: a client may trust both (`ca: emulator.caPem + server.caPem`, the emulator as identity
 * provider of a hostile Web API), and OpenSSL picks a CA by its name, so two CAs named alike would
 * make one of the two servers fail with CERT_SIGNATURE_FAILURE.
 */
async function hostileCertificates(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const notBeforeDate = new Date(Date.now() - 86_400_000);
  const notAfterDate = new Date(Date.now() + 30 * 86_400_000);
  const common = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate, notAfterDate } as const;
  const ca = await generate([{ name: 'commonName', value: `dynamics-odata hostile CA ${randomUUID()}` }], {
    ...common,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    ...common,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { caPem: ca.cert, certPem: leaf.cert, keyPem: leaf.private };
}

/** Starts a hostile HTTPS server on 127.0.0.1 and a free port. */
export async function startHostileServer(handler: HostileHandler = DEFAULT): Promise<HostileServer> {
  const certs = await hostileCertificates();
  let current = handler;
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body });
      Promise.resolve(current(Object.assign(req, { body }), res)).catch((error: unknown) => {
        if (!res.headersSent) misbehave.json(res, 500, { error: { code: 'hostile_handler_failed', message: String(error) } });
        else res.destroy();
      });
    });
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    caPem: certs.caPem,
    seen,
    on(next) {
      current = next;
    },
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A token provider that hands out a fixed token: for tests whose server is not an identity provider. */
export function staticToken(token = 'hostile-test-token-0123456789'): { getToken(): Promise<{ token: string; expiresOnTimestamp: number }> } {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

const bombs = new Map<string, Buffer>();

/** `inflatedBytes` of zeros compressed with `encoding` (cached per size): a small body that inflates enormously. */
export async function compressedZeros(encoding: 'br' | 'gzip' | 'deflate', inflatedBytes: number): Promise<Buffer> {
  const key = `${encoding}:${inflatedBytes}`;
  const cached = bombs.get(key);
  if (cached) return cached;
  // Brotli quality 5 with a 16 MiB window: 2 GiB of zeros become about 1.6 KB in under 2 s
  // (quality 1 gives 380 KB; quality 11 takes two minutes).
  const z =
    encoding === 'br'
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_LGWIN]: 24 } })
      : encoding === 'gzip'
        ? zlib.createGzip({ level: 9 })
        : zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const chunk = Buffer.alloc(1024 * 1024);
  const done = new Promise<Buffer>((resolve, reject) => {
    z.on('end', () => resolve(Buffer.concat(out)));
    z.on('error', reject);
  });
  let written = 0;
  const write = (): void => {
    while (written < inflatedBytes) {
      const n = Math.min(chunk.length, inflatedBytes - written);
      written += n;
      if (!z.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        z.once('drain', write);
        return;
      }
    }
    z.end();
  };
  write();
  const result = await done;
  bombs.set(key, result);
  return result;
}

/** The misbehaviours, each writing one answer to `res`. */
export const misbehave = {
  /** A well-formed JSON answer (the baseline). */
  json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  },

  /** A decompression bomb: a small compressed body that inflates to `inflatedBytes`. */
  async bomb(res: ServerResponse, options: { encoding: 'br' | 'gzip' | 'deflate'; inflatedBytes: number; status?: number }): Promise<void> {
    const body = await compressedZeros(options.encoding, options.inflatedBytes);
    res.writeHead(options.status ?? 200, { 'Content-Type': 'application/json', 'Content-Encoding': options.encoding, 'Content-Length': String(body.length) });
    res.end(body);
  },

  /** A body of `bytes` bytes (a JSON string of that length), streamed without Content-Length unless `declare`. */
  oversized(res: ServerResponse, bytes: number, options: { declare?: boolean; status?: number } = {}): void {
    res.writeHead(options.status ?? 200, { 'Content-Type': 'application/json', ...(options.declare ? { 'Content-Length': String(bytes) } : {}) });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    res.write('"');
    sent++;
    const pump = (): void => {
      while (sent < bytes - 1) {
        const n = Math.min(chunk.length, bytes - 1 - sent);
        sent += n;
        if (!res.write(chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end('"');
    };
    res.on('close', () => (sent = bytes));
    pump();
  },

  /** Sends the head and then `body` a few bytes at a time, every `intervalInMs`. */
  trickle(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer, options: { bytesPerTick?: number; intervalInMs?: number } = {}): void {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const step = options.bytesPerTick ?? 1;
    res.writeHead(status, { 'Content-Length': String(data.length), ...headers });
    res.flushHeaders();
    let offset = 0;
    const timer = setInterval(() => {
      if (res.destroyed || offset >= data.length) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(data.subarray(offset, offset + step));
      offset += step;
    }, options.intervalInMs ?? 1000);
    res.on('close', () => clearInterval(timer));
  },

  /** Declares the full Content-Length, sends the first `cutAt` bytes, then closes the connection. */
  truncated(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer, cutAt: number): void {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'Content-Length': String(data.length), ...headers });
    res.write(data.subarray(0, cutAt), () => res.socket?.destroy());
  },

  /** A redirect to `location`. */
  redirect(res: ServerResponse, status: 301 | 302 | 303 | 307 | 308, location: string): void {
    res.writeHead(status, { Location: location, 'Content-Length': '0' });
    res.end();
  },

  /** Closes the connection without an answer (as a crashed gateway does). */
  reset(res: ServerResponse): void {
    res.socket?.destroy();
  },

  /** An answer compressed with `encoding`, as Dataverse sends gzip when asked. */
  compressed(res: ServerResponse, status: number, body: string, encoding: 'br' | 'gzip' | 'deflate', headers: Record<string, string> = {}): void {
    const data = encoding === 'br' ? zlib.brotliCompressSync(body) : encoding === 'gzip' ? zlib.gzipSync(body) : zlib.deflateSync(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Encoding': encoding, 'Content-Length': String(data.length), ...headers });
    res.end(data);
  },
};

// ---------------------------------------------------------------------------------------------
// $batch answers

/** One part of a scripted `$batch` answer. */
export interface BatchPartScript {
  status: number;
  /** Reason phrase. Default: a standard one for the status. */
  statusText?: string;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON (with `Content-Type: application/json`). */
  body?: unknown;
  /** `Content-ID` of the part (in a change set). */
  contentId?: string;
}

/** A scripted change-set answer: its parts, framed with a boundary of their own. */
export interface BatchChangeSetScript {
  changeSet: BatchPartScript[];
}

const REASON: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 404: 'Not Found', 412: 'Precondition Failed', 500: 'Internal Server Error', 503: 'Service Unavailable' };

function framePart(part: BatchPartScript): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (part.contentId !== undefined) lines.push(`Content-ID: ${part.contentId}`);
  lines.push('', `HTTP/1.1 ${part.status} ${part.statusText ?? REASON[part.status] ?? 'Status'}`);
  const headers = { ...(part.headers ?? {}) };
  let body = '';
  if (part.body !== undefined) {
    body = typeof part.body === 'string' ? part.body : JSON.stringify(part.body);
    if (typeof part.body !== 'string' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json; odata.metadata=minimal';
  }
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push('', body);
  return lines.join('\r\n');
}

/**
 * A `$batch` answer body (multipart/mixed, CRLF, as Dataverse frames it) and its Content-Type. Parts
 * are single answers or change-set answers with a boundary of their own.
 *
 * @example multipartBatch([{ changeSet: [{ status: 204, contentId: '1', headers: { 'OData-EntityId': '…' } }] }, { status: 500, body: { error: { code: '0x1', message: 'boom' } } }])
 */
export function multipartBatch(items: ReadonlyArray<BatchPartScript | BatchChangeSetScript>, boundary = 'batchresponse_hostile'): { body: string; contentType: string } {
  let cs = 0;
  const chunks = items.map((item) => {
    if ('changeSet' in item) {
      const inner = `changesetresponse_hostile_${cs++}`;
      return `Content-Type: multipart/mixed; boundary=${inner}\r\n\r\n${item.changeSet.map((p) => `--${inner}\r\n${framePart(p)}\r\n`).join('')}--${inner}--\r\n`;
    }
    return `${framePart(item)}\r\n`;
  });
  return { body: `${chunks.map((c) => `--${boundary}\r\n${c}`).join('')}--${boundary}--\r\n`, contentType: `multipart/mixed; boundary=${boundary}` };
}

// ---------------------------------------------------------------------------------------------
// Token providers that misbehave

/** A token provider that never answers until told to, recording the options of every call. */
export interface StalledTokenProvider {
  getToken(options?: { forceRefresh?: boolean; abortSignal?: AbortSignal }): Promise<{ token: string; expiresOnTimestamp: number }>;
  /** The options each `getToken` call received, in order. */
  readonly calls: Array<{ forceRefresh?: boolean; abortSignal?: AbortSignal }>;
  /** Answers every pending call with `token`. */
  release(token?: string): void;
}

/** A token provider whose `getToken` hangs (as a token endpoint delayed for a minute does) until `release()`. */
export function stalledToken(): StalledTokenProvider {
  const calls: Array<{ forceRefresh?: boolean; abortSignal?: AbortSignal }> = [];
  const waiting: Array<(token: string) => void> = [];
  return {
    calls,
    getToken(options = {}) {
      calls.push(options);
      return new Promise((resolve) => waiting.push((token) => resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 })));
    },
    release(token = 'released-token-0123456789') {
      for (const answer of waiting.splice(0)) answer(token);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Echoes of the Authorization header

/** The shapes a server or gateway echoes a request's `Authorization` header in. */
export type EchoShape = 'json400' | 'json401' | 'json403' | 'json404' | 'json500' | 'html502' | 'html200' | 'truncatedJson200' | 'text200' | 'header400';

/**
 * Answers with the request's `Authorization` header echoed in the given shape: a Dataverse JSON
 * error whose message, code and inner error quote it, an HTML page, truncated JSON, plain text, or a
 * header of its own.
 */
export function echoAuthorization(req: IncomingMessage, res: ServerResponse, shape: EchoShape): void {
  const auth = String(req.headers.authorization ?? '');
  const token = auth.replace(/^Bearer\s+/i, '');
  const jsonError = (status: number) =>
    misbehave.json(res, status, {
      error: { code: '0x80040220', message: `Denied for ${auth}`, innererror: { message: `token=${token}`, stacktrace: `at Check(${auth})`, [auth]: token } },
    });
  switch (shape) {
    case 'json400':
      return jsonError(400);
    case 'json401':
      return jsonError(401);
    case 'json403':
      return jsonError(403);
    case 'json404':
      return jsonError(404);
    case 'json500':
      return jsonError(500);
    case 'html502': {
      const html = `<html><head><title>502 ${auth}</title></head><body>Upstream said: ${auth}</body></html>`;
      res.writeHead(502, { 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(html)) });
      return void res.end(html);
    }
    case 'html200': {
      const html = `<html><body>Welcome back, ${auth}</body></html>`;
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(html)) });
      return void res.end(html);
    }
    case 'truncatedJson200': {
      const text = `{"value":[{"name":"${auth}"`;
      return misbehave.json(res, 200, text);
    }
    case 'text200': {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(auth)) });
      return void res.end(auth);
    }
    case 'header400': {
      const body = JSON.stringify({ error: { code: '0x1', message: 'see headers' } });
      res.writeHead(400, { 'Content-Type': 'application/json', 'X-Echo-Authorization': auth, 'x-ms-service-request-id': token, 'Content-Length': String(Buffer.byteLength(body)) });
      return void res.end(body);
    }
  }
}

/** A hostile Entra ID: the OpenID discovery MSAL fetches for an authority on it, and a scripted token endpoint. */
export interface HostileEntra {
  /** The server underneath (its `seen` lists discovery and token requests alike). */
  readonly server: HostileServer;
  readonly tenant: string;
  /** `https://127.0.0.1:PORT/<tenant>`: the provider's `authority`. */
  readonly authority: string;
  /** `…/<tenant>/oauth2/v2.0/token`: the provider's `tokenUrl`. */
  readonly tokenUrl: string;
  /** PEM of the CA to trust: the provider's `ca`. */
  readonly caPem: string;
  /** Scripts the token endpoint for the requests that follow (default: {@link entraToken}). */
  onToken(handler: HostileHandler): void;
  /** Token requests received so far (discovery not counted). */
  tokenRequests(): number;
  close(): Promise<void>;
}

/** A well-formed token response, as Entra's v2 endpoint sends one. */
export function entraToken(res: ServerResponse, options: { accessToken?: string; expiresIn?: number } = {}): void {
  misbehave.json(res, 200, { token_type: 'Bearer', expires_in: options.expiresIn ?? 3599, ext_expires_in: options.expiresIn ?? 3599, access_token: options.accessToken ?? `hostile-entra-token-${Math.random().toString(36).slice(2)}` });
}

/**
 * Starts a hostile Entra on 127.0.0.1: `GET /<tenant>/v2.0/.well-known/openid-configuration` answers
 * the discovery document MSAL needs for a non-Microsoft authority (given in `knownAuthorities`, as
 * MsalTokenProvider does for any other host), `POST /<tenant>/oauth2/v2.0/token` runs the scripted
 * handler. Anything else gets Entra's 404.
 *
 * @example
 * const entra = await startHostileEntra();
 * entra.onToken((req, res) => misbehave.trickle(res, 200, { 'Content-Type': 'application/json' }, '{"access_token":"x"}'));
 * new MsalTokenProvider({ tokenUrl: entra.tokenUrl, ca: entra.caPem, clientId, clientSecret, resource });
 */
export async function startHostileEntra(options: { tenant?: string } = {}): Promise<HostileEntra> {
  const tenant = options.tenant ?? '6e5f4d3c-2b1a-4098-8765-43210fedcba9';
  let token: HostileHandler = (_req, res) => entraToken(res);
  let tokens = 0;
  const server = await startHostileServer((req, res) => {
    const url = new URL(req.url ?? '/', 'https://entra.invalid');
    if (req.method === 'GET' && url.pathname === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      const o = `https://127.0.0.1:${server.port}/${tenant}`;
      return misbehave.json(res, 200, {
        token_endpoint: `${o}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${o}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${o}/v2.0`,
        authorization_endpoint: `${o}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${o}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${o}/oauth2/v2.0/logout`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
      });
    }
    if (req.method === 'POST' && url.pathname === `/${tenant}/oauth2/v2.0/token`) {
      tokens++;
      return token(req, res);
    }
    return misbehave.json(res, 404, { error: 'invalid_request', error_description: `AADSTS90002: no such endpoint ${url.pathname}`, error_codes: [90002] });
  });
  return {
    server,
    tenant,
    authority: `${server.origin}/${tenant}`,
    tokenUrl: `${server.origin}/${tenant}/oauth2/v2.0/token`,
    caPem: server.caPem,
    onToken(handler) {
      token = handler;
    },
    tokenRequests: () => tokens,
    close: () => server.close(),
  };
}

/** What {@link floodUpload} saw. */
export interface FloodResult {
  /** The answer's status, or undefined when the connection failed before an answer arrived. */
  status?: number;
  headers?: IncomingHttpHeaders;
  /** The answer's body (empty when there was none). */
  body: string;
  /** Body bytes the server's socket accepted (flushed past the client's buffers) before the answer or the close. */
  bytesSent: number;
  /** The network error that ended the exchange, if any (`ECONNRESET`, `EPIPE`, …). */
  errorCode?: string;
}

/**
 * A hostile client: uploads `totalBytes` of filler to `url` without ever holding them in memory,
 * declared in `Content-Length` (default) or sent chunked, and reports the answer and how much of the
 * body the server took before answering. Proves that a server refuses an oversized or unauthenticated
 * upload early instead of reading (and buffering) all of it.
 *
 * @example
 * const r = await floodUpload(`${emulator.url}/api/data/v9.2/accounts`, emulator.caPem, { totalBytes: 300 * 2 ** 20 });
 * expect(r.status).toBe(401);
 * expect(r.bytesSent).toBeLessThan(32 * 2 ** 20);
 */
export function floodUpload(
  url: string,
  ca: string,
  options: { totalBytes: number; method?: string; headers?: Record<string, string>; chunked?: boolean; fill?: number },
): Promise<FloodResult> {
  return new Promise<FloodResult>((resolve) => {
    const target = new URL(url);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...(options.headers ?? {}) };
    if (!options.chunked) headers['Content-Length'] = String(options.totalBytes);
    const chunk = Buffer.alloc(64 * 1024, options.fill ?? 0x20);
    let bytesSent = 0;
    let queued = 0;
    let settled = false;
    const result: FloodResult = { body: '', bytesSent: 0 };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      result.bytesSent = bytesSent;
      resolve(result);
    };
    const req = httpsRequest(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method ?? 'POST', headers, ca, agent: false },
      (res) => {
        result.status = res.statusCode;
        result.headers = res.headers;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          result.body = Buffer.concat(parts).toString('utf8');
          finish();
        });
        res.on('error', finish);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      result.errorCode = error.code;
      // An answer may still be arriving; give it the chance to be read.
      setTimeout(finish, 200);
    });
    req.on('close', () => setTimeout(finish, 200));
    const pump = (): void => {
      while (queued < options.totalBytes && !req.destroyed) {
        const n = Math.min(chunk.length, options.totalBytes - queued);
        queued += n;
        const more = req.write(n === chunk.length ? chunk : chunk.subarray(0, n), (error) => {
          if (!error) bytesSent += n;
        });
        if (!more) {
          req.once('drain', pump);
          return;
        }
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}
