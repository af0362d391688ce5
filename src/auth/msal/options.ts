/**
 * The options of {@link MsalTokenProvider}: their type, their validation, and the one internal
 * configuration they become, merged over {@link MSAL_PROVIDER_DEFAULTS}.
 */
import { ConfigurationError, type ConfigurationIssue } from '../../errors';
import { silentLogger, type Logger } from '../../logger';
import { isGuid } from '../../net/guid';
import { DEFAULT_AUTHORITY_HOST, MULTI_TENANT_ALIASES, resolveAuthority } from '../authority';
import type { PartitionedTokenCache, TokenCachePlugin } from '../cache/types';
import { checkDuration, durationExpected, isDuration } from '../durations';
import { DEFAULT_ACQUISITION_TIMEOUT_IN_MS, DEFAULT_TOKEN_RETRY, DEFAULT_TOKEN_TIMEOUT_IN_MS, type TokenRetryOptions } from '../retryOptions';
import type { GrantType } from '../types';

/**
 * Options of {@link MsalTokenProvider}. Give exactly one of `tokenUrl`, `authority`, `tenantId`.
 *
 * @example
 * ```ts
 * new MsalTokenProvider({
 *   tenantId: '…', clientId: '…', clientSecret: process.env.AZURE_CLIENT_SECRET,
 *   resource: 'https://contoso.crm.dynamics.com',
 * });
 * ```
 */
export interface MsalTokenProviderOptions {
  /** v1 `https://login.windows.net/<tenant>/oauth2/token` or v2 `…/oauth2/v2.0/token` (`DYNAMICS_TOKEN_URL`). The authority is its origin plus first path segment. */
  tokenUrl?: string;
  /** `https://login.microsoftonline.com/<tenant>` or any other https authority (sovereign cloud, emulator). */
  authority?: string;
  /** Tenant GUID or domain; the authority is `<authorityHost>/<tenantId>`. */
  tenantId?: string;
  /** With `tenantId`. Default: `https://login.microsoftonline.com`. */
  authorityHost?: string;
  /** Application (client) id, a GUID. */
  clientId: string;
  /** Client secret (confidential client). */
  clientSecret?: string;
  /** Certificate credential (confidential client): SHA-256 thumbprint (hex) and PEM private key; `x5c` (PEM chain) enables subject-name/issuer auth. */
  clientCertificate?: { thumbprintSha256: string; privateKey: string; x5c?: string };
  /** For the password grant (ROPC; deprecated by Microsoft, kept for `@edirect/dynamics` compatibility). */
  username?: string;
  password?: string;
  /** A refresh token to start from (migration from ADAL or another client). */
  refreshToken?: string;
  /** The environment URL, e.g. `https://contoso.crm.dynamics.com`: scopes are derived from it. */
  resource?: string;
  /**
   * Scopes to request. Default: `<resource>/.default` for client credentials and
   * `<resource>/user_impersonation` for user grants (MSAL adds `openid profile offline_access`).
   * The suffix is appended to `resource` verbatim (a trailing slash gives `//.default`, which
   * is what Entra expects for a v1 resource with a trailing slash).
   */
  scopes?: string[];
  /**
   * Default: `refresh_token` when `refreshToken` is set, else `password` when `username` and
   * `password` are, else `client_credentials` when there is a client credential. With none of
   * these, {@link MsalTokenProvider.getToken} serves the user signed in with
   * {@link MsalTokenProvider.acquireTokenByCode} or {@link MsalTokenProvider.acquireTokenByDeviceCode}.
   */
  grant?: GrantType;
  /** Where tokens persist: an MSAL cache plugin, {@link fileTokenCache}, or {@link redisTokenCache}. Default: memory only. */
  cache?: TokenCachePlugin | PartitionedTokenCache;
  /** PEM of extra CA certificates to trust for the authority (a private CA or the emulator). */
  ca?: string;
  /** `http://host:port` of an HTTP proxy (CONNECT) for token requests; `http://user:password@host:port` for one that wants credentials. Default: `HTTPS_PROXY`/`NO_PROXY` from the environment. */
  proxy?: string;
  /** Default: silent. MSAL's own log lines arrive at `debug`/`warn`/`error`, with PII logging off. */
  logger?: Logger;
  /** Retries of token requests on 429/5xx/network errors. Default: 3 retries, honouring `Retry-After` up to 60 s. */
  retry?: TokenRetryOptions;
  /**
   * Deadline of one request to the authority (token endpoint, discovery), the whole response
   * included: a server trickling bytes cannot hold it open. At most 2147483647 (about 24.8 days).
   * Default: 30000.
   */
  timeoutInMs?: number;
  /**
   * Deadline of one token acquisition as a whole (discovery, token request, retries and their
   * waits), which every concurrent caller shares: past it the acquisition fails with a
   * `TimeoutError` (code `timeout`) for all of them, its requests are abandoned, and the next call
   * starts afresh. A caller that wants to wait less passes `getToken({ timeoutInMs })` or an
   * `abortSignal`, which ends that caller's wait only. At most 2147483647. Default: 120000.
   */
  acquisitionTimeoutInMs?: number;
}

