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

/** Per-call options of {@link TokenProvider.getToken}. */
export interface GetTokenOptions {
  /** Skip the cache and ask the token endpoint for a new token (after a 401, for example). */
  forceRefresh?: boolean;
  abortSignal?: AbortSignal;
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
