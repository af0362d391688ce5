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
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as zlib from 'node:zlib';
import { createCertificates } from '../../src/emulator/cert';

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

/** Starts a hostile HTTPS server on 127.0.0.1 and a free port. */
export async function startHostileServer(handler: HostileHandler = DEFAULT): Promise<HostileServer> {
  const certs = await createCertificates();
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
  const z =
    encoding === 'br'
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } })
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
