/** net's timer bound (item 7 of issue 11): every timer the library arms goes through timerDelay. */
import { isDuration, MAX_TIMER_DELAY_IN_MS, timerDelay } from '../../../src/net/timers';

it('timerDelay clamps to [0, 2^31-1]', () => {
  expect(MAX_TIMER_DELAY_IN_MS).toBe(2147483647);
  expect(timerDelay(2 ** 31)).toBe(MAX_TIMER_DELAY_IN_MS);
  expect(timerDelay(Number.MAX_SAFE_INTEGER)).toBe(MAX_TIMER_DELAY_IN_MS);
  expect(timerDelay(Infinity)).toBe(MAX_TIMER_DELAY_IN_MS);
  expect(timerDelay(-5)).toBe(0);
  expect(timerDelay(NaN)).toBe(0);
  expect(timerDelay(1234)).toBe(1234);
});

it('isDuration accepts finite milliseconds up to 2^31-1 only', () => {
  expect(isDuration(0)).toBe(true);
  expect(isDuration(MAX_TIMER_DELAY_IN_MS)).toBe(true);
  expect(isDuration(1.5)).toBe(true);
  for (const bad of [2 ** 31, Number.MAX_SAFE_INTEGER, Infinity, NaN, -1, '5', undefined]) expect(isDuration(bad)).toBe(false);
  expect(isDuration(0, 1)).toBe(false);
});
