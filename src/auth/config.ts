import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigurationError, type ConfigurationIssue } from '../errors';
import type { Logger } from '../logger';
import { GUID_PATTERN } from '../net/guid';
import { connectRedis } from '../net/redis';
import { MULTI_TENANT_ALIASES } from './authority';
import { fileTokenCache } from './cache/fileTokenCache';
import { redisTokenCache } from './cache/redisTokenCache';
import type { PartitionedTokenCache, TokenCachePlugin } from './cache/types';
import type { MsalTokenProviderOptions } from './MsalTokenProvider';

/**
 * What {@link loadAuthConfig} read: options for {@link MsalTokenProvider} plus where the token
 * cache lives (pass the whole object to {@link createTokenCache}).
 */
export interface AuthConfig extends MsalTokenProviderOptions {
  /** `DYNAMICS_TOKEN_CACHE_FILE`. */
  tokenCacheFile?: string;
  /** `DYNAMICS_REDIS_URL`. */
  redisUrl?: string;
  /** `DYNAMICS_CA_FILE` (its PEM text is in `ca`). */
  caFile?: string;
}

const guid = z.string().regex(GUID_PATTERN);
const httpsUrl = z.url({ protocol: /^https$/ });
const tenant = z.union([guid, z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/)]);
const tokenUrl = httpsUrl.refine((v) => /^\/[^/]+\/oauth2\/(v2\.0\/)?token\/?$/i.test(new URL(v).pathname));
const redisUrl = z.url({ protocol: /^rediss?$/ });

/**
 * Reads authentication settings from environment variables, in either naming scheme:
 *
 * | what | `@edirect/dynamics` | Azure |
 * |---|---|---|
 * | where | `DYNAMICS_TOKEN_URL` (v1 or v2 token URL) | `AZURE_TENANT_ID` (+ `AZURE_AUTHORITY_HOST`) |
 * | client | `DYNAMICS_CLIENT_ID`, `DYNAMICS_CLIENT_SECRET` | `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` |
 * | user (password grant) | `DYNAMICS_USER_NAME`, `DYNAMICS_PASSWORD` | `AZURE_USERNAME`, `AZURE_PASSWORD` |
 * | environment | `DYNAMICS_RESOURCE` | `DYNAMICS_URL` |
 *
 * plus `DYNAMICS_CA_FILE` (PEM of a CA to trust), `DYNAMICS_TOKEN_CACHE_FILE` and
 * `DYNAMICS_REDIS_URL`. Where both schemes set a value the `DYNAMICS_*` one wins. With a user
 * name and password the grant is `password`, otherwise `client_credentials`.
 *
 * @throws ConfigurationError listing every missing or malformed variable by name and what was
 * expected; never a value.
 */
