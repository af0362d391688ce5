/**
 * Service protection as Dataverse applies it (dp/api-limits.md): per user, a sliding window of
 * requests and a cap on concurrent requests, each answered with 429 + `Retry-After` and its own
 * error code. The execution-time limit (0x80072321) is not emulated.
 */
import { MAX_TIMER_MS, MAX_TIMER_SECONDS } from '../limits';
import type { ServiceProtectionBudget } from '../types';
import { DataverseHttpError, dvErrors } from './errors';

export interface ResolvedBudget {
  maxRequests: number;
  windowInMs: number;
  maxConcurrent: number;
  retryAfterSeconds?: number;
}

interface UserState {
  /** Accepted request times, oldest first, from `head` on. */
  times: number[];
  head: number;
  inFlight: number;
}

export type Admission =
  | { ok: true; remaining: number; release(): void }
  | { ok: false; error: DataverseHttpError };

export class ServiceProtection {
  private readonly users = new Map<string, UserState>();

  constructor(private budget: ResolvedBudget) {}

  /** Changes the budget at run time; fields left out keep their current value. */
  set(budget: ServiceProtectionBudget): void {
    const next: ResolvedBudget = {
      maxRequests: budget.maxRequests ?? this.budget.maxRequests,
      windowInMs: budget.windowInMs ?? this.budget.windowInMs,
      maxConcurrent: budget.maxConcurrent ?? this.budget.maxConcurrent,
    };
    const retry = 'retryAfterSeconds' in budget ? budget.retryAfterSeconds : this.budget.retryAfterSeconds;
    if (retry !== undefined) next.retryAfterSeconds = retry;
    for (const [name, v] of [['maxRequests', next.maxRequests], ['windowInMs', next.windowInMs], ['maxConcurrent', next.maxConcurrent]] as const) {
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
    }
  }

  /** Admits one request for `user` or says why not. Call `release()` when the response is sent. */
  admit(user: string, now: number): Admission {
    let u = this.users.get(user);
    if (!u) {
      u = { times: [], head: 0, inFlight: 0 };
      this.users.set(user, u);
    }
    const { maxRequests, windowInMs, maxConcurrent } = this.budget;
    while (u.head < u.times.length && (u.times[u.head] as number) <= now - windowInMs) u.head++;
    if (u.head > 1024 && u.head * 2 > u.times.length) {
      u.times = u.times.slice(u.head);
      u.head = 0;
    }
    if (u.inFlight >= maxConcurrent) {
      return { ok: false, error: dvErrors.tooManyConcurrent(maxConcurrent, this.budget.retryAfterSeconds ?? 1) };
    }
    const used = u.times.length - u.head;
    if (used >= maxRequests) {
      const oldest = u.times[u.head] as number;
      const wait = Math.max(1, Math.ceil((oldest + windowInMs - now) / 1000));
      return { ok: false, error: dvErrors.tooManyRequests(maxRequests, Math.round(windowInMs / 1000), this.budget.retryAfterSeconds ?? wait) };
    }
    u.times.push(now);
    u.inFlight++;
    const state = u;
    let released = false;
    return {
      ok: true,
      remaining: maxRequests - used - 1,
      release: () => {
        if (released) return;
        released = true;
        state.inFlight--;
      },
    };
  }
}
