import { createHash } from 'node:crypto';
import { ConfigurationError } from '../../errors';
import { silentLogger, type Logger } from '../../logger';
import { sanitizeCache } from './sanitize';
import type { PartitionedCachePlugin, PartitionedTokenCache, TokenCacheAccessContext, TokenCachePartition, TokenCachePlugin } from './types';

/**
 * The two Redis commands the cache needs, as `ioredis` (an optional peer dependency, never
 * loaded by this module) or node-redis v4+ offer them.
 */
export interface RedisLike {
  get(key: string): Promise<string | null>;
  // Two overloads rather than a rest parameter, so that an ioredis client (whose `set` has many
  // overloads ending in an optional callback) is assignable without a cast.
  set(key: string, value: string): Promise<unknown>;
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<unknown>;
}

/** Options of {@link redisTokenCache}. */
export interface RedisTokenCacheOptions {
  /** Prefix of every key. Default: `dynamics-odata:msal:`. */
  keyPrefix?: string;
  /** Partition key used when the plugin is handed to MSAL directly instead of to {@link MsalTokenProvider}. Default: `default`. */
  partition?: string;
  /** Expire each blob this many seconds after its last write (a whole number, at least 1). Default: never. */
  ttlInSeconds?: number;
  /** Default: silent. */
  logger?: Logger;
}

/**
 * A token cache in Redis shared by any number of app instances, partitioned as msal-node's
 * distributed-cache guidance says (`lib/msal-node/docs/caching.md`):
 * - app tokens (client credentials) under `<prefix>app:<clientId>.<tenantId>`;
 * - user tokens under `<prefix>user:<clientId>:<homeAccountId>`, with an index from the
 *   configured user name (hashed) to the account, so that a new instance using the password
 *   grant finds the user's tokens without signing in again.
 *
 * Each {@link MsalTokenProvider} gets its own plugin bound to its partition, so app-only and user
 * tokens never end up in one blob (which reusing one MSAL app across partitions does). Neither the
 * cache nor its plugins expose the Redis client (which holds its own credentials): logging or
 * inspecting them shows no token and no password.
 *
 * Redis being down, answering errors or holding garbage never fails authentication: the plugin
 * logs one warning (not one per call), keeps the partition's tokens in memory, and tries Redis
 * again on each access. A blob MSAL cannot read (not JSON, entries of the wrong shape) is treated
 * as empty, or loses the entries MSAL cannot read, and is overwritten with the next token.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * const cache = redisTokenCache(new Redis(process.env.DYNAMICS_REDIS_URL!));
 * new MsalTokenProvider({ ...options, cache });
 * ```
 */
export function redisTokenCache(redis: RedisLike, options: RedisTokenCacheOptions = {}): PartitionedTokenCache & TokenCachePlugin {
  if (typeof redis?.get !== 'function' || typeof redis?.set !== 'function') {
    throw new TypeError('redisTokenCache: redis must have get(key) and set(key, value) methods (an ioredis or node-redis client)');
  }
  if (options.ttlInSeconds !== undefined && !(Number.isSafeInteger(options.ttlInSeconds) && options.ttlInSeconds >= 1)) {
    throw new ConfigurationError([{ name: 'ttlInSeconds', expected: 'a whole number of seconds, at least 1' }], 'Invalid redisTokenCache options');
  }
  const prefix = options.keyPrefix ?? 'dynamics-odata:msal:';
  const logger = options.logger ?? silentLogger;
  const fixed = new RedisPartitionPlugin(redis, prefix, options.ttlInSeconds, logger, { key: `${prefix}${options.partition ?? 'default'}` });
  return {
    forPartition(partition: TokenCachePartition): PartitionedCachePlugin {
      if (partition.kind === 'app') {
        return new RedisPartitionPlugin(redis, prefix, options.ttlInSeconds, logger, { key: `${prefix}app:${partition.clientId}.${partition.tenantId.toLowerCase()}` });
      }
      return new RedisPartitionPlugin(redis, prefix, options.ttlInSeconds, logger, { user: partition });
    },
    beforeCacheAccess: (ctx) => fixed.beforeCacheAccess(ctx),
    afterCacheAccess: (ctx) => fixed.afterCacheAccess(ctx),
  };
}

class RedisPartitionPlugin implements PartitionedCachePlugin {
  // Private fields: the Redis client carries its own credentials (and, queued, the blobs it writes),
  // and MsalTokenProvider hands this plugin to MSAL, whose configuration a dump may show.
  readonly #redis: RedisLike;
  readonly #prefix: string;
  readonly #ttlInSeconds: number | undefined;
  readonly #logger: Logger;
  readonly #target: { key: string } | { user: TokenCachePartition };
  #homeAccountId?: string;
  /** The partition's blob as last read or written: what MSAL gets while Redis cannot be used. */
  #memory = '{}';
  /** The last write to Redis failed: what is in memory is newer than anything Redis holds. */
  #unsaved = false;
  /** Problems already logged, so that a Redis that stays unusable warns once, not on every call. */
  readonly #warned = new Set<string>();

