/**
 * Reading and changing the MSAL token cache of a provider: accounts, the refresh token of an
 * account, clearing and replacing the cache.
 */
import { TokenCacheContext, type AccountInfo } from '@azure/msal-node';
import { ConfigurationError } from '../../errors';
import type { Logger } from '../../logger';
import { sanitizeCache } from '../cache/sanitize';
import type { PartitionedCachePlugin } from '../cache/types';
import type { MsalApp } from '../publicClient';

/**
 * The account to serve: the one named `username` (case-insensitively), or with no user name
 * configured the first in the cache. A cache that cannot be read is logged and treated as empty.
 */
export async function findAccount(app: MsalApp, username: string | undefined, logger: Logger, redact: (text: string) => string): Promise<AccountInfo | undefined> {
  let accounts: AccountInfo[];
  try {
    accounts = await app.getTokenCache().getAllAccounts();
  } catch (err) {
    logger.warn('Reading accounts from the token cache failed', { error: redact(String((err as Error)?.message ?? err)) });
    return undefined;
  }
  const wanted = username?.toLowerCase();
  return wanted ? accounts.find((a) => a.username.toLowerCase() === wanted) : accounts[0];
}

/**
 * The refresh token MSAL holds for `homeAccountId` and this client. MSAL does not hand refresh
 * tokens out, so it is read from the cache's key-value store (msal-node `TokenCache.getKVStore`).
 */
export function refreshTokenFor(app: MsalApp, homeAccountId: string, clientId: string): string | undefined {
  const store = app.getTokenCache().getKVStore() as Record<string, { credentialType?: string; homeAccountId?: string; clientId?: string; secret?: string }>;
  for (const entry of Object.values(store)) {
    if (entry?.credentialType === 'RefreshToken' && entry.homeAccountId === homeAccountId && entry.clientId === clientId && entry.secret) {
      return entry.secret;
    }
  }
  return undefined;
}

/** Empties the in-memory cache and, through `plugin` (between its before and after hooks), the persistent one. */
export async function clearTokenCache(app: MsalApp, plugin: PartitionedCachePlugin | undefined): Promise<void> {
  if (!plugin) {
    app.clearCache();
    return;
  }
  const context = new TokenCacheContext(app.getTokenCache(), true);
  await plugin.beforeCacheAccess(context);
  try {
    app.clearCache();
  } finally {
    await plugin.afterCacheAccess(context);
  }
}

/**
 * Replaces the in-memory cache with `json`.
 * @throws ConfigurationError when `json` is not what {@link MsalApp}'s cache serializes to: not a
 *   JSON object, or entries MSAL cannot read (MSAL's own deserializer would throw a raw TypeError,
 *   or fail later in a token lookup).
 */
export function loadTokenCache(app: MsalApp, json: string): void {
  const sanitized = typeof json === 'string' ? sanitizeCache(json) : { json: '{}', dropped: 1, unreadable: 'not a string' };
  if (sanitized.unreadable !== undefined || !(typeof json === 'string' && json.trim())) {
    throw new ConfigurationError([{ name: 'deserializeCache(json)', expected: 'the JSON text returned by serializeCache()' }]);
  }
  if (sanitized.dropped > 0) {
    throw new ConfigurationError([{ name: 'deserializeCache(json)', expected: `the JSON text returned by serializeCache() (${sanitized.dropped} of its entries are not MSAL cache entries)` }]);
  }
  try {
    app.getTokenCache().deserialize(json);
  } catch {
    throw new ConfigurationError([{ name: 'deserializeCache(json)', expected: 'the JSON text returned by serializeCache() (MSAL could not load it)' }]);
  }
}
