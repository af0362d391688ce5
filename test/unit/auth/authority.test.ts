import type { ConfigurationIssue } from '../../../src/errors';
import { resolveAuthority } from '../../../src/auth/authority';
import { createRedactor } from '../../../src/net/redact';
import { parseRetryAfter } from '../../../src/net/retryAfter';

describe('resolveAuthority', () => {
  const ok = (input: Parameters<typeof resolveAuthority>[0]) => {
    const issues: ConfigurationIssue[] = [];
    const r = resolveAuthority(input, issues);
    expect(issues).toEqual([]);
    return r!;
  };

  it('maps a v1 token URL to origin + tenant; Microsoft hosts need no knownAuthorities', () => {
    expect(ok({ tokenUrl: 'https://login.windows.net/contoso.onmicrosoft.com/oauth2/token' })).toEqual({
      authority: 'https://login.windows.net/contoso.onmicrosoft.com',
      tenant: 'contoso.onmicrosoft.com',
      knownAuthorities: [],
    });
  });

  it('maps a v2 token URL on another host and trusts host:port', () => {
    expect(ok({ tokenUrl: 'https://127.0.0.1:8443/t1/oauth2/v2.0/token' })).toEqual({ authority: 'https://127.0.0.1:8443/t1', tenant: 't1', knownAuthorities: ['127.0.0.1:8443'] });
  });

  it('builds from tenantId and authorityHost (default login.microsoftonline.com)', () => {
    expect(ok({ tenantId: 'abc.onmicrosoft.com' }).authority).toBe('https://login.microsoftonline.com/abc.onmicrosoft.com');
    expect(ok({ tenantId: 't', authorityHost: 'https://login.microsoftonline.us' }).authority).toBe('https://login.microsoftonline.us/t');
  });

  it.each([
    [{ tokenUrl: 'http://login.windows.net/t/oauth2/token' }, 'tokenUrl'],
    [{ tokenUrl: 'https://login.windows.net/t/other' }, 'tokenUrl'],
    [{ authority: 'https://login.microsoftonline.com' }, 'authority'],
    [{ authority: 'https://a/t', tenantId: 't' }, 'authority + tenantId'],
    [{}, 'tokenUrl | authority | tenantId'],
  ])('rejects %j naming %s', (input, name) => {
    const issues: ConfigurationIssue[] = [];
    expect(resolveAuthority(input, issues)).toBeUndefined();
    expect(issues.map((i) => i.name)).toEqual([name]);
  });
});

describe('createRedactor (the redactor of auth errors and MSAL log lines)', () => {
  it('removes configured secrets and JWTs', () => {
    const redact = createRedactor(['s3cret-value', undefined, 'abc']);
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    expect(redact(`secret=s3cret-value token=${jwt} short=abc`)).toBe('secret=[redacted] token=[redacted] short=abc');
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    expect(parseRetryAfter(inTen)).toBeGreaterThan(8000);
  });
});