/** The written-down defaults of {@link MsalTokenProviderOptions}. */
export const MSAL_PROVIDER_DEFAULTS = Object.freeze({
  authorityHost: DEFAULT_AUTHORITY_HOST,
  logger: silentLogger,
  retry: DEFAULT_TOKEN_RETRY,
  timeoutInMs: DEFAULT_TOKEN_TIMEOUT_IN_MS,
  acquisitionTimeoutInMs: DEFAULT_ACQUISITION_TIMEOUT_IN_MS,
});

/**
 * What a provider runs on: the options validated, every default applied, the authority resolved
 * and the grant and scopes decided. It holds the credentials, so it lives only in private fields
 * and closures.
 */
export interface MsalProviderConfig {
  readonly clientId: string;
  /** `https://host[:port]/<tenant>`. */
  readonly authority: string;
  readonly tenant: string;
  /** `host:port` when MSAL must be told the host is trusted (anything but Microsoft's clouds). */
  readonly knownAuthorities: readonly string[];
  readonly clientSecret?: string;
  readonly clientCertificate?: Readonly<{ thumbprintSha256: string; privateKey: string; x5c?: string }>;
  readonly username?: string;
  readonly password?: string;
  readonly refreshToken?: string;
  /** Undefined for a provider that only serves users who signed in via auth code or device code. */
  readonly grant?: GrantType;
  readonly appScopes: readonly string[];
  readonly userScopes: readonly string[];
  readonly cache?: TokenCachePlugin | PartitionedTokenCache;
  readonly ca?: string;
  readonly proxy?: string;
  readonly logger: Logger;
  readonly retry: Readonly<Required<TokenRetryOptions>>;
  readonly timeoutInMs: number;
  readonly acquisitionTimeoutInMs: number;
}

/** Whether the provider is a confidential client (it has a secret or a certificate). */
export function isConfidential(config: MsalProviderConfig): boolean {
  return Boolean(config.clientSecret || config.clientCertificate);
}

/** The values a redactor must blank out wherever they appear: every credential the options carry. */
export function secretsOf(config: MsalProviderConfig): string[] {
  const out = [config.clientSecret, config.password, config.refreshToken, config.clientCertificate?.privateKey].filter((s): s is string => typeof s === 'string');
  if (config.proxy) {
    const password = new URL(config.proxy).password;
    if (password) out.push(password, safeDecode(password));
  }
  return out;
}

/**
 * Validates `options` and merges them over {@link MSAL_PROVIDER_DEFAULTS}.
 *
 * @throws ConfigurationError listing every invalid option by name and what was expected (never a value).
 */
