import { parseRetryAfter } from '../retryAfter';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { AuthenticationError, DynamicsError, ErrorCode, NetworkError, ThrottledError, TimeoutError } from '../errors';
import type { Logger } from '../logger';

/**
 * Retries of token-endpoint and discovery requests. MSAL itself never retries a token request,
 * and remembers a 429/5xx per request for `Retry-After` (default 60 s) and then fails without
 * I/O (msal-common `network/ThrottlingUtils.ts`). So we retry here, before MSAL sees the
 * response, and when retries run out we throw instead of returning the 429/5xx: MSAL rethrows
 * our error unchanged and never records a throttle entry.
 */
export interface TokenRetryOptions {
  /** Retries after the first attempt. Default: 3. */
  maxRetries?: number;
  /** First backoff delay when the server sent no `Retry-After`; doubles each retry, with jitter. Default: 500. */
  retryDelayInMs?: number;
  /** Longest backoff delay. Default: 8000. */
  maxRetryDelayInMs?: number;
  /** A `Retry-After` longer than this is not waited for: the request fails at once. Default: 60000. */
  maxRetryAfterInMs?: number;
}

export interface HttpsNetworkClientOptions {
  /** PEM of extra trusted CA certificates (added to Node's default roots). */
  ca?: string;
  /** `http://host:port` of an HTTP proxy that supports CONNECT. */
  proxy?: string;
  retry?: TokenRetryOptions;
  /** Per-attempt timeout. Default: 30000. */
  timeoutInMs?: number;
  logger: Logger;
}

/**
 * An {@link AuthError} that carries the {@link DynamicsError} we want callers to see. MSAL passes
 * any `AuthError` thrown by the network client through unchanged (msal-common
 * `protocol/Token.ts` `sendPostRequest`), whereas anything else becomes a bare `network_error`.
 */
export class TransportFailure extends AuthError {
  readonly failure: DynamicsError;
  constructor(failure: DynamicsError) {
    super(failure.code, '', failure.message);
    Object.setPrototypeOf(this, TransportFailure.prototype);
    this.name = 'TransportFailure';
    this.failure = failure;
  }
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const RETRY_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED']);

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * MSAL's `INetworkModule` over `node:https`: keep-alive, an optional private CA and proxy,
 * bounded retries honouring `Retry-After`, and a strict JSON body. A non-JSON body (an HTML 502
 * page from a gateway) is an error: turning it into `{}` makes MSAL resolve with an empty
 * access token (protocol brief §1).
 */
export class HttpsNetworkClient implements INetworkModule {
  private readonly agent: https.Agent;
  private readonly retry: Required<TokenRetryOptions>;
  private readonly timeoutInMs: number;
  private readonly logger: Logger;
  private readonly proxy?: URL;
  /** The last failure, so that MSAL's generic `endpoints_resolution_error` can be explained. */
  lastFailure?: DynamicsError;

