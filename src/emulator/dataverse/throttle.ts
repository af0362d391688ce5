/**
 * Service protection as Dataverse applies it (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits):
 * per authenticated user, over a sliding window, three limits, each answered with 429, `Retry-After`
 * and its own error code:
 * - the number of requests (`0x80072322`);
 * - the combined execution time of the requests (`0x80072321`);
 * - the number of concurrent requests (`0x80072326`), which "fail immediately".
 *
 * The budget belongs to the user (the token's `oid`), not to a connection: every connection and
 * every process presenting the same user spends the one budget, as Dataverse's do (the limits are
 * "per user"; a third party saw one counter shared across about 15 web servers, protocol notes §8.1).
 * Every response to an authenticated request carries `x-ms-ratelimit-burst-remaining-xrm-requests`
 * and `x-ms-ratelimit-time-remaining-xrm-requests` (the latter in seconds, en-US formatted: `1,200.00`).
 */
import { MAX_TIMER_MS, MAX_TIMER_SECONDS } from '../limits';
import type { ServiceProtectionBudget, ServiceProtectionUsage } from '../types';
import { DataverseHttpError, dvErrors, groupThousands } from './errors';

export interface ResolvedBudget {
  maxRequests: number;
  windowInMs: number;
  maxConcurrent: number;
  maxExecutionTimeInMs: number;
  retryAfterSeconds?: number;
}

/** A finished request's share of the execution-time budget. */
interface Execution {
  endedAt: number;
  durationInMs: number;
}

interface UserState {
  /** Accepted request times, oldest first, from `head` on. */
  times: number[];
  head: number;
  /** Finished requests, oldest first, from `execHead` on; `execSum` is the total of their durations. */
  executions: Execution[];
  execHead: number;
  execSum: number;
  inFlight: number;
}

/** The two debugging headers Dataverse sends on each response (api-limits.md, "Response headers"). */
export interface RateLimitHeaders {
  'x-ms-ratelimit-burst-remaining-xrm-requests': string;
  'x-ms-ratelimit-time-remaining-xrm-requests': string;
}

export type Admission =
  | { ok: true; headers: RateLimitHeaders; release(): void }
  | { ok: false; error: DataverseHttpError; headers: RateLimitHeaders };

/** `1200` → `1,200.00`: the execution time left, in seconds, as Dataverse writes it. */
export function formatSecondsRemaining(ms: number): string {
  const hundredths = Math.max(0, Math.floor(ms / 10));
  const whole = Math.floor(hundredths / 100);
  const fraction = String(hundredths % 100).padStart(2, '0');
  return `${groupThousands(String(whole))}.${fraction}`;
}

export class ServiceProtection {
  private readonly users = new Map<string, UserState>();

  constructor(private budget: ResolvedBudget) {}

  /** Changes the budget at run time; fields left out keep their current value. */
  set(budget: ServiceProtectionBudget): void {
    const next: ResolvedBudget = {
      maxRequests: budget.maxRequests ?? this.budget.maxRequests,
      windowInMs: budget.windowInMs ?? this.budget.windowInMs,
      maxConcurrent: budget.maxConcurrent ?? this.budget.maxConcurrent,
      maxExecutionTimeInMs: budget.maxExecutionTimeInMs ?? this.budget.maxExecutionTimeInMs,
    };
    const retry = 'retryAfterSeconds' in budget ? budget.retryAfterSeconds : this.budget.retryAfterSeconds;
    if (retry !== undefined) next.retryAfterSeconds = retry;
    for (const [name, v] of [
      ['maxRequests', next.maxRequests],
      ['windowInMs', next.windowInMs],
      ['maxConcurrent', next.maxConcurrent],
      ['maxExecutionTimeInMs', next.maxExecutionTimeInMs],
    ] as const) {
      if (!Number.isFinite(v) || v < 1) throw new RangeError(`serviceProtection.${name}: expected a positive number, got ${String(v)}`);
    }
    if (next.windowInMs > MAX_TIMER_MS) throw new RangeError(`serviceProtection.windowInMs: expected at most ${MAX_TIMER_MS} ms, got ${String(next.windowInMs)}`);
    if (next.retryAfterSeconds !== undefined && (!Number.isInteger(next.retryAfterSeconds) || next.retryAfterSeconds < 0 || next.retryAfterSeconds > MAX_TIMER_SECONDS)) {
      throw new RangeError(`serviceProtection.retryAfterSeconds: expected an integer between 0 and ${MAX_TIMER_SECONDS}, got ${String(next.retryAfterSeconds)}`);
    }
    this.budget = next;
    // Counting restarts so that a test lowering the budget is not hit by requests made before.
    for (const u of this.users.values()) {
      u.times = [];
      u.head = 0;
      u.executions = [];
      u.execHead = 0;
      u.execSum = 0;
    }
  }

