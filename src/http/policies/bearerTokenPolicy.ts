import type { AccessToken, TokenProvider } from '../../auth/types';
import { AuthenticationError, DynamicsError, ErrorCode, TimeoutError } from '../../errors';
import type { Logger } from '../../logger';
import { timerDelay } from '../../net/timers';
import { TransportError, type HttpRequest, type HttpResponse, type PipelinePolicy, type SendRequest } from '../types';

/** Refresh this long before expiry when the token gives no `refreshAfterTimestamp` (as Azure's token cycler does). */
const REFRESH_WINDOW_IN_MS = 2 * 60_000;
/** Inside this window before expiry a cached token is no longer used: callers wait for the new one. */
const FORCED_REFRESH_WINDOW_IN_MS = 30_000;

/**
 * How long one shared token refresh may take, start to end, before it is given up: 2 minutes. The
 * provider is handed an AbortSignal that fires then (MsalTokenProvider aborts its request to the
 * token endpoint), and the refresh fails with a TimeoutError even if the provider ignores the signal,
 * so that a token endpoint that never answers cannot hold every later call. Each caller also stops
 * waiting at its own deadline or abort, whichever comes first; the refresh itself runs on for the
 * callers still waiting.
 */
export const TOKEN_REFRESH_TIMEOUT_IN_MS = 120_000;

/** What a caller waiting for a token brings: its abort signal and its deadline (`Date.now()` ms, `Infinity` for none). */
export type TokenWaiter = Partial<Pick<HttpRequest, 'abortSignal' | 'deadline'>>;

/**
 * Holds the current token and refreshes it: proactively (in the background) after its refresh time,
 * synchronously when it is about to expire, and on demand after a 401. Concurrent callers share one
 * refresh, so a burst of requests or a burst of 401s costs one token request.
 *
 * The shared refresh belongs to no caller: it gets no caller's AbortSignal (one caller's abort must
 * not fail the others) but a deadline of its own ({@link TOKEN_REFRESH_TIMEOUT_IN_MS}); each caller
 * races it against its own signal and deadline.
 */
export class TokenCycler {
  private current?: AccessToken;
  private refreshAt = 0;
  private pending?: Promise<AccessToken>;

  constructor(
    private readonly provider: TokenProvider,
    private readonly logger: Logger,
    private readonly refreshTimeoutInMs: number = TOKEN_REFRESH_TIMEOUT_IN_MS,
  ) {}

  /** `Bearer <token>` of the current token, built once per token rather than once per request. */
  #authorization?: string;

  /** The cached token when it needs no refresh; the hot path, no await. */
  peek(now: number): string | undefined {
    return this.current !== undefined && now < this.refreshAt ? this.current.token : undefined;
  }

  /** {@link peek} as the `Authorization` header value (`Bearer <token>`), the same string for every request. */
  peekAuthorization(now: number): string | undefined {
    return this.current !== undefined && now < this.refreshAt ? this.#authorization : undefined;
  }

  /**
   * A token for `waiter`: the cached one while it is valid, else the shared refresh.
   *
   * @throws TransportError `aborted` or `timeout` when the waiter's signal or deadline ends its wait;
   *   the provider's failure (an AuthenticationError) otherwise.
   */
  async get(waiter: TokenWaiter = {}): Promise<string> {
    const now = Date.now();
    const token = this.current;
    if (token !== undefined && now < token.expiresOnTimestamp - FORCED_REFRESH_WINDOW_IN_MS) {
      if (now >= this.refreshAt && this.pending === undefined) {
        this.refresh(false).catch((error: unknown) =>
          this.logger.warn('background token refresh failed; the current token is still valid', { error: describe(error) }),
        );
      }
      return token.token;
    }
    return (await waitFor(this.refresh(false), waiter)).token;
  }

  /** After a 401 with `rejected`: a new token, shared with every other caller that saw the same 401. */
  async renewAfterRejection(rejected: string, waiter: TokenWaiter = {}): Promise<string> {
    if (this.current !== undefined && this.current.token !== rejected) return this.current.token;
    return (await waitFor(this.refresh(true), waiter)).token;
  }