  constructor(options: HttpsNetworkClientOptions) {
    this.logger = options.logger;
    this.timeoutInMs = options.timeoutInMs ?? 30_000;
    this.retry = {
      maxRetries: options.retry?.maxRetries ?? 3,
      retryDelayInMs: options.retry?.retryDelayInMs ?? 500,
      maxRetryDelayInMs: options.retry?.maxRetryDelayInMs ?? 8_000,
      maxRetryAfterInMs: options.retry?.maxRetryAfterInMs ?? 60_000,
    };
    this.proxy = options.proxy ? new URL(options.proxy) : undefined;
    const ca = options.ca ? [...tls.rootCertificates, options.ca] : undefined;
    this.agent = this.proxy ? new TunnelAgent(this.proxy, ca) : new https.Agent({ keepAlive: true, ca, maxSockets: 16 });
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  /** Closes idle keep-alive sockets. */
  destroy(): void {
    this.agent.destroy();
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const where = describeUrl(url);
    for (let attempt = 0; ; attempt++) {
      let raw: RawResponse;
      try {
        raw = await this.once(method, url, options, timeout ?? this.timeoutInMs);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const timedOut = err instanceof RequestTimeout;
        if ((timedOut || RETRY_ERRNOS.has(code)) && attempt < this.retry.maxRetries) {
          const delay = this.backoff(attempt);
          this.logger.warn(`Token endpoint request failed (${timedOut ? 'timeout' : code}); retrying`, { method, url: where, attempt: attempt + 1, delayInMs: delay });
          await sleep(delay);
          continue;
        }
        const failure = timedOut
          ? new TimeoutError(`${method} ${where} timed out after ${timeout ?? this.timeoutInMs} ms`, { code: ErrorCode.timeout, request: { method, url: where } })
          : new NetworkError(`${method} ${where} failed: ${(err as Error).message}`, { code: ErrorCode.network, request: { method, url: where }, cause: err });
        throw this.fail(failure);
      }

      this.logger.debug?.(`${method} ${where} -> ${raw.status}`, { method, url: where, status: raw.status, attempt });
      const retryAfterInMs = parseRetryAfter(raw.headers['retry-after']);
      if (RETRY_STATUSES.has(raw.status)) {
        const canWait = retryAfterInMs === undefined || retryAfterInMs <= this.retry.maxRetryAfterInMs;
        if (attempt < this.retry.maxRetries && canWait) {
          const delay = retryAfterInMs ?? this.backoff(attempt);
          this.logger.warn(`Token endpoint answered ${raw.status}; retrying`, { method, url: where, attempt: attempt + 1, delayInMs: delay });
          await sleep(delay);
          continue;
        }
        const parsed = tryParse(raw.text);
        const body = sanitizeErrorBody(parsed);
        const entra = entraDetails(parsed);
        const base = {
          status: raw.status,
          body,
          retryAfterInMs,
          request: { method, url: where },
          headers: pickHeaders(raw.headers),
          requestId: raw.headers['x-ms-request-id'],
        };
        const failure =
          raw.status === 429
            ? new ThrottledError(`${method} ${where} answered 429 after ${attempt + 1} attempt(s)`, { ...base, code: ErrorCode.throttled })
            : new AuthenticationError(`${method} ${where} answered ${raw.status} after ${attempt + 1} attempt(s)`, { ...base, code: ErrorCode.authenticationFailed }, entra);
        throw this.fail(failure);
      }

      let body: unknown;
      try {
        body = JSON.parse(raw.text);
      } catch {
        const failure = new AuthenticationError(
          `${method} ${where} answered ${raw.status} with a body that is not JSON (${raw.headers['content-type'] ?? 'no content-type'})`,
          { code: ErrorCode.malformedResponse, status: raw.status, request: { method, url: where }, headers: pickHeaders(raw.headers) },
        );
        throw this.fail(failure);
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        const failure = new AuthenticationError(`${method} ${where} answered ${raw.status} with JSON that is not an object`, {
          code: ErrorCode.malformedResponse,
          status: raw.status,
          request: { method, url: where },
        });
        throw this.fail(failure);
      }
      this.lastFailure = undefined;
      return { status: raw.status, headers: raw.headers, body: body as T };
    }
  }

  private fail(failure: DynamicsError): TransportFailure {
    this.lastFailure = failure;
    return new TransportFailure(failure);
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.retry.maxRetryDelayInMs, this.retry.retryDelayInMs * 2 ** attempt);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private once(method: string, url: string, options: NetworkRequestOptions | undefined, timeoutInMs: number): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new Error(`refusing to send a token request over ${target.protocol}`));
        return;
      }
      const headers: Record<string, string | number> = { ...(options?.headers ?? {}) };
      const body = method === 'POST' ? Buffer.from(options?.body ?? '', 'utf8') : undefined;
      if (body) headers['content-length'] = body.length;
      const req = https.request(
        target,
        { method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const out: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
            }
            resolve({ status: res.statusCode ?? 0, headers: out, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      req.setTimeout(timeoutInMs, () => req.destroy(new RequestTimeout()));
      req.on('error', reject);
      req.end(body);
    });
  }

}

class RequestTimeout extends Error {
  constructor() {
    super('request timed out');
  }
}

/**
 * An https agent that reaches every origin through an HTTP proxy's CONNECT tunnel.
 * Node's agent accepts an asynchronous `createConnection(options, callback)`.
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxyUrl: URL,
    private readonly caList?: string[],
  ) {
    super({ keepAlive: true, ca: caList, maxSockets: 16 });
  }

  override createConnection(options: http.RequestOptions, callback?: (err: Error | null, stream: import('node:stream').Duplex) => void): undefined {
    const fail = (err: Error): void => (callback as unknown as (e: Error) => void)?.(err);
    const host = options.host ?? (options as tls.ConnectionOptions).servername ?? 'localhost';
    const port = Number(options.port ?? 443);
    const proxyAuth = this.proxyUrl.username
      ? { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(this.proxyUrl.username)}:${decodeURIComponent(this.proxyUrl.password)}`).toString('base64')}` }
      : {};
    const connectReq = http.request({
      host: this.proxyUrl.hostname,
      port: Number(this.proxyUrl.port || 80),
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers: { host: `${host}:${port}`, ...proxyAuth },
    });
    connectReq.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        fail(new Error(`proxy CONNECT to ${host}:${port} answered ${res.statusCode}`));
        return;
      }
      const secure = tls.connect({ ...(options as tls.ConnectionOptions), socket, servername: net.isIP(host) ? undefined : host, ca: this.caList });
      callback?.(null, secure);
    });
    connectReq.once('error', fail);
    connectReq.end();
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}


/** Origin and path only: token URLs carry no secrets in the path, and the query only MSAL's client-request-id. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Keeps only the documented error fields of an Entra error body (never tokens). */
export function sanitizeErrorBody(body: unknown): Record<string, unknown> | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['error', 'error_description', 'error_codes', 'suberror', 'correlation_id', 'trace_id', 'timestamp']) {
    if (b[k] !== undefined) out[k] = b[k];
  }
  return Object.keys(out).length ? out : undefined;
}

function entraDetails(body: unknown): { entraErrorCodes?: number[]; correlationId?: string } {
  if (!body || typeof body !== 'object') return {};
  const b = body as Record<string, unknown>;
  const codes = Array.isArray(b.error_codes) ? b.error_codes.map(Number).filter((n) => Number.isFinite(n)) : undefined;
  return { entraErrorCodes: codes?.length ? codes : undefined, correlationId: typeof b.correlation_id === 'string' ? b.correlation_id : undefined };
}

function pickHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['retry-after', 'x-ms-request-id', 'client-request-id', 'content-type']) {
    if (headers[k] !== undefined) out[k] = headers[k];
  }
  return out;
}