  /** Each user's use of the budget now (for tests and the emulator's callers). */
  usage(now: number = Date.now()): ServiceProtectionUsage[] {
    return [...this.users.entries()].map(([user, u]) => {
      this.slide(u, now);
      return { user, requests: u.times.length - u.head, executionTimeInMs: u.execSum, inFlight: u.inFlight };
    });
  }

  /**
   * Admits one request for `user` or says why not; either way with the rate-limit headers to send.
   * Call `release()` when the response is sent: the request's execution time is counted then.
   */
  admit(user: string, now: number): Admission {
    let u = this.users.get(user);
    if (!u) {
      u = { times: [], head: 0, executions: [], execHead: 0, execSum: 0, inFlight: 0 };
      this.users.set(user, u);
    }
    const { maxRequests, windowInMs, maxConcurrent, maxExecutionTimeInMs } = this.budget;
    this.slide(u, now);
    const used = u.times.length - u.head;
    const headers = (remaining: number): RateLimitHeaders => ({
      'x-ms-ratelimit-burst-remaining-xrm-requests': String(Math.max(0, remaining)),
      'x-ms-ratelimit-time-remaining-xrm-requests': formatSecondsRemaining(maxExecutionTimeInMs - u.execSum),
    });
    const windowSeconds = Math.round(windowInMs / 1000);
    // Concurrency first: api-limits.md says these violations fail immediately, whatever the window holds.
    if (u.inFlight >= maxConcurrent) {
      return { ok: false, error: dvErrors.tooManyConcurrent(maxConcurrent, this.budget.retryAfterSeconds ?? 1), headers: headers(maxRequests - used) };
    }
    if (used >= maxRequests) {
      const oldest = u.times[u.head] as number;
      const wait = Math.max(1, Math.ceil((oldest + windowInMs - now) / 1000));
      return { ok: false, error: dvErrors.tooManyRequests(maxRequests, windowSeconds, this.budget.retryAfterSeconds ?? wait), headers: headers(0) };
    }
    if (u.execSum >= maxExecutionTimeInMs) {
      return {
        ok: false,
        error: dvErrors.tooMuchExecutionTime(maxExecutionTimeInMs, windowSeconds, this.budget.retryAfterSeconds ?? this.executionWait(u, now)),
        headers: headers(maxRequests - used),
      };
    }
    u.times.push(now);
    u.inFlight++;
    const state = u;
    let released = false;
    return {
      ok: true,
      headers: headers(maxRequests - used - 1),
      release: () => {
        if (released) return;
        released = true;
        state.inFlight--;
        const endedAt = Date.now();
        const durationInMs = Math.max(0, endedAt - now);
        state.executions.push({ endedAt, durationInMs });
        state.execSum += durationInMs;
      },
    };
  }

  /** Drops what left the window. */
  private slide(u: UserState, now: number): void {
    const start = now - this.budget.windowInMs;
    while (u.head < u.times.length && (u.times[u.head] as number) <= start) u.head++;
    if (u.head > 1024 && u.head * 2 > u.times.length) {
      u.times = u.times.slice(u.head);
      u.head = 0;
    }
    while (u.execHead < u.executions.length && (u.executions[u.execHead] as Execution).endedAt <= start) {
      u.execSum -= (u.executions[u.execHead] as Execution).durationInMs;
      u.execHead++;
    }
    if (u.execHead > 1024 && u.execHead * 2 > u.executions.length) {
      u.executions = u.executions.slice(u.execHead);
      u.execHead = 0;
    }
  }

  /** Seconds until enough finished requests leave the window for the execution time to fall under the limit (at least 1). */
  private executionWait(u: UserState, now: number): number {
    let sum = u.execSum;
    for (let i = u.execHead; i < u.executions.length; i++) {
      const e = u.executions[i] as Execution;
      sum -= e.durationInMs;
      if (sum < this.budget.maxExecutionTimeInMs) return Math.max(1, Math.ceil((e.endedAt + this.budget.windowInMs - now) / 1000));
    }
    return 1;
  }
}
