import { randomBytes } from 'node:crypto';
import { timerDelay } from '../../net/timers';
import { resolveRedisThrottleOptions, type RedisThrottleOptions, type ResolvedRedisThrottleOptions } from './options';
import { integers, RedisConnection } from './redisConnection';
import { ACQUIRE, RELEASE, RENEW, WITHDRAW } from './scripts';
import type { FleetAcquireRequest, FleetOutcome, FleetThrottle, FleetTicket } from './types';

/** What a {@link redisThrottle} reports about itself, for health checks and dashboards. */
export interface RedisThrottleStats {
  /**
   * `up` while the limits are shared through Redis; `down` while this process keeps to its own;
   * `connecting` while the connection, still opening when the throttle was first used, has not
   * answered yet (the process keeps to its own limits meanwhile; see `connectTimeoutInMs`).
   */
  redis: 'up' | 'down' | 'connecting';
  /** How many times this process lost Redis since it started (a connection that opens in time is not an outage). */
  outages: number;
  /** One entry per scope (environment host and caller) this process has sent requests for. */
  scopes: Array<{
    scope: string;
    /** The fleet's concurrency limit at the last answer from Redis. */
    limit: number;
    /** Slots this process holds now (its requests in flight under the limiter). */
    held: number;
    /** Requests of this process waiting for a slot, the pause or the budget. */
    waiting: number;
    /** Processes of the fleet active in the last lease time. */
    processes: number;
    /** Whether the fleet holds back because the service reports its budget nearly spent (see `reserve`). */
    reserve: boolean;
    /** `Date.now()` value until which new requests are held (0 when none). */
    pausedUntil: number;
  }>;
}

/** A {@link FleetThrottle} on Redis, with {@link RedisThrottle.stats}. */
export interface RedisThrottle extends FleetThrottle {
  /** The throttle's state in this process. */
  stats(): RedisThrottleStats;
}

/**
 * A limiter shared through Redis by every process that calls one Dataverse environment as one
 * caller (pods, workers, serverless instances), because Dataverse's service-protection limits are
 * per user, not per process (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits):
 *
 * - **The pause.** After any process gets a 429 with `Retry-After`, every process holds its new
 *   requests until that moment (requests in flight are not cancelled).
 * - **Concurrency.** At most `maxConcurrency` requests in flight across the fleet; by default the
 *   smallest `x-ms-dop-hint` any process has seen. Slots are leases: a process that dies holds its
 *   slots at most `leaseInMs`.
 * - **A budget** (optional): at most `budget.requests` per `budget.windowInMs` across the fleet, so
 *   that it slows down before the service says 429.
 * - **The reserve.** When the service's own `x-ms-ratelimit-*-remaining-*` headers fall to `reserve`
 *   of the largest value seen, the fleet keeps no more requests in flight than the service says remain.
 *
 * Waiting requests are served oldest first across the fleet. A faulty Redis never stops the work:
 * a command that fails, answers wrongly or takes longer than `redisTimeoutInMs` puts this process on
 * its own limits (the client's concurrency, the last pause it knew of, its share of the budget), with
 * one warning; it checks every `retryRedisAfterInMs` and shares limits again once Redis answers. A
 * connection still opening when the throttle is first used is not an outage: the process keeps to its
 * own limits, silently, until Redis first answers (within `connectTimeoutInMs`, else it warns). Every
 * key expires on its own.
 *
 * The throttle keeps no token: processes are grouped by a hash of the environment host and the
 * token's tenant and object id. One throttle can serve several clients and environments.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { DynamicsClient, redisThrottle } from 'dynamics-odata';
 *
 * const redis = new Redis(process.env.DYNAMICS_REDIS_URL!);
 * const throttle = redisThrottle({ redis, budget: { requests: 5500, windowInMs: 300_000 } });
 * const client = new DynamicsClient({ url, auth, throttle });
 * // on shutdown:
 * client.close();
 * await throttle.close();
 * await redis.quit();
 * ```
 */
export function redisThrottle(options: RedisThrottleOptions): RedisThrottle {
  return new RedisFleetThrottle(resolveRedisThrottleOptions(options));
}

