import type { AccessToken, TokenProvider } from '../../auth/types';
import { AuthenticationError, DynamicsError, ErrorCode } from '../../errors';
import type { Logger } from '../../logger';
import type { HttpRequest, HttpResponse, PipelinePolicy, SendRequest } from '../types';

/** Refresh this long before expiry when the token gives no `refreshAfterTimestamp` (as Azure's token cycler does). */
const REFRESH_WINDOW_IN_MS = 2 * 60_000;
/** Inside this window before expiry a cached token is no longer used: callers wait for the new one. */
const FORCED_REFRESH_WINDOW_IN_MS = 30_000;

/**
 * Holds the current token and refreshes it: proactively (in the background) after its refresh time,
 * synchronously when it is about to expire, and on demand after a 401. Concurrent callers share one
 * refresh, so a burst of requests or a burst of 401s costs one token request.
 */
export class TokenCycler {
  private current?: AccessToken;
  private refreshAt = 0;
  private pending?: Promise<AccessToken>;

  constructor(
    private readonly provider: TokenProvider,
    private readonly logger: Logger,
  ) {}

  /** The cached token when it needs no refresh; the hot path, no await. */
  peek(now: number): string | undefined {
    return this.current !== undefined && now < this.refreshAt ? this.current.token : undefined;
  }

  async get(signal?: AbortSignal): Promise<string> {
    const now = Date.now();
    const token = this.current;
    if (token !== undefined && now < token.expiresOnTimestamp - FORCED_REFRESH_WINDOW_IN_MS) {
      if (now >= this.refreshAt && this.pending === undefined) {
        this.refresh(false, signal).catch((error: unknown) =>
          this.logger.warn('background token refresh failed; the current token is still valid', { error: describe(error) }),
        );
      }
      return token.token;
    }
    return (await this.refresh(false, signal)).token;
  }

  /** After a 401 with `rejected`: a new token, shared with every other caller that saw the same 401. */
  async renewAfterRejection(rejected: string, signal?: AbortSignal): Promise<string> {
    if (this.current !== undefined && this.current.token !== rejected) return this.current.token;
    return (await this.refresh(true, signal)).token;
  }

  private refresh(forceRefresh: boolean, signal?: AbortSignal): Promise<AccessToken> {
    if (this.pending === undefined) {
      this.pending = this.provider
        .getToken({ forceRefresh, abortSignal: signal })
        .then(
          (token) => {
            if (token === null || typeof token !== 'object' || typeof token.token !== 'string' || token.token === '') {
              throw new AuthenticationError('The token provider returned no access token.', { code: ErrorCode.authenticationFailed });
            }
            this.current = token;
            const expires = Number.isFinite(token.expiresOnTimestamp) ? token.expiresOnTimestamp : Date.now() + 5 * 60_000;
            this.refreshAt = Math.min(token.refreshAfterTimestamp ?? Infinity, expires - REFRESH_WINDOW_IN_MS);
            return token;
          },
          (error: unknown) => {
            throw toAuthenticationError(error);
          },
        )
        .finally(() => {
          this.pending = undefined;
        });
    }
    return this.pending;
  }
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
  return {
    name: 'bearerToken',
    async sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      const token = tokens.peek(Date.now()) ?? (await tokens.get(request.abortSignal));
      request.headers.Authorization = `Bearer ${token}`;
      const response = await next(request);
      if (response.status !== 401) return response;
      const renewed = await tokens.renewAfterRejection(token, request.abortSignal);
      request.headers.Authorization = `Bearer ${renewed}`;
      return next(request);
    },
  };
}