export function resolveOptions(options: MsalTokenProviderOptions): MsalProviderConfig {
  const o = options;
  const issues: ConfigurationIssue[] = [];
  if (!o || typeof o !== 'object') throw new ConfigurationError([{ name: 'options', expected: 'an object' }], 'Invalid MsalTokenProvider options');
  if (!isGuid(o.clientId)) issues.push({ name: 'clientId', expected: 'the application (client) id, a GUID' });
  const where = resolveAuthority(o, issues);
  if (o.clientSecret !== undefined && (typeof o.clientSecret !== 'string' || !o.clientSecret)) issues.push({ name: 'clientSecret', expected: 'a non-empty string' });
  if (o.clientCertificate !== undefined) {
    const c = o.clientCertificate;
    if (!c || typeof c.thumbprintSha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(c.thumbprintSha256.replace(/:/g, ''))) {
      issues.push({ name: 'clientCertificate.thumbprintSha256', expected: 'the certificate SHA-256 thumbprint, 64 hex digits' });
    }
    if (!c || typeof c.privateKey !== 'string' || !c.privateKey.includes('PRIVATE KEY')) issues.push({ name: 'clientCertificate.privateKey', expected: 'a PEM private key' });
    if (o.clientSecret) issues.push({ name: 'clientSecret + clientCertificate', expected: 'only one client credential' });
  }
  if ((o.username === undefined) !== (o.password === undefined)) issues.push({ name: o.username === undefined ? 'username' : 'password', expected: 'username and password together' });
  const grant: GrantType | undefined =
    o.grant ?? (o.refreshToken ? 'refresh_token' : o.username && o.password ? 'password' : o.clientSecret || o.clientCertificate ? 'client_credentials' : undefined);
  if (grant !== undefined && !['client_credentials', 'password', 'refresh_token'].includes(grant)) issues.push({ name: 'grant', expected: "'client_credentials', 'password' or 'refresh_token'" });
  if (grant === 'client_credentials' && !o.clientSecret && !o.clientCertificate) issues.push({ name: 'clientSecret | clientCertificate', expected: 'a client credential for the client_credentials grant' });
  if (grant === 'password' && !(o.username && o.password)) issues.push({ name: 'username + password', expected: 'both, for the password grant' });
  if (grant === 'refresh_token' && !o.refreshToken) issues.push({ name: 'refreshToken', expected: 'a refresh token for the refresh_token grant' });
  if (grant === 'client_credentials' && where && MULTI_TENANT_ALIASES.has(where.tenant.toLowerCase())) {
    issues.push({ name: o.tenantId ? 'tenantId' : o.tokenUrl ? 'tokenUrl' : 'authority', expected: `a specific tenant (GUID or domain), not '${where.tenant}': client credentials need one directory` });
  }
  let resource: string | undefined;
  if (o.resource !== undefined) {
    try {
      const u = new URL(o.resource);
      if (u.protocol !== 'https:') throw new Error('not https');
      resource = o.resource;
    } catch {
      issues.push({ name: 'resource', expected: 'the environment URL, https://<org>.crm.dynamics.com' });
    }
  }
  if (o.scopes !== undefined && (!Array.isArray(o.scopes) || o.scopes.length === 0 || o.scopes.some((s) => typeof s !== 'string' || !s))) {
    issues.push({ name: 'scopes', expected: 'a non-empty array of scope strings' });
  }
  if (o.resource === undefined && o.scopes === undefined) issues.push({ name: 'resource | scopes', expected: 'the environment URL (resource) or explicit scopes' });
  if (o.proxy !== undefined) {
    try {
      if (!/^https?:$/.test(new URL(o.proxy).protocol)) throw new Error('bad');
    } catch {
      issues.push({ name: 'proxy', expected: 'an http://host:port proxy URL' });
    }
  }
  if (o.ca !== undefined && (typeof o.ca !== 'string' || !o.ca.includes('BEGIN CERTIFICATE'))) issues.push({ name: 'ca', expected: 'PEM text of one or more CA certificates' });
  checkDuration(o.timeoutInMs, 'timeoutInMs', 1, issues);
  checkDuration(o.acquisitionTimeoutInMs, 'acquisitionTimeoutInMs', 1, issues);
  const retry = resolveRetry(o.retry, issues);
  if (issues.length || !where) throw new ConfigurationError(issues, 'Invalid MsalTokenProvider options');

  const scopes = o.scopes ? [...o.scopes] : undefined;
  return Object.freeze({
    clientId: o.clientId,
    authority: where.authority,
    tenant: where.tenant,
    knownAuthorities: where.knownAuthorities,
    ...(o.clientSecret ? { clientSecret: o.clientSecret } : {}),
    ...(o.clientCertificate ? { clientCertificate: Object.freeze({ ...o.clientCertificate }) } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.refreshToken ? { refreshToken: o.refreshToken } : {}),
    grant,
    appScopes: scopes ?? [`${resource}/.default`],
    userScopes: scopes ?? [`${resource}/user_impersonation`],
    ...(o.cache ? { cache: o.cache } : {}),
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.proxy !== undefined ? { proxy: o.proxy } : {}),
    logger: o.logger ?? MSAL_PROVIDER_DEFAULTS.logger,
    retry,
    timeoutInMs: o.timeoutInMs ?? MSAL_PROVIDER_DEFAULTS.timeoutInMs,
    acquisitionTimeoutInMs: o.acquisitionTimeoutInMs ?? MSAL_PROVIDER_DEFAULTS.acquisitionTimeoutInMs,
  });
}

const RETRY_EXPECTED: Record<keyof TokenRetryOptions, string> = {
  maxRetries: 'a whole number from 0 to 100',
  retryDelayInMs: durationExpected(0),
  maxRetryDelayInMs: durationExpected(0),
  maxRetryAfterInMs: durationExpected(0),
};

function resolveRetry(retry: TokenRetryOptions | undefined, issues: ConfigurationIssue[]): Readonly<Required<TokenRetryOptions>> {
  const out: Required<TokenRetryOptions> = { ...MSAL_PROVIDER_DEFAULTS.retry };
  if (retry === undefined) return Object.freeze(out);
  if (retry === null || typeof retry !== 'object') {
    issues.push({ name: 'retry', expected: '{ maxRetries, retryDelayInMs, maxRetryDelayInMs, maxRetryAfterInMs }, each optional' });
    return Object.freeze(out);
  }
  for (const key of Object.keys(RETRY_EXPECTED) as Array<keyof TokenRetryOptions>) {
    const value = retry[key];
    if (value === undefined) continue;
    const valid = key === 'maxRetries' ? Number.isInteger(value) && value >= 0 && value <= 100 : isDuration(value, 0);
    if (!valid) issues.push({ name: `retry.${key}`, expected: RETRY_EXPECTED[key] });
    else out[key] = value;
  }
  return Object.freeze(out);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