/** Most slots asked for in one round trip. */
const MAX_BATCH = 64;
/** How long a process that stopped asking stays in the waiting line. */
const WAITER_TTL_IN_MS = 1_000;
class Ticket implements FleetTicket {
  settled = false;
  constructor(
    readonly scope: string,
    /** Undefined for a request let through on local limits (Redis down, or the throttle closed). */
    readonly leaseId: string | undefined,
  ) {}
}

interface Waiter {
  readonly since: number;
  readonly signal: AbortSignal;
  done: boolean;
  /** Hands the ticket over; false when the waiter gave up meanwhile. */
  grant(ticket: Ticket): boolean;
  /** Hands the waiter over to another way of getting a ticket (local limits). */
  detach(): { resolve(ticket: FleetTicket): void; reject(error: unknown): void } | undefined;
}

interface PendingRelease {
  ids: string[];
  retryAfterInMs: number;
  dopHint: number;
  burstRemaining: number;
  timeRemaining: number;
}

/** One scope's state in this process. */
class ScopeState {
  readonly acquireKeys: string[];
  readonly releaseKeys: string[];
  readonly renewKeys: string[];
  readonly waitKeys: string[];
  readonly queue: Waiter[] = [];
  head = 0;
  pumping = false;
  registered = false;
  /** Ends the pump's current sleep; set while it sleeps. */
  wake: (() => void) | undefined;
  /** A kick arrived while the pump was not sleeping: its next sleep ends at once. */
  kicked = false;
  readonly held = new Set<string>();
  pending: PendingRelease | undefined;
  pauseUntil = 0;
  limit: number;
  processes = 1;
  reserve = false;
  /**
   * When this process's requests went, with a budget: what it spent of its share. Kept while Redis
   * answers too, so that a process losing Redis mid-window does not spend its whole share again at once.
   */
  readonly localLog: number[] = [];

  constructor(
    readonly name: string,
    prefix: string,
    limit: number,
  ) {
    const k = (suffix: string) => `${prefix}{${name}}:${suffix}`;
    this.acquireKeys = [k('slots'), k('wait'), k('waitexp'), k('log'), k('state'), k('procs')];
    this.releaseKeys = [k('slots'), k('log'), k('state')];
    this.renewKeys = [k('slots'), k('procs')];
    this.waitKeys = [k('wait'), k('waitexp')];
    this.limit = limit;
  }

  /** Makes the pump ask Redis again now (a slot of ours was given back, or Redis went down). */
  kick(): void {
    if (this.wake !== undefined) this.wake();
    else this.kicked = true;
  }

  /** Waiters still waiting, dropping those that gave up from the front. */
  live(): number {
    while (this.head < this.queue.length && (this.queue[this.head] as Waiter).done) this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      return 0;
    }
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) if (!(this.queue[i] as Waiter).done) n++;
    return n;
  }

  /** The next waiter still waiting, taken off the queue. */
  next(): Waiter | undefined {
    while (this.head < this.queue.length) {
      const w = this.queue[this.head++] as Waiter;
      if (!w.done) return w;
    }
    return undefined;
  }

  oldestSince(): number {
    for (let i = this.head; i < this.queue.length; i++) {
      const w = this.queue[i] as Waiter;
      if (!w.done) return w.since;
    }
    return Date.now();
  }
}

class RedisFleetThrottle implements RedisThrottle {
  readonly #o: ResolvedRedisThrottleOptions;
  /** This process (this throttle) in Redis: random, so that two throttles in one process are two members. */
  readonly #processId = randomBytes(9).toString('base64url');
  #leaseCounter = 0;
  readonly #scopes = new Map<string, ScopeState>();
  readonly #redis: RedisConnection;
  #closed = false;
  #renewTimer: NodeJS.Timeout | undefined;
  /** Leases that may exist in Redis though nobody uses them (a command that timed out): given back once Redis answers. */
  readonly #orphans = new Map<ScopeState, Set<string>>();

  constructor(options: ResolvedRedisThrottleOptions) {
    this.#o = options;
    this.#redis = new RedisConnection(options, {
      down: () => {
        for (const scope of this.#scopes.values()) scope.kick();
      },
      backUp: () => {
        for (const [scope, ids] of this.#orphans) {
          this.#orphans.delete(scope);
          this.#queueRelease(scope, [...ids]);
        }
        for (const scope of this.#scopes.values()) if (scope.held.size > 0) this.#startRenewing();
      },
    });
  }