  constructor(redis: RedisLike, prefix: string, ttlInSeconds: number | undefined, logger: Logger, target: { key: string } | { user: TokenCachePartition }) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#ttlInSeconds = ttlInSeconds;
    this.#logger = logger;
    this.#target = target;
  }

  setAccount(homeAccountId: string): void {
    this.#homeAccountId = homeAccountId;
  }

  async beforeCacheAccess(context: TokenCacheAccessContext): Promise<void> {
    try {
      const key = await this.#readKey();
      const blob: unknown = key ? await this.#redis.get(key) : null;
      if (typeof blob === 'string' && blob !== '') {
        const sanitized = sanitizeCache(blob);
        if (sanitized.unreadable !== undefined) this.#warnOnce(`corrupt:${key}`, `Token cache entry in Redis is corrupt (${sanitized.unreadable}); treating it as empty`, { key });
        else if (sanitized.dropped > 0) this.#warnOnce(`corrupt:${key}`, `Token cache entry in Redis has ${sanitized.dropped} entr${sanitized.dropped === 1 ? 'y' : 'ies'} MSAL cannot read; ignoring them`, { key });
        this.#memory = sanitized.json;
      } else if (key && !this.#unsaved) {
        // Nothing stored (or expired): the partition is empty, whatever this instance remembered.
        this.#memory = '{}';
      }
    } catch (err) {
      this.#warnOnce(`read:${errorName(err)}`, 'The token cache in Redis cannot be read; carrying on with the tokens in memory', { error: errorName(err) });
    }
    try {
      context.tokenCache.deserialize(this.#memory);
    } catch (err) {
      this.#warnOnce('deserialize', 'The token cache entry in Redis could not be loaded; treating it as empty', { error: errorName(err) });
      this.#memory = '{}';
      context.tokenCache.deserialize('{}');
    }
  }

  #warnOnce(key: string, message: string, meta: Record<string, unknown> = {}): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message, meta);
  }

  async afterCacheAccess(context: TokenCacheAccessContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    const blob = context.tokenCache.serialize();
    this.#memory = blob;
    try {
      await this.#persist(blob);
      this.#unsaved = false;
      this.#warned.clear();
    } catch (err) {
      this.#unsaved = true;
      this.#warnOnce(`write:${errorName(err)}`, 'The token cache in Redis cannot be written; carrying on with the tokens in memory', { error: errorName(err) });
    }
  }

  async #persist(blob: string): Promise<void> {
    let key: string | undefined;
    if ('key' in this.#target) {
      key = this.#target.key;
    } else {
      // Like msal-node's DistributedCachePlugin: a user blob is filed under its account.
      this.#homeAccountId ??= firstHomeAccountId(blob);
      if (!this.#homeAccountId) {
        this.#logger.warn('Not persisting a user token cache without an account (the token response had no id_token/client_info)');
        return;
      }
      key = this.#userKey(this.#target.user, this.#homeAccountId);
      if (this.#target.user.username) await this.#write(this.#indexKey(this.#target.user), this.#homeAccountId);
    }
    await this.#write(key, blob);
  }

  async #readKey(): Promise<string | undefined> {
    if ('key' in this.#target) return this.#target.key;
    const user = this.#target.user;
    if (!this.#homeAccountId && user.username) {
      const indexed: unknown = await this.#redis.get(this.#indexKey(user));
      // Anything but a non-empty string is not an account id of ours (a garbage value, a wrong type).
      if (typeof indexed === 'string' && indexed !== '' && indexed.length <= 512) this.#homeAccountId = indexed;
    }
    return this.#homeAccountId ? this.#userKey(user, this.#homeAccountId) : undefined;
  }

  #userKey(user: TokenCachePartition, homeAccountId: string): string {
    return `${this.#prefix}user:${user.clientId}:${homeAccountId}`;
  }

  /** The user name is hashed: key names show up in monitoring, user names are personal data. */
  #indexKey(user: TokenCachePartition): string {
    const hash = createHash('sha256').update(`${user.tenantId.toLowerCase()}\n${(user.username ?? '').toLowerCase()}`).digest('hex');
    return `${this.#prefix}user-index:${user.clientId}:${hash}`;
  }

  async #write(key: string, value: string): Promise<void> {
    if (this.#ttlInSeconds) await this.#redis.set(key, value, 'EX', this.#ttlInSeconds);
    else await this.#redis.set(key, value);
  }
}

/** The name of a Redis failure (`ReplyError`, `MaxRetriesPerRequestError`, a code): never its message, which may quote a key's content. */
function errorName(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.name : typeof err;
}

function firstHomeAccountId(serialized: string): string | undefined {
  try {
    const accounts = (JSON.parse(serialized) as { Account?: Record<string, { home_account_id?: string }> }).Account ?? {};
    for (const a of Object.values(accounts)) if (a.home_account_id) return a.home_account_id;
  } catch {
    // Not ours to fix: MSAL produced it.
  }
  return undefined;
}
