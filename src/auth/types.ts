/**
 * An access token and when it expires. Structurally compatible with `@azure/core-auth`'s
 * `AccessToken`, so `@azure/identity` credentials can be adapted without conversion.
 */
export interface AccessToken {
  /** The bearer token. Never logged, never put into an error. */
  token: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresOnTimestamp: number;
  /** When a proactive refresh is advised, in milliseconds since the epoch (Entra's `refresh_in`). */
  refreshAfterTimestamp?: number;
  tokenType?: 'Bearer';
}

/**
 * Per-call options of {@link TokenProvider.getToken}. Concurrent callers share one token request;
 * `abortSignal` and `timeoutInMs` end this caller's wait only, never the shared request.
 */
export interface GetTokenOptions {
  /** Skip the cache and ask the token endpoint for a new token (after a 401, for example). */
  forceRefresh?: boolean;
  /** Ends this caller's wait with a `DynamicsError` (code `aborted`). */
  abortSignal?: AbortSignal;
  /**
   * How long this caller waits for the token, in milliseconds (1 to 2147483647): past it the call
   * fails with a `TimeoutError` (code `timeout`), while the token request goes on for the others.
   * Pass what is left of your own deadline. Default: no limit of the caller's own (the provider's
   * `acquisitionTimeoutInMs` still bounds the shared request).
   */
  timeoutInMs?: number;
}

/**
 * Anything that hands out bearer tokens for the Dataverse Web API: {@link MsalTokenProvider},
 * {@link fromTokenCredential}, or your own.
 */
export interface TokenProvider {
  getToken(options?: GetTokenOptions): Promise<AccessToken>;
}

/** Grants {@link MsalTokenProvider} can run on its own (authorization code is driven by the app). */
export type GrantType = 'client_credentials' | 'password' | 'refresh_token';
