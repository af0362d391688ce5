import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigurationError } from '../../../src/errors';
import { renameIssues, resolveEnabled, resolveServiceConfig } from '../../../src/compat/config';

const SECRET = 'sup3r-s3cret-value';
const PASSWORD = 'pa55word-value';
const full = {
  DYNAMICS_TOKEN_URL: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token',
  DYNAMICS_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
  DYNAMICS_CLIENT_SECRET: SECRET,
  DYNAMICS_USER_NAME: 'svc@contoso.com',
  DYNAMICS_PASSWORD: PASSWORD,
  DYNAMICS_RESOURCE: 'https://contoso.crm4.dynamics.com',
};

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return err as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('resolveEnabled', () => {
  it('enables only for exactly "true", as the published flag', () => {
    expect(resolveEnabled({}, { DYNAMICS_ENABLED: 'true' }).enabled).toBe(true);
    for (const value of ['false', '0', '1', 'yes', '', 'TRUE', 'True', ' true']) {
      expect(resolveEnabled({}, { DYNAMICS_ENABLED: value }).enabled).toBe(false);
    }
    expect(resolveEnabled({}, {}).enabled).toBe(false);
  });

  it('warns about a near miss and an unset flag, not about a deliberate false', () => {
    expect(resolveEnabled({}, { DYNAMICS_ENABLED: 'TRUE' }).warning).toMatch(/only the exact value "true"/);
    expect(resolveEnabled({}, {}).warning).toMatch(/DYNAMICS_ENABLED is not set/);
    expect(resolveEnabled({}, { DYNAMICS_ENABLED: 'false' }).warning).toBeUndefined();
  });

  it('lets the option override the variable both ways', () => {
    expect(resolveEnabled({ enabled: true }, { DYNAMICS_ENABLED: 'false' }).enabled).toBe(true);
    expect(resolveEnabled({ enabled: false }, { DYNAMICS_ENABLED: 'true' }).enabled).toBe(false);
  });
});

describe('resolveServiceConfig', () => {
  it('reads every variable, options winning over the environment', () => {
    const config = resolveServiceConfig({ resource: 'https://other.crm.dynamics.com' }, full);
    expect(config).toMatchObject({
      tokenUrl: full.DYNAMICS_TOKEN_URL,
      clientId: full.DYNAMICS_CLIENT_ID,
      clientSecret: SECRET,
      username: 'svc@contoso.com',
      password: PASSWORD,
      resource: 'https://other.crm.dynamics.com',
      grants: ['password', 'client_credentials'],
    });
    expect(config.names.resource).toBe('resource');
    expect(config.names.tokenUrl).toBe('DYNAMICS_TOKEN_URL');
  });

  it('names every missing variable in one error, and never a secret', () => {
    const err = configError(() => resolveServiceConfig({}, { DYNAMICS_CLIENT_SECRET: SECRET }));
    expect(err.issues.map((i) => i.name)).toEqual(['DYNAMICS_TOKEN_URL', 'DYNAMICS_CLIENT_ID', 'DYNAMICS_RESOURCE']);
    expect(err.message).toContain('DYNAMICS_TOKEN_URL');
    expect(err.message).not.toContain(SECRET);
  });

  it('names the option instead of the variable when the value was given in code', () => {
    const err = configError(() => resolveServiceConfig({ username: 'svc@contoso.com' }, { ...full, DYNAMICS_USER_NAME: undefined, DYNAMICS_PASSWORD: undefined }));
    expect(err.issues).toEqual([{ name: 'DYNAMICS_PASSWORD', expected: expect.stringContaining('password of username') }]);
  });

  it('accepts a client-credentials-only or a password-only configuration', () => {
    const appOnly = resolveServiceConfig({}, { ...full, DYNAMICS_USER_NAME: undefined, DYNAMICS_PASSWORD: undefined });
    expect(appOnly.grants).toEqual(['client_credentials']);
    const userOnly = resolveServiceConfig({}, { ...full, DYNAMICS_CLIENT_SECRET: '' });
    expect(userOnly.grants).toEqual(['password']);
  });

  it('demands credentials for at least one grant', () => {
    const err = configError(() => resolveServiceConfig({}, { ...full, DYNAMICS_CLIENT_SECRET: undefined, DYNAMICS_USER_NAME: undefined, DYNAMICS_PASSWORD: undefined }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0].name).toBe('DYNAMICS_USER_NAME + DYNAMICS_PASSWORD | DYNAMICS_CLIENT_SECRET');
  });

  it('reads DYNAMICS_CA_FILE, and names it when it cannot', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'compat-config-'));
    try {
      const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      writeFileSync(path.join(dir, 'ca.pem'), pem);
      writeFileSync(path.join(dir, 'bad.pem'), 'not a certificate');
      expect(resolveServiceConfig({}, { ...full, DYNAMICS_CA_FILE: path.join(dir, 'ca.pem') }).ca).toBe(pem);
      const missing = configError(() => resolveServiceConfig({}, { ...full, DYNAMICS_CA_FILE: path.join(dir, 'nope.pem') }));
      expect(missing.issues[0]).toEqual({ name: 'DYNAMICS_CA_FILE', expected: expect.stringContaining('ENOENT') });
      const bad = configError(() => resolveServiceConfig({}, { ...full, DYNAMICS_CA_FILE: path.join(dir, 'bad.pem') }));
      expect(bad.issues[0].expected).toContain('no BEGIN CERTIFICATE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses two persistent caches and a non-Redis URL', () => {
    const both = configError(() => resolveServiceConfig({}, { ...full, DYNAMICS_TOKEN_CACHE_FILE: '/tmp/x.json', DYNAMICS_REDIS_URL: 'redis://127.0.0.1:6379' }));
    expect(both.issues[0].name).toBe('DYNAMICS_TOKEN_CACHE_FILE + DYNAMICS_REDIS_URL');
    const url = configError(() => resolveServiceConfig({}, { ...full, DYNAMICS_REDIS_URL: 'http://127.0.0.1:6379' }));
    expect(url.issues[0].name).toBe('DYNAMICS_REDIS_URL');
  });

  it('checks timeoutInMs and maxRetries', () => {
    const err = configError(() => resolveServiceConfig({ timeoutInMs: 0, maxRetries: -1 }, full));
    expect(err.issues.map((i) => i.name)).toEqual(['timeoutInMs', 'maxRetries']);
  });
});

describe('renameIssues', () => {
  it("maps the auth provider's option names to the names the user set", () => {
    const config = resolveServiceConfig({ clientId: 'not-a-guid' }, full);
    const renamed = renameIssues(
      [
        { name: 'clientId', expected: 'a GUID' },
        { name: 'tokenUrl', expected: 'https' },
        { name: 'username + password', expected: 'both' },
        { name: 'ca', expected: 'PEM' },
        { name: 'clientSecret | clientCertificate', expected: 'one' },
      ],
      config,
    );
    expect(renamed.map((i) => i.name)).toEqual([
      'clientId',
      'DYNAMICS_TOKEN_URL',
      'DYNAMICS_USER_NAME + DYNAMICS_PASSWORD',
      'DYNAMICS_CA_FILE',
      'DYNAMICS_CLIENT_SECRET | clientCertificate',
    ]);
  });
});