  acquire(request: FleetAcquireRequest): Promise<FleetTicket> {
    const signal = request.abortSignal;
    if (signal.aborted) return Promise.reject(abortError(signal));
    const scope = this.#scope(request.scope);
    this.#redis.checkOnFirstUse();
    if (this.#closed || !this.#redis.up) return this.#acquireLocally(scope, signal);
    return new Promise<FleetTicket>((resolve, reject) => {
      const onAbort = () => {
        if (waiter.done) return;
        waiter.done = true;
        reject(abortError(signal));
      };
      const waiter: Waiter = {
        since: Date.now(),
        signal,
        done: false,
        grant(ticket) {
          if (waiter.done) return false;
          waiter.done = true;
          signal.removeEventListener('abort', onAbort);
          resolve(ticket);
          return true;
        },
        detach() {
          if (waiter.done) return undefined;
          waiter.done = true;
          signal.removeEventListener('abort', onAbort);
          return { resolve, reject };
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      scope.queue.push(waiter);
      void this.#pump(scope);
    });
  }

  settle(ticket: FleetTicket, outcome: FleetOutcome): void {
    if (!(ticket instanceof Ticket) || ticket.settled) return;
    ticket.settled = true;
    const scope = this.#scopes.get(ticket.scope);
    if (scope === undefined) return;
    const retryAfter = positive(outcome.retryAfterInMs);
    if (retryAfter > 0) scope.pauseUntil = Math.max(scope.pauseUntil, Date.now() + retryAfter);
    const id = ticket.leaseId;
    if (id !== undefined) scope.held.delete(id);
    const dopHint = positive(outcome.dopHint);
    const burst = nonNegative(outcome.burstRemaining);
    const time = nonNegative(outcome.timeRemainingInSeconds);
    if (id === undefined && retryAfter === 0 && dopHint === 0 && burst < 0 && time < 0) return;
    if (this.#closed) return;
    if (!this.#redis.up) {
      if (id !== undefined) this.#orphan(scope, [id]);
      return;
    }
    let pending = scope.pending;
    if (pending === undefined) {
      pending = scope.pending = { ids: [], retryAfterInMs: 0, dopHint: 0, burstRemaining: -1, timeRemaining: -1 };
      // One round trip for every answer that arrives in the same turn of the event loop.
      setImmediate(() => void this.#flush(scope));
    }
    if (id !== undefined) pending.ids.push(id);
    pending.retryAfterInMs = Math.max(pending.retryAfterInMs, retryAfter);
    if (dopHint > 0) pending.dopHint = pending.dopHint === 0 ? dopHint : Math.min(pending.dopHint, dopHint);
    if (burst >= 0) pending.burstRemaining = burst;
    if (time >= 0) pending.timeRemaining = time;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#redis.close();
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    const releases: Array<Promise<unknown>> = [];
    for (const scope of this.#scopes.values()) {
      scope.kick();
      if (!this.#redis.up) continue;
      const ids = [...scope.held];
      scope.held.clear();
      if (scope.pending !== undefined) ids.push(...scope.pending.ids);
      scope.pending = undefined;
      if (ids.length > 0) releases.push(this.#redis.run(RELEASE, scope.releaseKeys, this.#releaseArgs(undefined, ids)).catch(() => undefined));
      if (scope.registered) releases.push(this.#redis.run(WITHDRAW, scope.waitKeys, [this.#processId]).catch(() => undefined));
    }
    await Promise.all(releases);
  }

  stats(): RedisThrottleStats {
    return {
      redis: this.#redis.state,
      outages: this.#redis.outages,
      scopes: [...this.#scopes.values()].map((s) => ({
        scope: s.name,
        limit: s.limit,
        held: s.held.size,
        waiting: s.live(),
        processes: s.processes,
        reserve: s.reserve,
        pausedUntil: s.pauseUntil > Date.now() ? s.pauseUntil : 0,
      })),
    };
  }

  #scope(name: string): ScopeState {
    let scope = this.#scopes.get(name);
    if (scope === undefined) {
      scope = new ScopeState(name, this.#o.keyPrefix, this.#o.maxConcurrency ?? this.#o.initialConcurrency);
      this.#scopes.set(name, scope);
    }
    return scope;
  }

  /**
   * Asks Redis for slots for this scope's waiters, oldest first, until none waits. One pump per scope
   * runs at a time, so a process asks once per round trip however many requests wait.
   */
  async #pump(scope: ScopeState): Promise<void> {
    if (scope.pumping) return;
    scope.pumping = true;
    try {
      for (;;) {
        const waiting = scope.live();
        if (waiting === 0) break;
        if (this.#closed || !this.#redis.up) {
          this.#passLocally(scope);
          break;
        }
        const want = Math.min(waiting, MAX_BATCH);
        const ids = Array.from({ length: want }, () => `${this.#processId}:${(++this.#leaseCounter).toString(36)}`);
        let reply: number[];
        try {
          reply = integers(await this.#redis.run(ACQUIRE, scope.acquireKeys, this.#acquireArgs(scope, want, ids)), 6);
        } catch (error) {
          // The script may have run after we stopped waiting for it: its leases are given back later.
          this.#orphan(scope, ids);
          this.#redis.markDown(error);
          continue;
        }
        const [granted, waitInMs, limit, , processes, reserved] = reply as [number, number, number, number, number, number];
        scope.limit = limit;
        scope.processes = Math.max(1, processes);
        scope.reserve = reserved === 1;
        scope.registered = granted < want;
        const unused: string[] = [];
        for (let i = 0; i < granted; i++) {
          const id = ids[i] as string;
          const waiter = scope.next();
          if (waiter === undefined) {
            unused.push(id);
            continue;
          }
          scope.held.add(id);
          if (!waiter.grant(new Ticket(scope.name, id))) {
            scope.held.delete(id);
            unused.push(id);
          } else if (this.#o.budget !== undefined) {
            this.#spend(scope, this.#o.budget.windowInMs, this.#o.budget.requests);
          }
        }
        if (unused.length > 0) this.#queueRelease(scope, unused);
        if (scope.held.size > 0) this.#startRenewing();
        if (granted < want) {
          // A pause or a spent budget says when to ask again; otherwise a slot frees when some request
          // ends: this process's own (the release wakes us) or another's (found by asking again soon).
          await this.#sleep(scope, waitInMs > 0 ? waitInMs + Math.floor(Math.random() * 5) : 5 + Math.floor(Math.random() * 20));
        }
      }
    } finally {
      scope.pumping = false;
    }
    if (scope.registered && this.#redis.up && !this.#closed) {
      scope.registered = false;
      this.#redis.run(WITHDRAW, scope.waitKeys, [this.#processId]).catch((error: unknown) => this.#redis.markDown(error));
    }
  }

  #acquireArgs(scope: ScopeState, want: number, ids: string[]): Array<string | number> {
    const o = this.#o;
    return [
      this.#processId,
      want,
      Math.max(0, Date.now() - scope.oldestSince()),
      o.maxConcurrency ?? 0,
      o.initialConcurrency,
      o.leaseInMs,
      WAITER_TTL_IN_MS,
      o.budget?.requests ?? 0,
      o.budget?.windowInMs ?? 0,
      o.reserve,
      o.dopHintTtlInMs,
      ...ids,
    ];
  }

  #releaseArgs(p: PendingRelease | undefined, ids: string[]): Array<string | number> {
    const o = this.#o;
    const stateTtl = Math.max(o.dopHintTtlInMs, o.budget?.windowInMs ?? 0, o.leaseInMs * 2);
    return [
      o.budget !== undefined ? 1 : 0,
      p?.retryAfterInMs ?? 0,
      p?.dopHint ?? 0,
      p?.burstRemaining ?? -1,
      p?.timeRemaining ?? -1,
      o.dopHintTtlInMs,
      stateTtl,
      o.budget?.windowInMs ?? 0,
      o.leaseInMs,
      ...ids,
    ];
  }

  #sleep(scope: ScopeState, ms: number): Promise<void> {
    if (scope.kicked) {
      scope.kicked = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (scope.wake === done) scope.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, timerDelay(ms));
      scope.wake = done;
    });
  }

  /** Lets every waiter of `scope` go on local limits (Redis is down, or the throttle closed). */
  #passLocally(scope: ScopeState): void {
    for (let w = scope.next(); w !== undefined; w = scope.next()) {
      const handle = w.detach();
      if (handle === undefined) continue;
      this.#acquireLocally(scope, w.signal).then(handle.resolve, handle.reject);
    }
  }

