import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError } from '../../../src/errors';
import { loadAuthConfig, createTokenCache } from '../../../src/auth';

const CLIENT_ID = '51f81489-12ee-4a9e-aaae-a2591f45987d';
const TENANT = '5f3c6a1e-8b2d-4c7e-9a10-3e4f5a6b7c8d';

function issues(env: Record<string, string>): ConfigurationError {
  try {
    loadAuthConfig(env);
  } catch (e) {
    return e as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('loadAuthConfig', () => {
  it('reads the @edirect/dynamics scheme (password grant)', () => {
    const cfg = loadAuthConfig({
      DYNAMICS_TOKEN_URL: `https://login.windows.net/${TENANT}/oauth2/token`,
      DYNAMICS_CLIENT_ID: CLIENT_ID,
      DYNAMICS_CLIENT_SECRET: 's3cret',
      DYNAMICS_USER_NAME: 'user@contoso.com',
      DYNAMICS_PASSWORD: 'p@ss',
      DYNAMICS_RESOURCE: 'https://contoso.crm.dynamics.com',
    });
    expect(cfg).toEqual({
      tokenUrl: `https://login.windows.net/${TENANT}/oauth2/token`,
      clientId: CLIENT_ID,
      clientSecret: 's3cret',
      username: 'user@contoso.com',
      password: 'p@ss',
      grant: 'password',
      resource: 'https://contoso.crm.dynamics.com',
    });
  });

  it('reads the Azure scheme (client credentials), with CA file and cache file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-cfg-'));
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const cfg = loadAuthConfig({
      AZURE_TENANT_ID: 'contoso.onmicrosoft.com',
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_CLIENT_SECRET: 's3cret',
      DYNAMICS_URL: 'https://contoso.crm4.dynamics.com',
      DYNAMICS_CA_FILE: ca,
      DYNAMICS_TOKEN_CACHE_FILE: path.join(dir, 'cache.json'),
    });
    expect(cfg).toMatchObject({ tenantId: 'contoso.onmicrosoft.com', grant: 'client_credentials', resource: 'https://contoso.crm4.dynamics.com', caFile: ca });
    expect(cfg.ca).toContain('BEGIN CERTIFICATE');
    expect(createTokenCache(cfg).cache).toBeDefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists every problem with the variable name, never a value', () => {
    const err = issues({
      DYNAMICS_TOKEN_URL: 'http://login.windows.net/x/oauth2/token',
      DYNAMICS_CLIENT_ID: 'not-a-guid',
      DYNAMICS_PASSWORD: 'hunter2-password',
      DYNAMICS_RESOURCE: 'contoso.crm.dynamics.com',
      DYNAMICS_CA_FILE: '/nonexistent/ca.pem',
      DYNAMICS_REDIS_URL: 'http://cache:6379',
    });
    expect(err).toBeInstanceOf(ConfigurationError);
    const names = err.issues.map((i) => i.name);
    expect(names).toEqual(
      expect.arrayContaining(['DYNAMICS_TOKEN_URL', 'DYNAMICS_CLIENT_ID', 'DYNAMICS_USER_NAME or AZURE_USERNAME', 'DYNAMICS_RESOURCE', 'DYNAMICS_CA_FILE', 'DYNAMICS_REDIS_URL']),
    );
    expect(err.message).not.toContain('hunter2-password');
    expect(err.message).not.toContain('not-a-guid');
  });

  it('requires a secret for client credentials and a specific tenant', () => {
    const err = issues({ AZURE_TENANT_ID: 'common', AZURE_CLIENT_ID: CLIENT_ID, DYNAMICS_URL: 'https://x.crm.dynamics.com' });
    const names = err.issues.map((i) => i.name);
    expect(names).toContain('DYNAMICS_CLIENT_SECRET or AZURE_CLIENT_SECRET');
    expect(names).toContain('AZURE_TENANT_ID');
  });

  it('names the missing variables of an empty environment', () => {
    const names = issues({}).issues.map((i) => i.name);
    expect(names).toEqual(
      expect.arrayContaining(['DYNAMICS_TOKEN_URL or AZURE_TENANT_ID', 'DYNAMICS_CLIENT_ID or AZURE_CLIENT_ID', 'DYNAMICS_RESOURCE or DYNAMICS_URL']),
    );
  });

  it('refuses a file cache and Redis at once', () => {
    const err = issues({
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_CLIENT_SECRET: 'x',
      DYNAMICS_URL: 'https://x.crm.dynamics.com',
      DYNAMICS_TOKEN_CACHE_FILE: '/tmp/c.json',
      DYNAMICS_REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(err.issues.map((i) => i.name)).toEqual(['DYNAMICS_TOKEN_CACHE_FILE + DYNAMICS_REDIS_URL']);
  });
});
