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
