/**
 * Durations accepted by the authentication options. Node's timers take at most 2^31 - 1 ms (about
 * 24.8 days); a longer delay overflows to 1 ms with a TimeoutOverflowWarning, so `timeoutInMs:
 * Number.MAX_SAFE_INTEGER` meant as "no timeout" made every token request time out at once.
 * Such values are refused where they are given, naming the option.
 */
import { ConfigurationError, DynamicsError, ErrorCode, type ConfigurationIssue } from '../errors';
import { isDuration as isTimerDuration, MAX_TIMER_DELAY_IN_MS } from '../net/timers';

export { MAX_TIMER_DELAY_IN_MS };

/** What a duration option must be, for the issue's `expected`. */
export function durationExpected(min: number): string {
  return `a whole number of milliseconds from ${min} to ${MAX_TIMER_DELAY_IN_MS} (about 24.8 days)`;
}

/** Whether `value` is a whole number of milliseconds from `min` to {@link MAX_TIMER_DELAY_IN_MS}. */
export function isDuration(value: unknown, min: number): value is number {
  return Number.isInteger(value) && isTimerDuration(value, min);
}

/** Adds an issue naming `name` when `value` is given and is not a duration of at least `min` ms. */
export function checkDuration(value: unknown, name: string, min: number, issues: ConfigurationIssue[]): void {
  if (value !== undefined && !isDuration(value, min)) issues.push({ name, expected: durationExpected(min) });
}

/**
 * @throws ConfigurationError naming `name` when `value` is given and is not a duration of at least `min` ms.
 */
export function requireDuration(value: unknown, name: string, min: number, context: string): void {
  const issues: ConfigurationIssue[] = [];
  checkDuration(value, name, min, issues);
  if (issues.length) throw new ConfigurationError(issues, context);
}

/**
 * A per-call duration (`getToken({ timeoutInMs })`).
 * @throws DynamicsError `invalid_argument` naming `name` when `value` is given and is not 1 to 2^31 - 1 ms.
 */
export function requireCallDuration(value: unknown, name: string): void {
  if (value === undefined || isDuration(value, 1)) return;
  throw new DynamicsError(`${name}: expected ${durationExpected(1)}`, { code: ErrorCode.invalidArgument });
}
