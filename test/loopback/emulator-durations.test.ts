/**
 * Every duration the emulator accepts stays below what a timer can hold (2^31 − 1 ms): a longer
 * `setTimeout` fires after 1 ms, so "a very long delay" would silently become none, and a client
 * turning a token lifetime or a Retry-After into a timer would fire at once.
 */
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';

const TOO_LONG_MS = 2 ** 31;
const TOO_LONG_SECONDS = Math.ceil(2 ** 31 / 1000);

describe('emulator durations', () => {
  it.each([
    ['latencyInMs', { latencyInMs: TOO_LONG_MS }],
    ['tokenLifetimeSeconds', { tokenLifetimeSeconds: TOO_LONG_SECONDS }],
    ['refreshInSeconds', { refreshInSeconds: TOO_LONG_SECONDS }],
    ['serviceProtection.windowInMs', { serviceProtection: { windowInMs: TOO_LONG_MS } }],
    ['serviceProtection.retryAfterSeconds', { serviceProtection: { retryAfterSeconds: TOO_LONG_SECONDS } }],
  ])('refuses %s at or above 2^31 ms, naming the option', async (name, options) => {
    await expect(startTestEmulator(options)).rejects.toThrow(new RegExp(`EmulatorOptions\\.${name.replace('.', '\\.')} must be an integer between`));
  });

  it('accepts the longest durations a timer holds', async () => {
    const em = await startTestEmulator({ tokenLifetimeSeconds: 2_147_483, refreshInSeconds: 2_147_483, latencyInMs: 0 });
    await em.close();
  });

  describe('at run time', () => {
    let em: Emulator;
    beforeAll(async () => {
      em = await startTestEmulator();
    });
    afterAll(async () => {
      await em.close();
    });

    it('refuses a fault delay or Retry-After that a timer cannot hold', () => {
      expect(() => em.injectFault({ route: 'api', fault: { delayInMs: TOO_LONG_MS } })).toThrow(/FaultRule\.fault\.delayInMs must be a number of milliseconds between 0 and 2147483647/);
      expect(() => em.injectFault({ route: 'api', fault: { delayInMs: Number.MAX_SAFE_INTEGER } })).toThrow(RangeError);
      expect(() => em.injectFault({ route: 'api', fault: { status: 429, retryAfterSeconds: TOO_LONG_SECONDS } })).toThrow(/retryAfterSeconds must be an integer between 0 and 2147483/);
      expect(() => em.injectFault({ route: 'token', fault: { status: 503, retryAfterSeconds: TOO_LONG_SECONDS } })).toThrow(RangeError);
      // The longest ones are fine (and removed again).
      em.injectFault({ route: 'api', fault: { delayInMs: 2 ** 31 - 1 } })();
      em.injectFault({ route: 'api', fault: { status: 429, retryAfterSeconds: 2_147_483 } })();
    });

    it('refuses a latency or a budget window that a timer cannot hold', () => {
      expect(() => em.setLatency(TOO_LONG_MS)).toThrow(/EmulatorOptions\.latencyInMs/);
      expect(() => em.setServiceProtection({ windowInMs: TOO_LONG_MS })).toThrow(/serviceProtection\.windowInMs/);
      expect(() => em.setServiceProtection({ retryAfterSeconds: TOO_LONG_SECONDS })).toThrow(/serviceProtection\.retryAfterSeconds/);
    });
  });
});
