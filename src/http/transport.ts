import * as http from 'node:http';
import * as https from 'node:https';
import axios, { type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { createTunnelingAgent, proxyFor } from '../net/proxy';
import { originOf, sameOrigin } from '../net/origin';
import { sendRaw, type RequestFunction } from '../net/request';
import { timerDelay } from '../net/timers';
import { TransportError, type HttpRequest, type HttpResponse } from './types';

/** The library's one origin comparison lives in net (src/net/origin.ts); re-exported for the transport's callers. */
export { originOf, sameOrigin };

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

/**
 * The transport: axios with one keep-alive agent per client and a lean adapter over node's `https`
 * (axios's default Node adapter wraps every request in `follow-redirects` and a stream pipeline, which
 * costs more than the socket work; measured in the README's Benchmarks section). The lean adapter does what the Web API needs
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

  const adapter: AxiosAdapter = createLeanAdapter((isHttps ? https.request : http.request) as RequestFunction, agent, target, options.origin, proxied);
  // A bare `Axios` with only the adapter as defaults, not `axios.create()`: axios merges its defaults
  // into every request and then walks every key of the merged config several times (its
  // prototype-pollution guards, header normalisation), so its CPU per request grows with the number
  // of keys. `axios.create()` copies every global default (transitional, env, xsrf, transforms, …),
  // none of which the lean adapter reads; dropping them cut axios's own cost per GET by a
  // third (README, Benchmarks). Consequently, and as before: no transforms (bodies are strings or Buffers
  // we encoded, responses are decoded by the pipeline, which wants a clean error on bad JSON rather
  // than axios's silent fallback to text), no redirects, and no status is an error, because the lean
  // adapter resolves every response and never builds an AxiosError (which would embed the request
  // config, Authorization header included).
  const instance = new axios.Axios({ adapter });

  return {
    proxied,
    send(request: HttpRequest): Promise<HttpResponse> {
      // Only the keys in use: each one costs axios a few property walks per request.
      const config: Partial<LeanConfig> = { method: request.method, url: request.url, headers: request.headers as LeanConfig['headers'] };
      if (request.body !== undefined) config.data = request.body;
      if (request.deadline !== Infinity) config.deadline = request.deadline;
      if (request.maxResponseBytes !== undefined) config.maxResponseBytes = request.maxResponseBytes;
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

/** The pipeline's deadline and body limit travel to the adapter on the axios config. */
interface LeanConfig extends InternalAxiosRequestConfig {
  deadline?: number;
  maxResponseBytes?: number;
}

/**
 * The adapter: hands the exchange to net's {@link sendRaw} (deadline, abort, bounded body,
 * decompression off the loop) and wraps the answer as axios expects it.
 */
function createLeanAdapter(request: RequestFunction, agent: http.Agent, target: URL, origin: string, tunnelled: boolean): AxiosAdapter {
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? undefined : Number(target.port);

  return (config: InternalAxiosRequestConfig) => {
    const url = config.url ?? '';
    // The pipeline only builds URLs on the client's origin; anything else is a bug, never sent.
    if (!sameOrigin(url, origin)) return Promise.reject(new TransportError('invalid', 'refusing to send a request to another origin'));
    // Cut from the URL, not re-serialized through URL: `@odata.nextLink` must go out byte for byte.
    const path = pathOf(url);
    const headers = config.headers.toJSON() as Record<string, string>;
    const data = config.data as string | Buffer | undefined;
    if (data !== undefined && data !== null) headers['Content-Length'] = String(Buffer.byteLength(data));
    if (headers['Accept-Encoding'] === undefined && headers['accept-encoding'] === undefined) headers['Accept-Encoding'] = 'gzip, deflate, br';
    const lean = config as LeanConfig;
    const deadline = lean.deadline ?? Infinity;
    return sendRaw(request, {
      method: (config.method ?? 'get').toUpperCase(),
      hostname,
      port,
      path,
      headers,
      body: data ?? undefined,
      agent,
      deadline,
      abortSignal: config.signal as AbortSignal | undefined,
      maxResponseBytes: lean.maxResponseBytes,
      // Passed through node's Agent to the tunnel, so a CONNECT left unanswered gives up with the request.
      ...(tunnelled && deadline !== Infinity ? { extra: { tunnelTimeoutInMs: Math.max(1, timerDelay(deadline - Date.now())) } } : {}),
    }).then(
      (res) =>
        ({
          data: res.body,
          status: res.status,
          statusText: res.statusMessage,
          // Empty on purpose: axios would copy node's headers into two AxiosHeaders objects per
          // response, normalising every name, which cost as much as the rest of axios together, and
          // nothing reads them there: the pipeline takes `nodeHeaders`, as node parsed them.
          headers: {},
          nodeHeaders: res.headers,
          config,
        }) as LeanResponse,
    );
  };
}

/** Everything after the authority of an absolute URL (`/` when there is nothing). */
function pathOf(url: string): string {
  const start = url.indexOf('//');
  const slash = url.indexOf('/', start + 2);
  const query = url.indexOf('?', start + 2);
  if (slash === -1 || (query !== -1 && query < slash)) return `/${query === -1 ? '' : url.slice(query)}`;
  return url.slice(slash);
}

/**
 * Whether a proxy from the environment applies to `target`, following the usual conventions
 * (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, either case, and `NO_PROXY` with `*`, host suffixes and ports).
 */
export function proxyApplies(target: URL, env: NodeJS.ProcessEnv): boolean {
  return proxyFor(target, env) !== undefined;
}