  private refresh(forceRefresh: boolean): Promise<AccessToken> {
    if (this.pending === undefined) {
      const limit = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new TimeoutError(`The token provider gave no token within ${this.refreshTimeoutInMs} ms; the next call asks again.`, { code: ErrorCode.timeout });
          reject(error);
          limit.abort(error);
        }, timerDelay(this.refreshTimeoutInMs));
        timer.unref?.();
      });
      let asked: Promise<AccessToken>;
      try {
        asked = Promise.resolve(this.provider.getToken({ forceRefresh, abortSignal: limit.signal }));
      } catch (error) {
        asked = Promise.reject(error);
      }
      this.pending = Promise.race([asked, overdue])
        .then(
          (token) => {
            if (token === null || typeof token !== 'object' || typeof token.token !== 'string' || token.token === '') {
              throw new AuthenticationError('The token provider returned no access token.', { code: ErrorCode.authenticationFailed });
            }
            this.current = token;
            this.#authorization = `Bearer ${token.token}`;
            const expires = Number.isFinite(token.expiresOnTimestamp) ? token.expiresOnTimestamp : Date.now() + 5 * 60_000;
            this.refreshAt = Math.min(token.refreshAfterTimestamp ?? Infinity, expires - REFRESH_WINDOW_IN_MS);
            return token;
          },
          (error: unknown) => {
            throw toAuthenticationError(error);
          },
        )
        .finally(() => {
          clearTimeout(timer);
          this.pending = undefined;
        });
      // A late failure of a provider that lost the race must not become an unhandled rejection.
      asked.catch(() => undefined);
      // Nor must a refresh every waiter has given up on.
      this.pending.catch(() => undefined);
    }
    return this.pending;
  }
}

/**
 * `shared` for one waiter: settles with it, or rejects when the waiter's signal fires or its deadline
 * passes first. The shared promise runs on for the others.
 */
function waitFor<T>(shared: Promise<T>, waiter: TokenWaiter): Promise<T> {
  const signal = waiter.abortSignal;
  const deadline = waiter.deadline ?? Infinity;
  if (signal === undefined && deadline === Infinity) return shared;
  if (signal?.aborted) return Promise.reject(new TransportError('aborted', 'the request was aborted while waiting for an access token'));
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(new TransportError('aborted', 'the request was aborted while waiting for an access token'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadline !== Infinity) {
      timer = setTimeout(() => {
        done();
        reject(new TransportError('timeout', 'timeoutInMs ran out while waiting for an access token', 'ETIMEDOUT'));
      }, timerDelay(deadline - Date.now()));
    }
    shared.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}

/** A provider's failure, as a DynamicsError. Only the message of a foreign error survives (no config objects). */
function toAuthenticationError(error: unknown): DynamicsError {
  if (error instanceof DynamicsError) return error;
  return new AuthenticationError(`The token provider failed: ${describe(error)}`, { code: ErrorCode.authenticationFailed });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Adds `Authorization: Bearer …` and, when the service answers 401, gets a fresh token once and
 * sends the request once more (the 401 means it was not processed, so this is safe for writes).
 */
export function bearerTokenPolicy(tokens: TokenCycler): PipelinePolicy {
  const BEARER = 'Bearer '.length;
  /** Sends again with a new token once after a 401 to `authorization`. */
  async function renewed(request: HttpRequest, next: SendRequest, authorization: string): Promise<HttpResponse> {
    const token = await tokens.renewAfterRejection(authorization.slice(BEARER), request);
    request.headers.Authorization = `Bearer ${token}`;
    return next(request);
  }
  /** The path without a current token: wait for one (shared with every other caller), then send. */
  async function afterRefresh(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
    const authorization = `Bearer ${await tokens.get(request)}`;
    request.headers.Authorization = authorization;
    const response = await next(request);
    return response.status === 401 ? renewed(request, next, authorization) : response;
  }
  return {
    name: 'bearerToken',
    sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      const authorization = tokens.peekAuthorization(Date.now());
      if (authorization === undefined) return afterRefresh(request, next);
      // The hot path: the current token, one promise layer to see the status.
      request.headers.Authorization = authorization;
      return next(request).then((response) => (response.status === 401 ? renewed(request, next, authorization) : response));
    },
  };
}
