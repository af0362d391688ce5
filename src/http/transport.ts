import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import axios, { type AxiosAdapter, type AxiosRequestConfig, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import { createTunnelingAgent, proxyFor } from '../net/proxy';
import { originOf, sameOrigin } from '../net/origin';
import { ACCEPT_ENCODING } from '../net/body';
import { exchange, type RequestFunction } from '../net/request';
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
  // The CA goes into one TLS context rather than into the agent's options: node's https.Agent names
  // its socket pool after every TLS option (getName), so a PEM in the options is copied into a
  // kilobytes-long key and hashed on every request. `tls.connect` builds exactly this context from a
  // `ca` option, so what is trusted does not change (the CA replaces the default roots either way).
  const tlsOptions = options.ca === undefined ? {} : { secureContext: tls.createSecureContext({ ca: options.ca }) };
  const agentOptions = { keepAlive: true, scheduling: 'lifo' as const, ...tlsOptions };
  const target = new URL(options.origin);
  const proxy = proxyFor(target, options.env ?? process.env);
  const agent = proxy !== undefined ? createTunnelingAgent(proxy, isHttps, agentOptions) : isHttps ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const proxied = proxy !== undefined;

  const adapter: AxiosAdapter = createLeanAdapter((isHttps ? https.request : http.request) as RequestFunction, agent, target, options.origin, proxied);
  // A bare `Axios` with only the adapter as defaults, not `axios.create()`: axios merges its defaults
  // into every request and then walks every key of the merged config several times (its
  // prototype-pollution guards, header normalisation), so its CPU per request grows with the number
  // of keys. `axios.create()` copies every global default (transitional, env, xsrf, transforms, …),
  // none of which the lean adapter reads. Consequently: no transforms (bodies are strings or Buffers
  // we encoded, responses are decoded by the pipeline, which wants a clean error on bad JSON rather
  // than axios's silent fallback to text), no redirects, and no status is an error, because the lean
  // adapter resolves every response and never builds an AxiosError (which would embed the request
  // config, Authorization header included).
  const instance = new axios.Axios({ adapter });

  return {
    proxied,
    send(request: HttpRequest): Promise<HttpResponse> {
      // axios dispatches the request (its request and response interceptors, its adapter contract),
      // and the lean adapter sends the pipeline's request as the pipeline built it: headers, body,
      // deadline, signal and body limit travel by reference in one `PipelineExchange`, which axios
      // passes through untouched (not a plain object, so its config merge neither copies nor walks
      // it). Handing axios the headers instead costs a deep merge, two AxiosHeaders normalisations and
      // a toJSON per request, more than the rest of axios together, for headers the adapter would
      // only turn back into the object it was given.
      //
      // The exchange is the only key of the config, on purpose: axios's dispatch walks every key of
      // the config several times (mergeConfig's strategy lookups and copy, toSafeFlatObject's
      // descriptor check, assertOptions), and a `post`/`put`/`patch` method makes it set a default
      // Content-Type on its AxiosHeaders that the adapter never reads. Method and URL travel in the
      // exchange, where the adapter reads them (measured: ~30% less axios CPU per request).
      const config = { exchange: new PipelineExchange(request) };
      return instance.request<Buffer>(config as AxiosRequestConfig).then(toHttpResponse, (error: unknown) => {
        throw sanitizeError(error);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** The pipeline's request on its way through axios to the adapter (by reference: see `send`). */
class PipelineExchange {
  constructor(readonly request: HttpRequest) {}
}

/** What the lean adapter hands axios, plus the pipeline's response (cheaper to read than AxiosHeaders). */
interface LeanResponse extends AxiosResponse<Buffer> {
  pipelineResponse?: HttpResponse;
}

function toHttpResponse(response: LeanResponse): HttpResponse {
  if (response.pipelineResponse !== undefined) return response.pipelineResponse;
  // Only reached if something between axios and the adapter replaced the response.
  const data = response.data as unknown;
  return {
    status: response.status,
    headers: plainHeaders(response.headers as Record<string, unknown>),
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

/**
 * The adapter: hands the exchange to net's {@link exchange} (deadline, abort, bounded body,
 * decompression off the loop) and wraps the answer as axios expects it.
 */
function createLeanAdapter(send: RequestFunction, agent: http.Agent, target: URL, origin: string, tunnelled: boolean): AxiosAdapter {
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? undefined : Number(target.port);

  return (config: InternalAxiosRequestConfig) =>
    new Promise<LeanResponse>((resolve, reject) => {
      const carried = (config as { exchange?: unknown }).exchange;
      if (!(carried instanceof PipelineExchange)) {
        reject(new TransportError('invalid', 'the transport only sends requests built by the pipeline'));
        return;
      }
      const request = carried.request;
      const url = request.url;
      // The pipeline only builds URLs on the client's origin; anything else is a bug, never sent.
      if (!sameOrigin(url, origin)) {
        reject(new TransportError('invalid', 'refusing to send a request to another origin'));
        return;
      }
      // Compressed answers are welcome (the client's calls ask for them already). Content-Length is
      // node's: `end(body)` on a request whose headers are not yet sent writes the body's byte length.
      let headers = request.headers;
      if (headers['Accept-Encoding'] === undefined && headers['accept-encoding'] === undefined) headers = { ...headers, 'Accept-Encoding': ACCEPT_ENCODING };
      const data = request.body;
      const deadline = request.deadline;
      exchange(
        send,
        {
          method: request.method,
          hostname,
          port,
          // Cut from the URL, not re-serialized through URL: `@odata.nextLink` must go out byte for byte.
          path: pathOf(url),
          headers,
          body: data,
          agent,
          deadline,
          abortSignal: request.abortSignal,
          maxResponseBytes: request.maxResponseBytes,
          // Passed through node's Agent to the tunnel, so a CONNECT left unanswered gives up with the request.
          ...(tunnelled && deadline !== Infinity ? { extra: { tunnelTimeoutInMs: Math.max(1, timerDelay(deadline - Date.now())) } } : {}),
        },
        (res) =>
          resolve({
            data: res.body,
            status: res.status,
            statusText: res.statusMessage,
            // Empty on purpose: axios would copy node's headers into two AxiosHeaders objects per
            // response, normalising every name, and nothing reads them there: the pipeline takes
            // `pipelineResponse`, with the headers as node parsed them.
            headers: {},
            config,
            pipelineResponse: { status: res.status, headers: res.headers, body: res.body },
          }),
        reject,
      );
    });
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
