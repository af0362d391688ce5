import { AuthenticationError, DynamicsError, ErrorCode } from '../errors';
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
 * before it expires.
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
  let inFlight: Promise<AccessToken> | undefined;
  let inFlightForced: Promise<AccessToken> | undefined;

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
      // Azure Identity errors carry Entra's description, never the credential itself; keep the message only.
      const e = err as Error;
      throw new AuthenticationError(`TokenCredential.getToken failed: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`, { code: ErrorCode.authenticationFailed });
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
      if (opts.abortSignal?.aborted) throw new DynamicsError('The token request was aborted', { code: ErrorCode.aborted });
      if (!opts.forceRefresh && fresh(current)) return { ...current };
      let flight: Promise<AccessToken>;
      if (opts.forceRefresh) {
        current = undefined;
        flight = inFlightForced ??= fetchToken().finally(() => (inFlightForced = undefined));
      } else {
        flight = inFlightForced ?? (inFlight ??= fetchToken().finally(() => (inFlight = undefined)));
      }
      if (!opts.abortSignal) return { ...(await flight) };
      const signal = opts.abortSignal;
      return new Promise<AccessToken>((resolve, reject) => {
        const onAbort = (): void => reject(new DynamicsError('The token request was aborted', { code: ErrorCode.aborted }));
        signal.addEventListener('abort', onAbort, { once: true });
        flight.then(
          (t) => {
            signal.removeEventListener('abort', onAbort);
            resolve({ ...t });
          },
          (e: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        );
      });
    },
  };
}
