import { AuthenticationError, ConfigurationError, ErrorCode, type ConfigurationIssue } from '../errors';
import { redact } from '../net/redact';
import { checkDuration } from './durations';
import { DEFAULT_ACQUISITION_TIMEOUT_IN_MS } from './retryOptions';
import { SingleFlight, throwIfAborted, type Acquisition } from './singleFlight';
import type { AccessToken, GetTokenOptions, TokenProvider } from './types';

/**
 * The shape of `@azure/core-auth`'s `TokenCredential`, declared here so that `@azure/identity`
 * stays an optional peer dependency that this library never loads.
 */
export interface TokenCredentialLike {
  getToken(
    scopes: string | string[],
    options?: { abortSignal?: AbortSignal; claims?: string; tenantId?: string; enableCae?: boolean },
  ): Promise<{ token: string; expiresOnTimestamp: number; refreshAfterTimestamp?: number; tokenType?: string } | null>;
}

/** Options of {@link fromTokenCredential}. */
export interface FromTokenCredentialOptions {
  /** Scopes to request, e.g. `['https://contoso.crm.dynamics.com/.default']`. */
  scopes: string[];
  /** Renew this long before expiry (0 to 2147483647). Default: 300000 (5 minutes, like MSAL and the Azure SDK's token cycler). */
  refreshBeforeExpiryInMs?: number;
  /**
   * Deadline of one shared `credential.getToken` call (1 to 2147483647 ms): past it every waiting
   * caller gets a `TimeoutError` (code `timeout`), the call's `abortSignal` (its own, never a
   * caller's) is aborted, and the next call starts afresh. Default: 120000.
   */
  acquisitionTimeoutInMs?: number;
}

/**
 * Adapts any `@azure/identity` credential (managed identity, workload identity, certificate,
 * `DefaultAzureCredential`, …) to a {@link TokenProvider}: concurrent callers share one
 * `getToken` call, and the token is reused until `refreshAfterTimestamp` or five minutes
 * before it expires. The credential and the token stay in this function's closure: the returned
 * object shows nothing but its method to a logger or `util.inspect`.
 *
 * Each caller's `abortSignal` and `timeoutInMs` end that caller's wait only; the credential is
 * called with an AbortSignal of the shared acquisition, aborted at `acquisitionTimeoutInMs`.
 *
 * @throws TypeError for a credential without `getToken` or empty scopes; ConfigurationError naming
 *   a duration that is not a whole number of milliseconds up to 2147483647.
 *
 * @example
 * ```ts
 * const tokens = fromTokenCredential(new DefaultAzureCredential(), {
 *   scopes: ['https://contoso.crm.dynamics.com/.default'],
 * });
 * ```
 */
export function fromTokenCredential(credential: TokenCredentialLike, options: FromTokenCredentialOptions): TokenProvider {
  if (typeof credential?.getToken !== 'function') throw new TypeError('fromTokenCredential: credential must have a getToken(scopes, options) method');
  if (!Array.isArray(options?.scopes) || options.scopes.length === 0 || options.scopes.some((s) => typeof s !== 'string' || !s)) {
    throw new TypeError('fromTokenCredential: options.scopes must be a non-empty array of strings');
  }
  const issues: ConfigurationIssue[] = [];
  checkDuration(options.refreshBeforeExpiryInMs, 'refreshBeforeExpiryInMs', 0, issues);
  checkDuration(options.acquisitionTimeoutInMs, 'acquisitionTimeoutInMs', 1, issues);
  if (issues.length) throw new ConfigurationError(issues, 'Invalid fromTokenCredential options');
  const scopes = [...options.scopes];
  const margin = options.refreshBeforeExpiryInMs ?? 300_000;
  let current: AccessToken | undefined;
  const flights = new SingleFlight<AccessToken>({ acquisitionTimeoutInMs: options.acquisitionTimeoutInMs ?? DEFAULT_ACQUISITION_TIMEOUT_IN_MS });

  const fresh = (t: AccessToken | undefined): t is AccessToken => {
    if (!t) return false;
    const renewAt = Math.min(t.expiresOnTimestamp - margin, t.refreshAfterTimestamp ?? Infinity);
    return Date.now() < renewAt;
  };

  const fetchToken = async (_forced: boolean, acquisition: Acquisition): Promise<AccessToken> => {
    let result: Awaited<ReturnType<TokenCredentialLike['getToken']>>;
    try {
      // The acquisition's own signal (aborted at its deadline), never a caller's: the call is shared.
      result = await credential.getToken(scopes, { abortSignal: acquisition.signal });
    } catch (err) {
      // Our own deadline aborted it: the flight has already rejected with its TimeoutError.
      if (acquisition.signal.aborted) throw acquisition.signal.reason;
      // Azure Identity errors carry Entra's description, not the credential; keep the message only,
      // redacted all the same, since a credential of the caller's own making is not ours to trust.
      const e = err as Error;
      throw new AuthenticationError(`TokenCredential.getToken failed: ${e?.name ?? 'Error'}: ${redact(e?.message ?? String(err))}`, { code: ErrorCode.authenticationFailed });
    }
    if (!result || typeof result.token !== 'string' || !result.token || !Number.isFinite(result.expiresOnTimestamp)) {
      throw new AuthenticationError('TokenCredential.getToken returned no token', { code: ErrorCode.authenticationFailed });
    }
    const token: AccessToken = {
      token: result.token,
      expiresOnTimestamp: result.expiresOnTimestamp,
      ...(result.refreshAfterTimestamp ? { refreshAfterTimestamp: result.refreshAfterTimestamp } : {}),
      tokenType: 'Bearer',
    };
    current = token;
    return token;
  };

  return {
    async getToken(opts: GetTokenOptions = {}): Promise<AccessToken> {
      throwIfAborted(opts.abortSignal);
      if (!opts.forceRefresh && fresh(current)) return { ...current };
      if (opts.forceRefresh) current = undefined;
      return { ...(await flights.run(fetchToken, opts)) };
    },
  };
}