export function loadAuthConfig(env: Record<string, string | undefined> = process.env): AuthConfig {
  const issues: ConfigurationIssue[] = [];
  const read = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const pick = (...names: string[]): { name: string; value?: string } => {
    for (const name of names) {
      const value = read(name);
      if (value !== undefined) return { name, value };
    }
    return { name: names.join(' or ') };
  };
  const check = (entry: { name: string; value?: string }, schema: z.ZodType, expected: string): string | undefined => {
    if (entry.value === undefined) return undefined;
    if (!schema.safeParse(entry.value).success) {
      issues.push({ name: entry.name, expected });
      return undefined;
    }
    return entry.value;
  };

  const where = pick('DYNAMICS_TOKEN_URL', 'AZURE_TENANT_ID');
  const clientId = pick('DYNAMICS_CLIENT_ID', 'AZURE_CLIENT_ID');
  const secret = pick('DYNAMICS_CLIENT_SECRET', 'AZURE_CLIENT_SECRET');
  const username = pick('DYNAMICS_USER_NAME', 'AZURE_USERNAME');
  const password = pick('DYNAMICS_PASSWORD', 'AZURE_PASSWORD');
  const resource = pick('DYNAMICS_RESOURCE', 'DYNAMICS_URL');
  const authorityHost = pick('AZURE_AUTHORITY_HOST');
  const caFile = read('DYNAMICS_CA_FILE');
  const cacheFile = read('DYNAMICS_TOKEN_CACHE_FILE');
  const redis = pick('DYNAMICS_REDIS_URL');

  const out: AuthConfig = { clientId: '' };
  if (where.value === undefined) {
    issues.push({ name: 'DYNAMICS_TOKEN_URL or AZURE_TENANT_ID', expected: 'the token URL (https://login.microsoftonline.com/<tenant>/oauth2/token) or the tenant id' });
  } else if (where.name === 'DYNAMICS_TOKEN_URL') {
    out.tokenUrl = check(where, tokenUrl, 'an https token URL, https://<host>/<tenant>/oauth2/token or …/oauth2/v2.0/token');
  } else {
    out.tenantId = check(where, tenant, 'a tenant GUID or domain name (contoso.onmicrosoft.com)');
    out.authorityHost = check(authorityHost, httpsUrl, 'an https URL, e.g. https://login.microsoftonline.us');
  }

  if (clientId.value === undefined) issues.push({ name: clientId.name, expected: 'the application (client) id, a GUID' });
  else out.clientId = check(clientId, guid, 'the application (client) id, a GUID') ?? '';

  if (resource.value === undefined) issues.push({ name: resource.name, expected: 'the environment URL, https://<org>.crm.dynamics.com' });
  else out.resource = check(resource, httpsUrl, 'the environment URL, an https URL such as https://<org>.crm.dynamics.com');

  if ((username.value === undefined) !== (password.value === undefined)) {
    issues.push(username.value === undefined ? { name: username.name, expected: 'a user name, since a password is set' } : { name: password.name, expected: 'a password, since a user name is set' });
  }
  if (username.value && password.value) {
    out.username = username.value;
    out.password = password.value;
    out.grant = 'password';
  } else {
    out.grant = 'client_credentials';
    if (secret.value === undefined) issues.push({ name: secret.name, expected: 'the client secret (client_credentials grant), or a user name and password' });
    if (out.tokenUrl || out.tenantId) {
      const t = (out.tenantId ?? new URL(out.tokenUrl as string).pathname.split('/')[1]).toLowerCase();
      if (MULTI_TENANT_ALIASES.has(t)) issues.push({ name: where.name, expected: `a specific tenant, not '${t}', for the client_credentials grant` });
    }
  }
  if (secret.value !== undefined) out.clientSecret = secret.value;

  if (caFile) {
    out.caFile = caFile;
    try {
      const pem = readFileSync(caFile, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) issues.push({ name: 'DYNAMICS_CA_FILE', expected: 'a PEM file with at least one CERTIFICATE block' });
      else out.ca = pem;
    } catch {
      issues.push({ name: 'DYNAMICS_CA_FILE', expected: 'a readable PEM file' });
    }
  }
  if (cacheFile) out.tokenCacheFile = cacheFile;
  out.redisUrl = check(redis, redisUrl, 'a redis:// or rediss:// URL');
  if (cacheFile && out.redisUrl) issues.push({ name: 'DYNAMICS_TOKEN_CACHE_FILE + DYNAMICS_REDIS_URL', expected: 'at most one token cache' });

  if (issues.length) throw new ConfigurationError(issues, 'Invalid authentication environment variables');
  for (const k of Object.keys(out) as Array<keyof AuthConfig>) if (out[k] === undefined) delete out[k];
  return out;
}

/** A token cache built from an {@link AuthConfig}, and how to release it. */
export interface ConfiguredTokenCache {
  cache?: TokenCachePlugin | PartitionedTokenCache;
  /** Closes the Redis connection, if one was opened. */
  close(): Promise<void>;
}

/**
 * Builds the cache {@link loadAuthConfig} describes: a {@link fileTokenCache} for
 * `DYNAMICS_TOKEN_CACHE_FILE`, a {@link redisTokenCache} on a new `ioredis` connection for
 * `DYNAMICS_REDIS_URL` (ioredis is loaded only then, and must be installed), or none.
 */
export function createTokenCache(config: Pick<AuthConfig, 'tokenCacheFile' | 'redisUrl'>, options: { logger?: Logger } = {}): ConfiguredTokenCache {
  if (config.tokenCacheFile) return { cache: fileTokenCache(config.tokenCacheFile, { logger: options.logger }), close: async () => undefined };
  if (config.redisUrl) {
    const client = connectRedis(config.redisUrl, 'DYNAMICS_REDIS_URL', { lazyConnect: false, maxRetriesPerRequest: 3 });
    return { cache: redisTokenCache(client, { logger: options.logger }), close: async () => void (await client.quit()) };
  }
  return { close: async () => undefined };
}
