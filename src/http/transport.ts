import * as http from 'node:http';
import * as https from 'node:https';
import * as zlib from 'node:zlib';
import axios, { type AxiosAdapter, type AxiosRequestConfig, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { createTunnelingAgent, proxyFor } from './proxy';
import { TransportError, type HttpRequest, type HttpResponse } from './types';

/** Options of {@link createTransport}. */
export interface TransportOptions {
  /** The environment's origin, `https://org.crm.dynamics.com` (no trailing slash). */
  origin: string;
  /** Extra trusted CA certificates (PEM), e.g. the emulator's. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Environment variables to read proxy settings from, once, at construction. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Sends requests over one keep-alive agent; `close()` ends its sockets. */
export interface Transport {
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Whether requests go through a proxy (from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY`). */
  readonly proxied: boolean;
  close(): void;
}

/** Bodies up to this size are inflated synchronously: cheaper than a thread-pool round trip. */
const SYNC_INFLATE_LIMIT = 64 * 1024;

/**
 * The transport: axios with one keep-alive agent per client and a lean adapter over node's `https`
 * (performance-notes.md: axios's default Node adapter wraps every request in `follow-redirects` and a
 * stream pipeline, which costs more than the socket work). The lean adapter does what the Web API needs
 * and nothing else: keep-alive, gzip/deflate/br, a timeout, abort. When a proxy applies (read from the
 * environment once, here), the agent opens its connections through it with `CONNECT` ({@link createTunnelingAgent}),
 * so proxied requests get the same adapter, timeout, abort and keep-alive pool. Data calls are never
 * redirected by the Web API, so redirects are off.
 *
 * @throws TypeError when the proxy variable that applies is not an http(s) URL.
 */
export function createTransport(options: TransportOptions): Transport {
  const isHttps = options.origin.startsWith('https:');
  const agentOptions = { keepAlive: true, scheduling: 'lifo' as const, ...(options.ca === undefined ? {} : { ca: options.ca }) };
  const target = new URL(options.origin);
  const proxy = proxyFor(target, options.env ?? process.env);
  const agent = proxy !== undefined ? createTunnelingAgent(proxy, isHttps, agentOptions) : isHttps ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const proxied = proxy !== undefined;

  const adapter: AxiosAdapter = createLeanAdapter(isHttps ? https.request : http.request, agent, target, options.origin, proxied);
  // A bare `Axios` with only the adapter as defaults, not `axios.create()`: axios merges its defaults
  // into every request and then walks every key of the merged config several times (its
  // prototype-pollution guards, header normalisation), so its CPU per request grows with the number
  // of keys. `axios.create()` copies every global default (transitional, env, xsrf, transforms, …),
  // none of which the lean adapter reads; dropping them cut axios's own cost per GET by a
  // third (performance-notes.md). Consequently, and as before: no transforms (bodies are strings or Buffers
  // we encoded, responses are decoded by the pipeline, which wants a clean error on bad JSON rather
  // than axios's silent fallback to text), no redirects, and no status is an error, because the lean
  // adapter resolves every response and never builds an AxiosError (which would embed the request
  // config, Authorization header included).
  const instance = new axios.Axios({ adapter });

  return {
    proxied,
    send(request: HttpRequest): Promise<HttpResponse> {
      // Only the keys in use: each one costs axios a few property walks per request.
      const config: AxiosRequestConfig = { method: request.method, url: request.url, headers: request.headers };
      if (request.body !== undefined) config.data = request.body;
      if (request.deadline !== Infinity) config.timeout = Math.max(1, request.deadline - Date.now());
      if (request.abortSignal !== undefined) config.signal = request.abortSignal;
      return instance.request(config).then(toHttpResponse, (error: unknown) => {
        throw sanitizeError(error);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

type RequestFn = typeof https.request;

/** What the lean adapter hands axios, plus the node headers untouched (cheaper to read than AxiosHeaders). */
interface LeanResponse extends AxiosResponse<Buffer> {
  nodeHeaders?: http.IncomingHttpHeaders;
}

function toHttpResponse(response: LeanResponse): HttpResponse {
  const data = response.data as unknown;
  return {
    status: response.status,
    headers: response.nodeHeaders ?? plainHeaders(response.headers as Record<string, unknown>),
    body: Buffer.isBuffer(data) ? data : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(String(data ?? '')),
  };
}

function plainHeaders(headers: Record<string, unknown>): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (typeof value === 'string' || Array.isArray(value)) out[key.toLowerCase()] = value as string | string[];
    else if (typeof value === 'number') out[key.toLowerCase()] = String(value);
  }
  return out;
}

/**
 * Turns whatever the transport rejected with into a {@link TransportError}. An `AxiosError` carries the
 * request config (with the `Authorization` header), so only its message and code survive.
 */
function sanitizeError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const e = error as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : 'request failed';
  if (code === 'ERR_CANCELED' || e?.name === 'CanceledError' || e?.name === 'AbortError') return new TransportError('aborted', 'the request was aborted');
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return new TransportError('timeout', message, code);
  return new TransportError('network', message, code);
}

function createLeanAdapter(request: RequestFn, agent: http.Agent, target: URL, origin: string, tunnelled: boolean): AxiosAdapter {
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? undefined : Number(target.port);
  const prefix = `${origin}/`;

  return (config: InternalAxiosRequestConfig) =>
    new Promise<AxiosResponse>((resolve, reject) => {
      const url = config.url ?? '';
      // The pipeline only builds URLs on the client's origin; anything else is a bug, never sent.
      if (!url.startsWith(prefix)) {
        reject(new TransportError('network', 'refusing to send a request to another origin'));
        return;
      }
      // Sliced, not re-serialized through URL: `@odata.nextLink` must go out byte for byte.
      const path = url.slice(origin.length);
      const headers = config.headers.toJSON() as Record<string, string>;
      const data = config.data as string | Buffer | undefined;
      if (data !== undefined && data !== null) headers['Content-Length'] = String(Buffer.byteLength(data));
      if (headers['Accept-Encoding'] === undefined && headers['accept-encoding'] === undefined) headers['Accept-Encoding'] = 'gzip, deflate, br';

      const signal = config.signal as AbortSignal | undefined;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (error: TransportError | undefined, response?: AxiosResponse) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(response as AxiosResponse);
      };
      const onAbort = () => {
        req.destroy();
        settle(new TransportError('aborted', 'the request was aborted'));
      };

      const timeout = config.timeout ?? 0;
      let req: http.ClientRequest;
      try {
        req = request({
          agent,
          hostname,
          port,
          path,
          method: (config.method ?? 'get').toUpperCase(),
          headers,
          // Passed through node's Agent to the tunnel, so a CONNECT left unanswered gives up with the request.
          ...(tunnelled && timeout > 0 ? { tunnelTimeoutInMs: timeout } : {}),
        });
      } catch (error) {
        // Node validates the path and header values synchronously (ERR_UNESCAPED_CHARACTERS, ERR_INVALID_CHAR).
        const e = error as NodeJS.ErrnoException;
        reject(new TransportError('invalid', e.message, e.code));
        return;
      }
      req.on('error', (error: NodeJS.ErrnoException) => settle(new TransportError('network', error.message, error.code)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
        });
        res.on('error', (error: NodeJS.ErrnoException) => settle(new TransportError('network', error.message, error.code)));
        res.on('end', () => {
          const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
          const done = (body: Buffer) =>
            settle(undefined, {
              data: body,
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              // Empty on purpose: axios would copy node's headers into two AxiosHeaders objects per
              // response, normalising every name, which cost as much as the rest of axios together, and
              // nothing reads them there: the pipeline takes `nodeHeaders`, as node parsed them.
              headers: {},
              nodeHeaders: res.headers,
              config,
            } as LeanResponse);
          inflate(raw, res.headers['content-encoding'], (error, body) => {
            if (error) settle(new TransportError('network', `could not decode the ${String(res.headers['content-encoding'])} response body: ${error.message}`));
            else done(body as Buffer);
          });
        });
      });

      if (signal) {
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (timeout > 0) {
        timer = setTimeout(() => {
          req.destroy();
          settle(new TransportError('timeout', `no response within ${timeout} ms`, 'ETIMEDOUT'));
        }, timeout);
      }
      req.end(data ?? undefined);
    });
}

function inflate(raw: Buffer, encoding: string | undefined, callback: (error: Error | null, body?: Buffer) => void): void {
  if (encoding === undefined || encoding === 'identity' || raw.length === 0) {
    callback(null, raw);
    return;
  }
  const kind = encoding.trim().toLowerCase();
  const sync = raw.length <= SYNC_INFLATE_LIMIT;
  try {
    if (kind === 'gzip' || kind === 'x-gzip') {
      if (sync) callback(null, zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
      else zlib.gunzip(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH }, callback);
    } else if (kind === 'deflate') {
      // Some servers send raw deflate without the zlib wrapper; inflate tells them apart by the header byte.
      const fn = (raw[0] & 0x0f) === 0x08 ? zlib.inflate : zlib.inflateRaw;
      const fnSync = fn === zlib.inflate ? zlib.inflateSync : zlib.inflateRawSync;
      if (sync) callback(null, fnSync(raw));
      else fn(raw, callback);
    } else if (kind === 'br') {
      if (sync) callback(null, zlib.brotliDecompressSync(raw));
      else zlib.brotliDecompress(raw, callback);
    } else {
      callback(new Error(`unsupported content-encoding ${JSON.stringify(encoding)}`));
    }
  } catch (error) {
    callback(error as Error);
  }
}

/**
 * Whether a proxy from the environment applies to `target`, following the usual conventions
 * (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, either case, and `NO_PROXY` with `*`, host suffixes and ports).
 */
export function proxyApplies(target: URL, env: NodeJS.ProcessEnv): boolean {
  return proxyFor(target, env) !== undefined;
}
