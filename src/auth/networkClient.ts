import { AsyncLocalStorage } from 'node:async_hooks';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { AuthenticationError, DynamicsError, ErrorCode, NetworkError, ThrottledError, TimeoutError } from '../errors';
import type { Logger } from '../logger';
import { parseJson } from '../net/body';
import { TransportError } from '../net/errors';
import { requestIdOf } from '../net/headers';
import type { HttpMethod } from '../net/method';
import { createTunnelingAgent, proxyFor } from '../net/proxy';
import { redact as redactCredentials } from '../net/redact';
import { sendRaw, type RequestFunction } from '../net/request';
import { backoffDelay, retryAfterDelay, retryDecisionForFailure, retryDecisionForStatus } from '../net/retry';
import { parseRetryAfter } from '../net/retryAfter';

import { DEFAULT_TOKEN_RETRY, DEFAULT_TOKEN_TIMEOUT_IN_MS, type TokenRetryOptions } from './retryOptions';

export { DEFAULT_TOKEN_RETRY, DEFAULT_TOKEN_TIMEOUT_IN_MS, type TokenRetryOptions };

export interface HttpsNetworkClientOptions {
  /** PEM of extra trusted CA certificates (added to Node's default roots). */
  ca?: string;
  /** `http://host:port` of an HTTP proxy that supports CONNECT. Default: from the environment (`HTTPS_PROXY`, `NO_PROXY`). */
  proxy?: string;
  /** Default: {@link DEFAULT_TOKEN_RETRY}. */
  retry?: TokenRetryOptions;
  /** Deadline of one attempt, the whole response included. Default: {@link DEFAULT_TOKEN_TIMEOUT_IN_MS}. */
  timeoutInMs?: number;
  logger: Logger;
  /**
   * Applied to the text of an Entra error body before it is put into an error (the provider passes
   * one that also knows its own secrets). Default: the library's credential-pattern redactor.
   */
  redact?: (text: string) => string;
  /** Environment to read proxy settings from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Injected for tests. Default: `Math.random`. */
  random?: () => number;
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

/** Token responses are a few KB; anything near this is not one. */
const MAX_TOKEN_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * How the token endpoint differs from the Web API in the shared retry rules (src/net/retry.ts):
 *
 * - Every token request is retry-safe: it creates nothing a re-send could duplicate. (An authorization
 *   code is single use, so a re-send after a lost answer fails with `invalid_grant`, which is reported.)
 * - A 500 is transient: MSAL.NET retries the token endpoint on every 5xx
 *   (https://learn.microsoft.com/entra/msal/dotnet/advanced/exceptions/retry-policy), whereas a 500
 *   from Dataverse is a real error (a plug-in) and is not retried.
 * - Fewer retries and a shorter longest `Retry-After` ({@link DEFAULT_TOKEN_RETRY}): every call waiting
 *   for the token waits through them.
 * - No client-wide pause after a 429: the providers' single flight already collapses concurrent token
 *   requests into one.
 */
const TOKEN_RETRY_RULES = { retrySafe: true, retryInternalServerError: true } as const;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The acquisition a request belongs to: its deadline and its signal bound every request MSAL makes for it. */
export interface AcquisitionScope {
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/**
 * MSAL's `INetworkModule` over net's {@link sendRaw}: keep-alive, an optional private CA, a proxy (the
 * `proxy` option, or `HTTPS_PROXY`/`NO_PROXY` from the environment as for the Web API), bounded retries
 * honouring `Retry-After` under the library's shared rules, an overall deadline per attempt (a server
 * trickling bytes cannot hold a request open), a bounded body and a strict JSON decoder. A non-JSON
 * body (an HTML 502 page from a gateway) is an error: turning it into `{}` makes MSAL resolve with an
 * empty access token.
 *
 * Everything it holds (the proxy URL, which may carry credentials, its agents, the last failure)
 * is in private fields: MSAL keeps this object in its configuration, and a dump of either must not
 * show them.
 */
export class HttpsNetworkClient implements INetworkModule {
  readonly #direct: https.Agent;
  readonly #proxied = new Map<string, https.Agent>();
  readonly #agentOptions: https.AgentOptions;
  readonly #retry: Required<TokenRetryOptions>;
  readonly #timeoutInMs: number;
  readonly #logger: Logger;
  readonly #proxy?: URL;
  readonly #env: NodeJS.ProcessEnv;
  readonly #random: () => number;
  readonly #redact: (text: string) => string;
  /**
   * The acquisition each request runs for. MSAL calls this client with no context of ours, so the
   * provider runs each acquisition inside {@link within}, and the requests MSAL makes for it (in
   * the same async context) find its deadline and signal here.
   */
  readonly #scope = new AsyncLocalStorage<AcquisitionScope>();
  /** Acquisitions running inside {@link within}: the scope is on while there is one. */
  #acquisitions = 0;
  #lastFailure?: DynamicsError;

  constructor(options: HttpsNetworkClientOptions) {
    this.#logger = options.logger;
    this.#timeoutInMs = options.timeoutInMs ?? DEFAULT_TOKEN_TIMEOUT_IN_MS;
    this.#retry = {
      maxRetries: options.retry?.maxRetries ?? DEFAULT_TOKEN_RETRY.maxRetries,
      retryDelayInMs: options.retry?.retryDelayInMs ?? DEFAULT_TOKEN_RETRY.retryDelayInMs,
      maxRetryDelayInMs: options.retry?.maxRetryDelayInMs ?? DEFAULT_TOKEN_RETRY.maxRetryDelayInMs,
      maxRetryAfterInMs: options.retry?.maxRetryAfterInMs ?? DEFAULT_TOKEN_RETRY.maxRetryAfterInMs,
    };
    this.#redact = options.redact ?? redactCredentials;
    this.#proxy = options.proxy ? new URL(options.proxy) : undefined;
    this.#env = options.env ?? process.env;
    this.#random = options.random ?? Math.random;
    const ca = options.ca ? [...tls.rootCertificates, options.ca] : undefined;
    this.#agentOptions = { keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) };
    this.#direct = new https.Agent(this.#agentOptions);
  }

  /** The last failure of a request, until a request succeeds: it explains MSAL's generic `endpoints_resolution_error`. */
  get lastFailure(): DynamicsError | undefined {
    return this.#lastFailure;
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  /**
   * Runs `fn` (an acquisition through MSAL) so that every request it makes ends by `scope.deadline`
   * at the latest (each attempt, the waits between retries, the retries themselves) and is abandoned
   * when `scope.signal` aborts.
   */
  within<T>(scope: AcquisitionScope, fn: () => Promise<T>): Promise<T> {
    this.#acquisitions++;
    let result: Promise<T>;
    try {
      result = this.#scope.run(scope, fn);
    } catch (error) {
      this.#acquisitionEnded();
      throw error;
    }
    return Promise.resolve(result).finally(() => this.#acquisitionEnded());
  }

  /**
   * Turns the scope off when no acquisition runs. On Node 20 an enabled AsyncLocalStorage installs
   * promise hooks for the whole process: every promise of every request (and every row of a paged
   * walk) pays for them, for a store that is only read while a token is being acquired, once an hour.
   * `run()` turns it on again for the next acquisition.
   */
  #acquisitionEnded(): void {
    this.#acquisitions--;
    if (this.#acquisitions === 0) this.#scope.disable();
  }

  /** Closes idle keep-alive sockets and tunnels. */
  destroy(): void {
    this.#direct.destroy();
    for (const agent of this.#proxied.values()) agent.destroy();
    this.#proxied.clear();
  }

  private async send<T>(method: HttpMethod, url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const where = describeUrl(url);
    const timeoutInMs = timeout ?? this.#timeoutInMs;
    const scope = this.#scope.getStore();
    for (let attempt = 0; ; attempt++) {
      let raw: RawResponse;
      try {
        raw = await this.once(method, url, options, timeoutInMs, scope);
      } catch (err) {
        const error = err instanceof TransportError ? err : new TransportError('network', err instanceof Error ? err.message : String(err));
        const decision = error.kind === 'network' ? retryDecisionForFailure(error.errno, TOKEN_RETRY_RULES) : { retry: error.kind === 'timeout' };
        if (decision.retry && attempt < this.#retry.maxRetries) {
          const delay = this.backoff(attempt);
          if (await this.waitWithin(scope, delay)) {
            this.#logger.warn(`Token endpoint request failed (${error.kind === 'timeout' ? 'timeout' : (error.errno ?? error.kind)}); retrying`, { method, url: where, attempt: attempt + 1, delayInMs: delay });
            continue;
          }
        }
        const failure =
          error.kind === 'aborted' || (error.kind === 'timeout' && scope !== undefined && Date.now() >= scope.deadline)
            ? new TimeoutError(`${method} ${where} was abandoned: the token acquisition passed its deadline`, { code: ErrorCode.timeout, request: { method, url: where } })
            : error.kind === 'timeout'
            ? new TimeoutError(`${method} ${where} timed out after ${timeoutInMs} ms`, { code: ErrorCode.timeout, request: { method, url: where } })
            : error.kind === 'too_large'
              ? new AuthenticationError(`${method} ${where}: ${error.message}`, { code: ErrorCode.responseTooLarge, request: { method, url: where } })
              : new NetworkError(`${method} ${where} failed: ${error.message}${error.errno ? ` (${error.errno})` : ''}`, { code: ErrorCode.network, request: { method, url: where } });
        throw this.fail(failure);
      }

      this.#logger.debug?.(`${method} ${where} -> ${raw.status}`, { method, url: where, status: raw.status, attempt });
      const retryAfterInMs = parseRetryAfter(raw.headers['retry-after']);
      const decision = retryDecisionForStatus(raw.status, TOKEN_RETRY_RULES);
      if (decision.retry || raw.status >= 500) {
        // As for the Web API, `Retry-After` sets the wait on the statuses that mean "come back later".
        const wait = decision.retry && decision.throttled ? retryAfterInMs : undefined;
        const canWait = wait === undefined || wait <= this.#retry.maxRetryAfterInMs;
        if (decision.retry && attempt < this.#retry.maxRetries && canWait) {
          const delay = wait === undefined ? this.backoff(attempt) : Math.round(retryAfterDelay(wait, this.#random));
          this.#logger.warn(`Token endpoint answered ${raw.status}; retrying`, { method, url: where, attempt: attempt + 1, delayInMs: delay });
          if (await this.waitWithin(scope, delay)) continue;
        }
        const parsed = parseJson(raw.body);
        const body = sanitizeErrorBody(parsed.ok ? parsed.value : undefined, this.#redact);
        const entra = entraDetails(parsed.ok ? parsed.value : undefined);
        const base = {
          status: raw.status,
          body,
          retryAfterInMs,
          request: { method, url: where },
          headers: pickHeaders(raw.headers),
          requestId: requestIdOf(raw.headers),
        };
        const failure =
          raw.status === 429
            ? new ThrottledError(`${method} ${where} answered 429 after ${attempt + 1} attempt(s)`, { ...base, code: ErrorCode.throttled })
            : new AuthenticationError(`${method} ${where} answered ${raw.status} after ${attempt + 1} attempt(s)`, { ...base, code: ErrorCode.authenticationFailed }, entra);
        throw this.fail(failure);
      }

      const parsed = parseJson(raw.body);
      if (!parsed.ok) {
        const failure = new AuthenticationError(
          `${method} ${where} answered ${raw.status} with a body that is not JSON (${raw.headers['content-type'] ?? 'no content-type'})`,
          { code: ErrorCode.malformedResponse, status: raw.status, request: { method, url: where }, headers: pickHeaders(raw.headers) },
        );
        throw this.fail(failure);
      }
      const body = parsed.value;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        const failure = new AuthenticationError(`${method} ${where} answered ${raw.status} with JSON that is not an object`, {
          code: ErrorCode.malformedResponse,
          status: raw.status,
          request: { method, url: where },
        });
        throw this.fail(failure);
      }
      const problem = method === 'POST' && raw.status === 200 && isTokenEndpoint(url) ? tokenResponseProblem(body as Record<string, unknown>) : undefined;
      if (problem !== undefined) {
        const failure = new AuthenticationError(`${method} ${where} answered 200 with a token response that cannot be used: ${problem}`, {
          code: ErrorCode.malformedResponse,
          status: raw.status,
          request: { method, url: where },
          headers: pickHeaders(raw.headers),
          requestId: requestIdOf(raw.headers),
        });
        throw this.fail(failure);
      }
      this.#lastFailure = undefined;
      return { status: raw.status, headers: raw.headers, body: body as T };
    }
  }

  /**
   * Waits `delay` ms before a retry, unless the acquisition's deadline would pass first or its signal
   * aborts: then resolves false at once (there is no point retrying what nobody can wait for).
   */
  private waitWithin(scope: AcquisitionScope | undefined, delay: number): Promise<boolean> {
    if (scope === undefined) return sleep(delay).then(() => true);
    if (scope.signal.aborted || Date.now() + delay >= scope.deadline) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        scope.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, delay);
      scope.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private fail(failure: DynamicsError): TransportFailure {
    this.#lastFailure = failure;
    return new TransportFailure(failure);
  }

  private backoff(attempt: number): number {
    return Math.round(backoffDelay(attempt, this.#random, this.#retry.retryDelayInMs, this.#retry.maxRetryDelayInMs));
  }

  /** The agent for `target`: direct, or through the configured or environment proxy. */
  private agentFor(target: URL): https.Agent {
    const proxy = this.#proxy ?? proxyFor(target, this.#env);
    if (proxy === undefined) return this.#direct;
    let agent = this.#proxied.get(proxy.href);
    if (agent === undefined) {
      agent = createTunnelingAgent(proxy, true, this.#agentOptions) as https.Agent;
      this.#proxied.set(proxy.href, agent);
    }
    return agent;
  }

  private async once(method: HttpMethod, url: string, options: NetworkRequestOptions | undefined, timeoutInMs: number, scope: AcquisitionScope | undefined): Promise<RawResponse> {
    const target = new URL(url);
    if (target.protocol !== 'https:') throw new TransportError('invalid', `refusing to send a token request over ${target.protocol}`);
    const headers: Record<string, string | number> = { ...(options?.headers ?? {}) };
    const body = method === 'POST' ? Buffer.from(options?.body ?? '', 'utf8') : undefined;
    if (body) headers['content-length'] = body.length;
    const agent = this.agentFor(target);
    // One attempt's deadline, never later than the acquisition's.
    const deadline = Math.min(Date.now() + timeoutInMs, scope?.deadline ?? Infinity);
    const res = await sendRaw(https.request as RequestFunction, {
      method,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port === '' ? undefined : Number(target.port),
      path: `${target.pathname}${target.search}`,
      headers,
      body,
      agent,
      deadline,
      ...(scope ? { abortSignal: scope.signal } : {}),
      maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES,
      ...(agent !== this.#direct ? { extra: { tunnelTimeoutInMs: timeoutInMs } } : {}),
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    }
    return { status: res.status, headers: out, body: res.body };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The longest lifetime a token response may state, in seconds: a year (Entra's access tokens last 1 to 28 hours). */
const MAX_TOKEN_LIFETIME_IN_SECONDS = 365 * 24 * 3600;

function isTokenEndpoint(url: string): boolean {
  try {
    return /\/oauth2\/(v2\.0\/)?token\/?$/i.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/**
 * Why a 200 from the token endpoint cannot be used, or undefined. MSAL takes what it is given: an
 * `access_token` that is a number became the bearer token, and an `expires_in` of 1e20 threw a raw
 * `RangeError` (Invalid time value) from its date arithmetic; a `refresh_in` it cannot turn into a
 * date made every call ask for a new token. (RFC 6749 §5.1: `access_token` is a string, `expires_in`
 * a number of seconds; Entra also sends them as numeric strings on its v1 endpoint.)
 */
function tokenResponseProblem(body: Record<string, unknown>): string | undefined {
  if (!('access_token' in body)) return undefined;
  if (typeof body.access_token !== 'string' || body.access_token === '') return 'access_token is not a non-empty string';
  for (const field of ['expires_in', 'ext_expires_in', 'refresh_in']) {
    const value = body[field];
    if (value === undefined) continue;
    const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : Number.NaN;
    if (!(Number.isInteger(seconds) && seconds > 0 && seconds <= MAX_TOKEN_LIFETIME_IN_SECONDS)) return `${field} is not a whole number of seconds from 1 to ${MAX_TOKEN_LIFETIME_IN_SECONDS}`;
  }
  return undefined;
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

/**
 * Keeps only the documented error fields of an Entra error body
 * (https://learn.microsoft.com/entra/identity-platform/reference-error-codes), with their text
 * redacted: it is server text copied into an error.
 */
function sanitizeErrorBody(body: unknown, redact: (text: string) => string = redactCredentials): Record<string, unknown> | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['error', 'error_description', 'error_codes', 'suberror', 'correlation_id', 'trace_id', 'timestamp']) {
    const value = b[k];
    if (value !== undefined) out[k] = typeof value === 'string' ? redact(value) : value;
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
