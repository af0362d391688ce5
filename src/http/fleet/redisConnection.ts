/**
 * The throttle's view of its Redis connection: whether the fleet's limits can be shared now (`up`),
 * not yet (`connecting`: the connection was still opening at first use) or not any more (`down`), the
 * one warning per outage and the line when Redis answers again, the regular probe while it is down,
 * and every script run with a deadline. {@link redisThrottle} (./redisThrottle.ts) decides what a
 * request does in each state.
 */
import type { Logger } from '../../logger';
import type { RedisScriptingLike } from './options';
import { PROBE, type LuaScript } from './scripts';

/** ioredis connection states in which a command would wait in its offline queue rather than run. */
const UNUSABLE_STATUS = new Set(['reconnecting', 'close', 'end']);
/**
 * ioredis states of a connection that has not opened yet (`wait`: lazyConnect, opened by the first
 * command). A command sent now waits in the offline queue and runs whenever the connection opens.
 */
const OPENING_STATUS = new Set(['wait', 'connecting', 'connect']);
/** How often the wait for an opening connection looks whether ioredis gave it up. */
const OPENING_POLL_IN_MS = 50;
/** A second warning about Redis within this time of the first is logged at debug level only. */
const WARN_EVERY_IN_MS = 60_000;

/** The failure of a Redis command, by its kind only: a Redis error message may quote keys or values. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** What {@link RedisConnection} needs of the throttle's options. */
export interface RedisConnectionOptions {
  redis: RedisScriptingLike;
  redisTimeoutInMs: number;
  retryRedisAfterInMs: number;
  connectTimeoutInMs: number;
  logger: Logger;
}

/** What the throttle does when the connection's state changes. */
export interface RedisConnectionEvents {
  /** Redis was lost: requests waiting for the fleet must go on local limits. */
  down(): void;
  /** Redis answers again after an outage: give back what was orphaned, renew leases again. */
  backUp(): void;
}

