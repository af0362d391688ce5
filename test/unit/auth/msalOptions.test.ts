import { ConfigurationError } from '../../../src/errors';
import { silentLogger } from '../../../src/logger';
import { MSAL_PROVIDER_DEFAULTS, resolveOptions, secretsOf, type MsalTokenProviderOptions } from '../../../src/auth/msal/options';

const BASE: MsalTokenProviderOptions = {
  tenantId: 'contoso.onmicrosoft.com',
  clientId: '11111111-2222-4333-8444-555555555555',
  clientSecret: 'a-client-secret-value',
  resource: 'https://contoso.crm.dynamics.com',
};

function issuesOf(options: Partial<MsalTokenProviderOptions>): string[] {
  try {
    resolveOptions({ ...BASE, ...options } as MsalTokenProviderOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return (err as ConfigurationError).issues.map((i) => i.name);
  }
  throw new Error('expected a ConfigurationError');
}

describe('resolveOptions', () => {
  it('merges over the written-down defaults and decides grant and scopes', () => {
    const config = resolveOptions(BASE);
    expect(config).toMatchObject({
      authority: 'https://login.microsoftonline.com/contoso.onmicrosoft.com',
      tenant: 'contoso.onmicrosoft.com',
      knownAuthorities: [],
      grant: 'client_credentials',
      appScopes: ['https://contoso.crm.dynamics.com/.default'],
      userScopes: ['https://contoso.crm.dynamics.com/user_impersonation'],
      timeoutInMs: 30_000,
      retry: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 8_000, maxRetryAfterInMs: 60_000 },
    });
    expect(config.logger).toBe(silentLogger);
    expect(config.retry).toEqual(MSAL_PROVIDER_DEFAULTS.retry);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('merges a partial retry option field by field', () => {
    expect(resolveOptions({ ...BASE, retry: { maxRetries: 0 } }).retry).toEqual({ ...MSAL_PROVIDER_DEFAULTS.retry, maxRetries: 0 });
  });

  it('infers the grant: refresh token, then password, then client credentials', () => {
    expect(resolveOptions({ ...BASE, refreshToken: 'rt', username: 'u', password: 'p' }).grant).toBe('refresh_token');
    expect(resolveOptions({ ...BASE, username: 'u', password: 'p' }).grant).toBe('password');
    expect(resolveOptions({ ...BASE, clientSecret: undefined, username: 'u', password: 'p' }).grant).toBe('password');
    expect(resolveOptions({ ...BASE, clientSecret: undefined }).grant).toBeUndefined();
  });

  it.each([
    [{ timeoutInMs: 0 }, 'timeoutInMs'],
    [{ timeoutInMs: 1.5 }, 'timeoutInMs'],
    [{ retry: { maxRetries: -1 } }, 'retry.maxRetries'],
    [{ retry: { maxRetries: 101 } }, 'retry.maxRetries'],
    [{ retry: { retryDelayInMs: Number.NaN } }, 'retry.retryDelayInMs'],
    [{ retry: 'often' as never }, 'retry'],
    [{ clientId: 'not-a-guid' }, 'clientId'],
    [{ proxy: 'socks5://127.0.0.1:1080' }, 'proxy'],
  ])('names the bad option %j', (options, name) => {
    expect(issuesOf(options)).toEqual([name]);
  });

  it('lists every bad option at once, and never a value', () => {
    const secret = 'a-client-secret-value';
    let error: ConfigurationError | undefined;
    try {
      resolveOptions({ ...BASE, clientId: 'x', timeoutInMs: -5, resource: 'http://plain', username: 'u' });
    } catch (err) {
      error = err as ConfigurationError;
    }
    expect(error?.issues.map((i) => i.name)).toEqual(['clientId', 'password', 'resource', 'timeoutInMs']);
    expect(error?.message).not.toContain(secret);
  });
});

describe('secretsOf', () => {
  it("lists every credential, including a proxy URL's password as given and decoded", () => {
    const key = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----';
    const config = resolveOptions({
      ...BASE,
      clientSecret: undefined,
      clientCertificate: { thumbprintSha256: 'a'.repeat(64), privateKey: key },
      username: 'u',
      password: 'user-password',
      refreshToken: 'refresh-token',
      proxy: 'http://me:p%40ss-word@127.0.0.1:3128',
    });
    expect(secretsOf(config).sort()).toEqual([key, 'p%40ss-word', 'p@ss-word', 'refresh-token', 'user-password'].sort());
  });
});
