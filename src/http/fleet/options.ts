import { ConfigurationError, type ConfigurationIssue } from '../../errors';
import { silentLogger, type Logger } from '../../logger';
import { MAX_DURATION_TEXT, MAX_TIMER_DELAY_IN_MS } from '../../net/timers';

/**
 * The Redis commands {@link redisThrottle} needs: `EVALSHA` and `EVAL`, as an `ioredis` client (an
 * optional peer dependency, never loaded by this module), an ioredis `Cluster`, or anything with
 * the same two methods offers them. An ioredis connection that is reconnecting or closed is read as
 * "Redis is down" at once, so that no command waits in ioredis's offline queue; one that is still
 * opening when the throttle is first used is given `connectTimeoutInMs` to answer, and only a
 * harmless probe waits in the queue meanwhile.
 */
export interface RedisScriptingLike {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/** A request budget spent by the whole fleet: at most `requests` sent in any `windowInMs`. */
export interface FleetBudget {
  /** Requests per window, a whole number from 1. Size it a little under the environment's limit (6,000 by default; some environments allow 8,000). */
  requests: number;
  /** The sliding window, in milliseconds. Dataverse's is 300000 (5 minutes). */
  windowInMs: number;
}

/** Options of {@link redisThrottle}. Only `redis` is required; the defaults are in {@link REDIS_THROTTLE_DEFAULTS}. */
export interface RedisThrottleOptions {
  /** The Redis connection (an ioredis client or cluster). The throttle never closes it. */
  redis: RedisScriptingLike;
  /** Prefix of every key. Default: `dynamics-odata:throttle:`. */
  keyPrefix?: string;
  /**
   * Requests in flight at once across the fleet. Default: the smallest `x-ms-dop-hint` any process
   * has seen in the last 10 minutes (`initialConcurrency` until one has).
   */
  maxConcurrency?: number;
  /** The fleet's concurrency before any process has seen an `x-ms-dop-hint`. Default: 5. */
  initialConcurrency?: number;
  /** A request budget spent across the fleet, so that it slows down before the service answers 429. Default: none. */
  budget?: FleetBudget;
  /**
   * When the latest `x-ms-ratelimit-burst-remaining-xrm-requests` any process saw is at most this
   * fraction of the largest one seen, the fleet keeps no more requests in flight than that header says
   * remain (at least one, whose answer tells more); when `x-ms-ratelimit-time-remaining-xrm-requests`
   * is that low, one at a time. From 0 (off) to below 1. Default: 0.05 (a third party found that
   * holding at 5% avoided 429s on a live environment).
   */
  reserve?: number;
  /**
   * How long a slot stays taken without being renewed, in milliseconds: a process that dies (`kill -9`)
   * holds its slots at most this long. Slots of requests in flight are renewed every third of it.
   * Default: 10000. From 100.
   */
  leaseInMs?: number;
  /**
   * How long one Redis command may take before the process stops waiting for it and keeps to its own
   * limits until Redis answers again. Default: 250. From 1 to 60000.
   */
  redisTimeoutInMs?: number;
  /** How often a process that gave up on Redis checks whether it answers again. Default: 1000. From 10. */
  retryRedisAfterInMs?: number;
  /**
   * How long a connection that is still opening when the throttle is first used (ioredis status
   * `wait`, `connecting` or `connect`) may take to answer before that counts as an outage, in
   * milliseconds. Meanwhile the process keeps to its own limits, without a warning, and shares the
   * fleet's as soon as Redis answers. Default: 10000 (ioredis's own `connectTimeout`). From 1 to 600000.
   */
  connectTimeoutInMs?: number;
  /** Where the throttle says that it lost or regained Redis (once per outage). Default: silent. */
  logger?: Logger;
}

/** The written-down defaults of {@link RedisThrottleOptions}. */
export const REDIS_THROTTLE_DEFAULTS = {
  keyPrefix: 'dynamics-odata:throttle:',
  /** The Dataverse ServiceClient's `RecommendedDegreesOfParallelism` default, as the client's `initialConcurrency`. */
  initialConcurrency: 5,
  reserve: 0.05,
  leaseInMs: 10_000,
  redisTimeoutInMs: 250,
  retryRedisAfterInMs: 1_000,
  connectTimeoutInMs: 10_000,
  /** A dop hint no process has confirmed for this long no longer holds the fleet down. */
  dopHintTtlInMs: 600_000,
} as const;

/** The one internal configuration of a RedisThrottle. */
export interface ResolvedRedisThrottleOptions {
  redis: RedisScriptingLike;
  keyPrefix: string;
  maxConcurrency?: number;
  initialConcurrency: number;
  budget?: FleetBudget;
  reserve: number;
  leaseInMs: number;
  redisTimeoutInMs: number;
  retryRedisAfterInMs: number;
  connectTimeoutInMs: number;
  dopHintTtlInMs: number;
  logger: Logger;
}

const KNOWN = new Set(['redis', 'keyPrefix', 'maxConcurrency', 'initialConcurrency', 'budget', 'reserve', 'leaseInMs', 'redisTimeoutInMs', 'retryRedisAfterInMs', 'connectTimeoutInMs', 'logger']);

/**
 * Checks every option and merges them over {@link REDIS_THROTTLE_DEFAULTS}.
 *
 * @throws TypeError when `redis` has no `eval`/`evalsha`; ConfigurationError naming each other bad option.
 */
export function resolveRedisThrottleOptions(options: unknown): ResolvedRedisThrottleOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('redisThrottle: expected an options object such as { redis }');
  const o = options as Record<string, unknown>;
  const redis = o.redis as Partial<RedisScriptingLike> | undefined;
  if (redis === null || typeof redis !== 'object' || typeof redis.eval !== 'function' || typeof redis.evalsha !== 'function') {
    throw new TypeError('redisThrottle: redis must have eval() and evalsha() methods (an ioredis client or cluster)');
  }
  const issues: ConfigurationIssue[] = [];
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) issues.push({ name: key, expected: `no such option (known: ${[...KNOWN].join(', ')})` });
  const whole = (name: string, min: number, max: number, expected: string): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issues.push({ name, expected });
      return undefined;
    }
    return v;
  };
  const maxConcurrency = whole('maxConcurrency', 1, 1000, 'a whole number from 1 to 1000');
  const initialConcurrency = whole('initialConcurrency', 1, 1000, 'a whole number from 1 to 1000');
  const leaseInMs = whole('leaseInMs', 100, MAX_TIMER_DELAY_IN_MS, `a whole number of milliseconds, at least 100 and ${MAX_DURATION_TEXT}`);
  const redisTimeoutInMs = whole('redisTimeoutInMs', 1, 60_000, 'a whole number of milliseconds from 1 to 60000');
  const connectTimeoutInMs = whole('connectTimeoutInMs', 1, 600_000, 'a whole number of milliseconds from 1 to 600000');
  const retryRedisAfterInMs = whole('retryRedisAfterInMs', 10, MAX_TIMER_DELAY_IN_MS, `a whole number of milliseconds, at least 10 and ${MAX_DURATION_TEXT}`);
  const keyPrefix = o.keyPrefix;
  if (keyPrefix !== undefined && (typeof keyPrefix !== 'string' || keyPrefix.length > 200 || /[{}\s]/.test(keyPrefix))) {
    issues.push({ name: 'keyPrefix', expected: 'a string of at most 200 characters without braces or white space (braces would break the hash tag that keeps a scope in one cluster slot)' });
  }
  const reserve = o.reserve;
  if (reserve !== undefined && (typeof reserve !== 'number' || !Number.isFinite(reserve) || reserve < 0 || reserve >= 1)) {
    issues.push({ name: 'reserve', expected: 'a fraction from 0 (off) to below 1, such as 0.05' });
  }
  let budget: FleetBudget | undefined;
  if (o.budget !== undefined) {
    const b = o.budget as Partial<FleetBudget> | null;
    if (b === null || typeof b !== 'object') issues.push({ name: 'budget', expected: 'an object { requests, windowInMs }' });
    else {
      const okRequests = typeof b.requests === 'number' && Number.isInteger(b.requests) && b.requests >= 1 && b.requests <= 10_000_000;
      const okWindow = typeof b.windowInMs === 'number' && Number.isInteger(b.windowInMs) && b.windowInMs >= 1 && b.windowInMs <= MAX_TIMER_DELAY_IN_MS;
      if (!okRequests) issues.push({ name: 'budget.requests', expected: 'a whole number of requests from 1 to 10000000' });
      if (!okWindow) issues.push({ name: 'budget.windowInMs', expected: `a whole number of milliseconds, at least 1 and ${MAX_DURATION_TEXT}` });
      if (okRequests && okWindow) budget = { requests: b.requests as number, windowInMs: b.windowInMs as number };
    }
  }
  const logger = o.logger as Logger | undefined;
  if (logger !== undefined && (logger === null || typeof logger !== 'object' || !['error', 'warn', 'info'].every((m) => typeof (logger as unknown as Record<string, unknown>)[m] === 'function'))) {
    issues.push({ name: 'logger', expected: 'an object with error(), warn() and info() methods' });
  }
  if (issues.length > 0) throw new ConfigurationError(issues, 'Invalid redisThrottle options');
  const d = REDIS_THROTTLE_DEFAULTS;
  return {
    redis: redis as RedisScriptingLike,
    keyPrefix: (keyPrefix as string | undefined) ?? d.keyPrefix,
    ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
    initialConcurrency: initialConcurrency ?? d.initialConcurrency,
    ...(budget !== undefined ? { budget } : {}),
    reserve: (reserve as number | undefined) ?? d.reserve,
    leaseInMs: leaseInMs ?? d.leaseInMs,
    redisTimeoutInMs: redisTimeoutInMs ?? d.redisTimeoutInMs,
    retryRedisAfterInMs: retryRedisAfterInMs ?? d.retryRedisAfterInMs,
    connectTimeoutInMs: connectTimeoutInMs ?? d.connectTimeoutInMs,
    dopHintTtlInMs: d.dopHintTtlInMs,
    logger: logger ?? silentLogger,
  };
}