export class RedisConnection {
  readonly #o: RedisConnectionOptions;
  readonly #events: RedisConnectionEvents;
  #up = true;
  /** Whether the first use has looked at the connection's state yet ({@link checkOnFirstUse}). */
  #checked = false;
  /** Whether the connection was still opening when first used and has not answered yet. */
  #opening = false;
  #closed = false;
  #outages = 0;
  #downSince = 0;
  #lastWarnAt = -Infinity;
  #warnedThisOutage = false;
  #probeTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisConnectionOptions, events: RedisConnectionEvents) {
    this.#o = options;
    this.#events = events;
  }

  /** Whether the fleet's limits are shared through Redis now. */
  get up(): boolean {
    return this.#up;
  }

  get state(): 'up' | 'down' | 'connecting' {
    return this.#opening ? 'connecting' : this.#up ? 'up' : 'down';
  }

  /** How many times Redis was lost (a connection that opens in time is not an outage). */
  get outages(): number {
    return this.#outages;
  }

  /** Stops probing; scripts can still be run (the throttle gives its slots back on close). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
  }

  /**
   * On first use: a connection that is still opening (a process that just started, ioredis still
   * connecting) is not an outage. Until Redis first answers, this process keeps to its own limits
   * without a warning, and no command with an effect is sent: only a probe, which may wait in
   * ioredis's offline queue and run whenever the connection opens without leaving anything behind.
   */
  checkOnFirstUse(): void {
    if (this.#checked) return;
    this.#checked = true;
    const status = (this.#o.redis as { status?: unknown }).status;
    if (typeof status !== 'string' || !OPENING_STATUS.has(status)) return;
    this.#up = false;
    this.#opening = true;
    this.#downSince = Date.now();
    this.#o.logger.debug?.('redisThrottle: the Redis connection is still opening; this process keeps to its own limits until Redis answers', {
      status,
      connectTimeoutInMs: this.#o.connectTimeoutInMs,
    });
    void this.#awaitOpening();
  }

  /** Waits for the opening connection's first answer: then the fleet's limits apply; a failure or `connectTimeoutInMs` without one is an outage. */
  async #awaitOpening(): Promise<void> {
    const redis = this.#o.redis as { status?: unknown };
    let poll: NodeJS.Timeout | undefined;
    // ioredis gives a connection up (reconnecting, closed) without failing the commands queued on it:
    // its state says so first.
    const givenUp = new Promise<never>((_, reject) => {
      poll = setInterval(() => {
        const status = redis.status;
        if (typeof status === 'string' && UNUSABLE_STATUS.has(status)) reject(new RedisUnavailableError(`connection ${status}`));
      }, OPENING_POLL_IN_MS);
      poll.unref();
    });
    const answer = this.run(PROBE, [], [], this.#o.connectTimeoutInMs);
    answer.catch(() => undefined);
    let failure: unknown;
    let answered = false;
    try {
      integers(await Promise.race([answer, givenUp]), 1);
      answered = true;
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(poll);
    }
    if (this.#closed || !this.#opening) return;
    if (!answered) {
      this.markDown(failure);
      return;
    }
    this.#opening = false;
    this.#up = true;
    this.#o.logger.debug?.('redisThrottle: Redis answers; the fleet shares its limits', { openingInMs: Date.now() - this.#downSince });
  }

  /** Redis failed: this process keeps to its own limits, says so once, and checks back regularly. */
  markDown(error: unknown): void {
    if ((!this.#up && !this.#opening) || this.#closed) return;
    // An outage of a connection that never opened began when the throttle was first used.
    if (!this.#opening) this.#downSince = Date.now();
    this.#up = false;
    this.#opening = false;
    this.#outages++;
    const meta = { error: describeRedisFailure(error), retryInMs: this.#o.retryRedisAfterInMs };
    const message = 'redisThrottle: Redis did not answer in time or answered wrongly; each process keeps to its own limits until Redis answers again';
    this.#warnedThisOutage = this.#downSince - this.#lastWarnAt >= WARN_EVERY_IN_MS;
    if (this.#warnedThisOutage) {
      this.#lastWarnAt = this.#downSince;
      this.#o.logger.warn(message, meta);
    } else {
      this.#o.logger.debug?.(message, meta);
    }
    this.#events.down();
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    this.#probeTimer = setTimeout(() => void this.#probe(), this.#o.retryRedisAfterInMs);
    this.#probeTimer.unref();
  }

  async #probe(): Promise<void> {
    if (this.#closed) return;
    try {
      integers(await this.run(PROBE, [], []), 1);
    } catch {
      this.#scheduleProbe();
      return;
    }
    if (this.#closed) return;
    this.#up = true;
    const meta = { outageInMs: Date.now() - this.#downSince };
    if (this.#warnedThisOutage) this.#o.logger.info('redisThrottle: Redis answers again; the fleet shares its limits again', meta);
    else this.#o.logger.debug?.('redisThrottle: Redis answers again', meta);
    this.#events.backUp();
  }

  /**
   * Runs a script (EVALSHA, loading it with EVAL once if Redis does not know it), giving up after
   * `redisTimeoutInMs`. Refuses at once while ioredis reports the connection down, so that no command
   * waits in its offline queue to run minutes later.
   */
  run(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>, timeoutInMs = this.#o.redisTimeoutInMs): Promise<unknown> {
    const redis = this.#o.redis;
    const status = (redis as { status?: unknown }).status;
    if (typeof status === 'string' && UNUSABLE_STATUS.has(status)) return Promise.reject(new RedisUnavailableError(`connection ${status}`));
    const attempt = async (): Promise<unknown> => {
      try {
        return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!/NOSCRIPT/i.test(error instanceof Error ? error.message : String(error))) throw error;
        return redis.eval(script.text, keys.length, ...keys, ...args);
      }
    };
    return new Promise<unknown>((resolve, reject) => {
      // When the timer fires, the answer may be waiting unread because this process's event loop was
      // busy (a long GC, a starved CPU): one more turn lets it be read before Redis is called slow.
      const timer = setTimeout(() => setImmediate(() => reject(new RedisUnavailableError(`no answer to ${script.name} within ${timeoutInMs} ms`))), timeoutInMs);
      // Only there to stop waiting: it must not keep a process alive that has nothing else to do.
      timer.unref();
      attempt().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}

/** The reply of one of our scripts: an array of `length` integers; anything else means Redis is not what we think. */
export function integers(reply: unknown, length: number): number[] {
  if (!Array.isArray(reply) || reply.length !== length || !reply.every((v) => typeof v === 'number' && Number.isSafeInteger(v))) {
    throw new RedisUnavailableError('unexpected reply');
  }
  return reply as number[];
}

/** A Redis failure by kind (`ECONNREFUSED`, `ReplyError`, our own reason): never a message that could quote data. */
function describeRedisFailure(error: unknown): string {
  if (error instanceof RedisUnavailableError) return error.message;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.length <= 40) return code;
  return error instanceof Error ? error.name : typeof error;
}
