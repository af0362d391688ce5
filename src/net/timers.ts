/**
 * The longest wait a timer can express. node's `setTimeout` stores its delay as a signed 32-bit
 * integer: anything above 2^31-1 ms (about 24.8 days) is replaced by 1 ms, with only a warning, so a
 * "practically infinite" timeout fires at once. Every duration the library accepts is held to this
 * bound, and every timer it arms goes through {@link timerDelay}.
 */

/** 2^31-1 ms, about 24.8 days: the largest delay `setTimeout` honours. */
export const MAX_TIMER_DELAY_IN_MS = 2 ** 31 - 1;

/** What an error message says about the bound, so that every refusal reads the same. */
export const MAX_DURATION_TEXT = `at most ${MAX_TIMER_DELAY_IN_MS} ms (about 24.8 days, the longest timer Node.js can arm)`;

/** Whether `value` is a duration the library can wait for: a finite number of milliseconds from `min` to {@link MAX_TIMER_DELAY_IN_MS}. */
export function isDuration(value: unknown, min = 0): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= MAX_TIMER_DELAY_IN_MS;
}

/**
 * A delay `setTimeout` will honour: `ms` clamped to [0, {@link MAX_TIMER_DELAY_IN_MS}] (NaN gives 0).
 * A wait that is clamped ends early, after 24.8 days, instead of at once.
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_DELAY_IN_MS ? MAX_TIMER_DELAY_IN_MS : ms;
}
