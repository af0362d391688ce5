import type { DynamicsServiceOptions } from '../compat';

/** Options that carry a credential. */
const SECRET_OPTIONS = ['clientSecret', 'password'] as const;

/**
 * A copy of `options` whose credentials are non-enumerable getters over a closure: the module's
 * options provider lives in Nest's container for the application's lifetime, where a debug dump
 * (`util.inspect`, even with hidden properties), `JSON.stringify`, `Object.entries` or a spread
 * would otherwise print the client secret and the password. Reading `options.clientSecret`
 * still works, which is all `DynamicsService` does.
 */
export function concealSecrets(options: DynamicsServiceOptions): DynamicsServiceOptions {
  if (options === null || typeof options !== 'object') return options;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(options)) {
    if ((SECRET_OPTIONS as readonly string[]).includes(key)) continue;
    copy[key] = (options as Record<string, unknown>)[key];
  }
  for (const key of SECRET_OPTIONS) {
    const value = options[key];
    if (value === undefined) continue;
    Object.defineProperty(copy, key, { enumerable: false, configurable: false, get: () => value });
  }
  return copy as DynamicsServiceOptions;
}
