import { AuthenticationError, ErrorCode } from '../errors';
import { redact } from '../net/redact';
import { SingleFlight, throwIfAborted } from './singleFlight';
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
  /** Renew this long before expiry. Default: 300000 (5 minutes, like MSAL and the Azure SDK's token cycler). */
  refreshBeforeExpiryInMs?: number;
}

/**
 * Adapts any `@azure/identity` credential (managed identity, workload identity, certificate,
 * `DefaultAzureCredential`, …) to a {@link TokenProvider}: concurrent callers share one
 * `getToken` call, and the token is reused until `refreshAfterTimestamp` or five minutes
 * before it expires. The credential and the token stay in this function's closure: the returned
 * object shows nothing but its method to a logger or `util.inspect`.
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
  const scopes = [...options.scopes];
  const margin = options.refreshBeforeExpiryInMs ?? 300_000;
  let current: AccessToken | undefined;
  const flights = new SingleFlight<AccessToken>();

  const fresh = (t: AccessToken | undefined): t is AccessToken => {
    if (!t) return false;
    const renewAt = Math.min(t.expiresOnTimestamp - margin, t.refreshAfterTimestamp ?? Infinity);
    return Date.now() < renewAt;
  };

  const fetchToken = async (): Promise<AccessToken> => {
    let result: Awaited<ReturnType<TokenCredentialLike['getToken']>>;
    try {
      result = await credential.getToken(scopes);
    } catch (err) {
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