  /**
   * A ticket on this process's own limits: it waits out the last pause it knows of and, with a
   * budget, keeps to its share of it (the budget divided by the processes Redis last counted).
   * The client's own concurrency limit still applies around it.
   */
  async #acquireLocally(scope: ScopeState, signal: AbortSignal): Promise<FleetTicket> {
    const budget = this.#o.budget;
    for (;;) {
      const now = Date.now();
      let wait = scope.pauseUntil - now;
      if (wait <= 0 && budget !== undefined && !this.#closed) {
        const share = Math.max(1, Math.floor(budget.requests / scope.processes));
        const log = scope.localLog;
        this.#spend(scope, budget.windowInMs, budget.requests, false);
        // The oldest send that must leave the window before this one fits in the share.
        if (log.length >= share) wait = (log[log.length - share] as number) + budget.windowInMs - now + 1;
        else log.push(now);
      }
      if (wait <= 0 || this.#closed) return new Ticket(scope.name, undefined);
      await delay(wait, signal);
    }
  }

  /** Drops sends that left the window from this process's log and, unless `record` is false, adds one now. */
  #spend(scope: ScopeState, windowInMs: number, max: number, record = true): void {
    const log = scope.localLog;
    const now = Date.now();
    let drop = 0;
    while (drop < log.length && (log[drop] as number) <= now - windowInMs) drop++;
    const keep = record ? max - 1 : max;
    if (log.length - drop > keep) drop = log.length - keep;
    if (drop > 0) log.splice(0, drop);
    if (record) log.push(now);
  }

  #queueRelease(scope: ScopeState, ids: string[]): void {
    if (!this.#redis.up) {
      this.#orphan(scope, ids);
      return;
    }
    this.#redis.run(RELEASE, scope.releaseKeys, this.#releaseArgs(undefined, ids)).then(
      () => scope.kick(),
      (error: unknown) => {
        this.#orphan(scope, ids);
        this.#redis.markDown(error);
      },
    );
  }

  async #flush(scope: ScopeState): Promise<void> {
    const pending = scope.pending;
    scope.pending = undefined;
    if (pending === undefined || this.#closed) return;
    if (!this.#redis.up) {
      this.#orphan(scope, pending.ids);
      return;
    }
    try {
      const [pauseInMs] = integers(await this.#redis.run(RELEASE, scope.releaseKeys, this.#releaseArgs(pending, pending.ids)), 1) as [number];
      if (pauseInMs > 0) scope.pauseUntil = Math.max(scope.pauseUntil, Date.now() + pauseInMs);
    } catch (error) {
      this.#orphan(scope, pending.ids);
      this.#redis.markDown(error);
    }
    // The slots just given back may go to a request of ours that waits.
    scope.kick();
  }

  #startRenewing(): void {
    if (this.#renewTimer !== undefined || this.#closed) return;
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(30, Math.floor(this.#o.leaseInMs / 3)));
    this.#renewTimer.unref();
  }

  /** Extends the leases of this process's requests in flight, so that a long request keeps its slot. */
  async #renew(): Promise<void> {
    if (!this.#redis.up || this.#closed) return;
    let holding = false;
    for (const scope of this.#scopes.values()) {
      if (scope.held.size === 0) continue;
      holding = true;
      try {
        integers(await this.#redis.run(RENEW, scope.renewKeys, [this.#o.leaseInMs, this.#processId, ...scope.held]), 1);
      } catch (error) {
        this.#redis.markDown(error);
        return;
      }
    }
    if (!holding) {
      clearInterval(this.#renewTimer);
      this.#renewTimer = undefined;
    }
  }

  #orphan(scope: ScopeState, ids: readonly string[]): void {
    if (ids.length === 0) return;
    let set = this.#orphans.get(scope);
    if (set === undefined) this.#orphans.set(scope, (set = new Set()));
    for (const id of ids) set.add(id);
  }

}

function positive(v: number | undefined): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.ceil(v) : 0;
}

function nonNegative(v: number | undefined): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : -1;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('the wait for the fleet limiter was given up');
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, timerDelay(ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
