/**
 * Durations in the authentication options must fit a Node timer (issue 11, item 7): 2^31 ms or more
 * (or Number.MAX_SAFE_INTEGER meant as "no timeout") overflows setTimeout to 1 ms, so it is refused
 * where it is given, with a ConfigurationError naming the option.
 */
import { ConfigurationError } from '../../../src/errors';
import { fileTokenCache, fromTokenCredential, MsalTokenProvider, redisTokenCache, type MsalTokenProviderOptions } from '../../../src/auth';
import { resolveOptions } from '../../../src/auth/msal/options';

const BASE: MsalTokenProviderOptions = {
  tenantId: 'contoso.onmicrosoft.com',
  clientId: '11111111-2222-4333-8444-555555555555',
  clientSecret: 'a-client-secret-value',
  resource: 'https://contoso.crm.dynamics.com',
};
const MAX = 2 ** 31 - 1;
const TOO_LONG = [2 ** 31, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY];

function configurationIssues(f: () => unknown): Array<{ name: string; expected: string }> {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return (err as ConfigurationError).issues;
  }
  throw new Error('expected a ConfigurationError');
}

describe('MsalTokenProvider', () => {
  it.each([
    ['timeoutInMs', (v: number) => ({ timeoutInMs: v })],
    ['acquisitionTimeoutInMs', (v: number) => ({ acquisitionTimeoutInMs: v })],
    ['retry.retryDelayInMs', (v: number) => ({ retry: { retryDelayInMs: v } })],
    ['retry.maxRetryDelayInMs', (v: number) => ({ retry: { maxRetryDelayInMs: v } })],
    ['retry.maxRetryAfterInMs', (v: number) => ({ retry: { maxRetryAfterInMs: v } })],
  ] as const)('refuses %s of 2^31 ms or more, naming it and the maximum', (name, option) => {
    for (const value of TOO_LONG) {
      expect(configurationIssues(() => new MsalTokenProvider({ ...BASE, ...option(value) }))).toEqual([
        { name, expected: expect.stringMatching(/^a whole number of milliseconds from [01] to 2147483647 \(about 24\.8 days\)$/) },
      ]);
    }
    // The largest value a timer holds is accepted.
    expect(() => resolveOptions({ ...BASE, ...option(MAX) })).not.toThrow();
  });

  it('takes acquisitionTimeoutInMs, default 120000', () => {
    expect(resolveOptions(BASE).acquisitionTimeoutInMs).toBe(120_000);
    expect(resolveOptions({ ...BASE, acquisitionTimeoutInMs: 5000 }).acquisitionTimeoutInMs).toBe(5000);
    expect(configurationIssues(() => resolveOptions({ ...BASE, acquisitionTimeoutInMs: 0 })).map((i) => i.name)).toEqual(['acquisitionTimeoutInMs']);
  });
});

describe('fromTokenCredential', () => {
  const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  it.each(['refreshBeforeExpiryInMs', 'acquisitionTimeoutInMs'] as const)('refuses %s of 2^31 ms or more, or not a whole number', (name) => {
    for (const value of [...TOO_LONG, -1, 1.5, Number.NaN]) {
      expect(configurationIssues(() => fromTokenCredential(credential, { scopes: ['s/.default'], [name]: value })).map((i) => i.name)).toEqual([name]);
    }
    expect(() => fromTokenCredential(credential, { scopes: ['s/.default'], [name]: MAX })).not.toThrow();
  });
});

describe('token caches', () => {
  it.each(['staleLockInMs', 'lockTimeoutInMs'] as const)('fileTokenCache refuses %s of 2^31 ms or more', (name) => {
    for (const value of [...TOO_LONG, -1, 0.5]) {
      expect(configurationIssues(() => fileTokenCache('/tmp/never-written.json', { [name]: value })).map((i) => i.name)).toEqual([name]);
    }
    expect(() => fileTokenCache('/tmp/never-written.json', { [name]: MAX })).not.toThrow();
  });

  it('redisTokenCache refuses a ttlInSeconds that is not a whole number of seconds', () => {
    const redis = { get: async () => null, set: async () => 'OK' };
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(configurationIssues(() => redisTokenCache(redis, { ttlInSeconds: value })).map((i) => i.name)).toEqual(['ttlInSeconds']);
    }
    expect(() => redisTokenCache(redis, { ttlInSeconds: 3600 })).not.toThrow();
  });
});
