/*
 * The token endpoint's retry settings, apart from the network client so that the public types
 * (MsalTokenProviderOptions) never reach a declaration file that imports MSAL: applications that
 * compile with skipLibCheck: false would otherwise type-check msal-node's own declarations.
 */

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
  /** First backoff delay when the server sent no `Retry-After`; doubles each retry, with jitter. At most 2147483647, like every duration here. Default: 500. */
  retryDelayInMs?: number;
  /** Longest backoff delay. Default: 8000. */
  maxRetryDelayInMs?: number;
  /** A `Retry-After` longer than this is not waited for: the request fails at once. Default: 60000. */
  maxRetryAfterInMs?: number;
}

/**
 * The written-down defaults of {@link TokenRetryOptions}. Shorter than the Web API's (10 retries,
 * `Retry-After` up to 5 minutes): every call of the client waits for the token, so a token endpoint
 * that stays unavailable is better reported soon than waited out.
 */
export const DEFAULT_TOKEN_RETRY: Readonly<Required<TokenRetryOptions>> = Object.freeze({
  maxRetries: 3,
  retryDelayInMs: 500,
  maxRetryDelayInMs: 8_000,
  maxRetryAfterInMs: 60_000,
});

/** Default deadline of one token-request attempt, the whole response included. */
export const DEFAULT_TOKEN_TIMEOUT_IN_MS = 30_000;

/**
 * Default deadline of one shared token acquisition, retries and their waits included: longer than a
 * couple of slow attempts, shorter than the worst case of the retry settings (4 attempts of 30 s plus
 * waits), which no caller should wait out.
 */
export const DEFAULT_ACQUISITION_TIMEOUT_IN_MS = 120_000;
