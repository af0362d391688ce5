/**
 * The slice of MSAL's `TokenCacheContext` a cache plugin uses. MSAL's own `ICachePlugin`
 * objects fit {@link TokenCachePlugin} and ours fit MSAL's, so no MSAL type leaks into the
 * public surface.
 */
export interface TokenCacheAccessContext {
  /** True when MSAL is about to write (before) or has written (after) the cache. */
  readonly cacheHasChanged: boolean;
  readonly tokenCache: {
    serialize(): string;
    deserialize(cache: string): void;
  };
}

/** An MSAL cache plugin (`ICachePlugin`): load before MSAL reads the cache, save after it changed it. */
export interface TokenCachePlugin {
  beforeCacheAccess(context: TokenCacheAccessContext): Promise<void>;
  afterCacheAccess(context: TokenCacheAccessContext): Promise<void>;
}

/** Which tokens a provider keeps: one app (client + tenant) or one signed-in user of an app. */
export interface TokenCachePartition {
  /** `app` for client credentials, `user` for password, refresh-token, auth-code and device-code grants. */
  kind: 'app' | 'user';
  clientId: string;
  /** Tenant as configured (GUID or domain). */
  tenantId: string;
  /** The configured user name, when known (password grant): lets a fresh instance find the user's partition. */
  username?: string;
}

/** A plugin bound to one partition by {@link PartitionedTokenCache.forPartition}. */
export interface PartitionedCachePlugin extends TokenCachePlugin {
  /** Called by {@link MsalTokenProvider} as soon as it knows the signed-in account. */
  setAccount?(homeAccountId: string): void;
}

/**
 * A shared cache that keeps one blob per partition, as msal-node's distributed-cache guidance
 * says (`lib/msal-node/docs/caching.md`): `clientId.tenantId` for app tokens, the account's
 * `homeAccountId` for user tokens. {@link MsalTokenProvider} asks it for a plugin bound to its
 * own partition, so app-only and user tokens never share a blob.
 */
export interface PartitionedTokenCache {
  forPartition(partition: TokenCachePartition): PartitionedCachePlugin;
}

export function isPartitionedTokenCache(value: unknown): value is PartitionedTokenCache {
  return typeof (value as PartitionedTokenCache | undefined)?.forPartition === 'function';
}
