import { readFileSync } from 'node:fs';
import { isFleetThrottle, type FleetThrottle, type PartitionedTokenCache, type TokenCachePlugin } from '../client';
import { ConfigurationError, type ConfigurationIssue } from '../errors';
import type { Logger } from '../logger';
import { isResponseByteLimit, MAX_RESPONSE_BYTES_LIMIT } from '../net/body';
import { isDuration, MAX_DURATION_TEXT } from '../net/timers';
import type { DynamicsGrantType } from './types';

/**
 * Options of {@link DynamicsService}. Every option is optional: what is omitted is read from the
 * environment variable named beside it, exactly as `@edirect/dynamics` read it.
 *
 * @example
 * ```ts
 * // Environment only (DYNAMICS_ENABLED=true, DYNAMICS_TOKEN_URL, …):
 * const dynamics = new DynamicsService();
 * // Or in code:
 * const dynamics = new DynamicsService({
 *   enabled: true,
 *   tokenUrl: 'https://login.microsoftonline.com/<tenant>/oauth2/token',
 *   clientId: '<app id>', clientSecret: '<secret>',
 *   username: 'svc@contoso.com', password: '<password>',
 *   resource: 'https://contoso.crm4.dynamics.com',
 * });
 * ```
 */
export interface DynamicsServiceOptions {
  /**
   * Whether calls go out at all. When false, every method returns `null` at once, with no request,
   * no token, and no check of the rest of the configuration.
   * Default: `DYNAMICS_ENABLED === 'true'` (exactly `true`, case-sensitive, as the published flag:
   * any other value, or none, disables; a near miss such as `TRUE` is logged as a warning).
   */
  enabled?: boolean;
  /** `DYNAMICS_TOKEN_URL`: the v1 (`…/<tenant>/oauth2/token`) or v2 (`…/oauth2/v2.0/token`) token URL. The authority is its origin plus tenant. */
  tokenUrl?: string;
  /** `DYNAMICS_CLIENT_ID`: the application (client) id, a GUID. */
  clientId?: string;
  /** `DYNAMICS_CLIENT_SECRET`: needed for `client_credentials`; used by the password grant too when set (confidential client). */
  clientSecret?: string;
  /** `DYNAMICS_USER_NAME`: the user of the password grant (the default grant). */
  username?: string;
  /** `DYNAMICS_PASSWORD`: that user's password. */
  password?: string;
  /** `DYNAMICS_RESOURCE`: the environment URL, `https://<org>.crm.dynamics.com`; relative request URLs are resolved against it. */
  resource?: string;
  /** PEM of extra CA certificates to trust (a private CA, the emulator). Default: read from `DYNAMICS_CA_FILE` when set. */
  ca?: string;
  /** `DYNAMICS_CA_FILE`: a PEM file of extra CA certificates, read once at construction. Ignored when `ca` is given. */
  caFile?: string;
  /**
   * Where tokens persist across restarts and instances: any MSAL cache plugin, `fileTokenCache(path)`
   * or `redisTokenCache(redis)`. Default: built from `tokenCacheFile` or `redisUrl`, else memory only.
   */
  tokenCache?: TokenCachePlugin | PartitionedTokenCache;
  /** `DYNAMICS_TOKEN_CACHE_FILE`: persist the token cache to this file (mode 0600, locked, written atomically). */
  tokenCacheFile?: string;
  /**
   * `DYNAMICS_REDIS_URL`: share the token cache in Redis (`redis://…` or `rediss://…`; needs the
   * optional peer `ioredis`), and with it the service-protection limits (see `throttle`).
   */
  redisUrl?: string;
  /**
   * The limiter the service's clients share with every other process calling the environment as the
   * same user: one pause after a 429, one concurrency limit (see `redisThrottle`). Default: a
   * `redisThrottle` on its own connection to `redisUrl` when one is set, else none. `false` turns it
   * off, as `DYNAMICS_REDIS_THROTTLE=false` does; a limiter given here is not closed by `close()`.
   *
   * @example new DynamicsService({ throttle: redisThrottle({ redis, budget: { requests: 5500, windowInMs: 300_000 } }) })
   */
  throttle?: FleetThrottle | false;
  /** Whole-call timeout of each request, retry waits included. Default: 300000 (the client's). At most 2147483647 (about 24.8 days). */
  timeoutInMs?: number;
  /**
   * The largest response body accepted, raw and decompressed, in bytes (1 to 1073741824); a larger
   * answer fails with a DynamicsError `response_too_large`. A call can set its own with axios's
   * `maxContentLength`. Default: the client's, 134217728 (128 MiB).
   */
  maxResponseBytes?: number;
  /** Retries after 429/503 and transient failures. Default: 10 (the client's). */
  maxRetries?: number;
  /** Where warnings go (e.g. a Nest `Logger` or `console`). Default: silent. */
  logger?: Logger;
  /** The environment to read omitted options from. Default: `process.env` at construction. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The environment variables {@link DynamicsService} reads, by option. */
export const DYNAMICS_ENV = {
  enabled: 'DYNAMICS_ENABLED',
  tokenUrl: 'DYNAMICS_TOKEN_URL',
  clientId: 'DYNAMICS_CLIENT_ID',
  clientSecret: 'DYNAMICS_CLIENT_SECRET',
  username: 'DYNAMICS_USER_NAME',
  password: 'DYNAMICS_PASSWORD',
  resource: 'DYNAMICS_RESOURCE',
  caFile: 'DYNAMICS_CA_FILE',
  tokenCacheFile: 'DYNAMICS_TOKEN_CACHE_FILE',
  redisUrl: 'DYNAMICS_REDIS_URL',
  redisThrottle: 'DYNAMICS_REDIS_THROTTLE',
} as const;

/** Settings read as text from an option or its variable (the two switches are read on their own). */
type Setting = Exclude<keyof typeof DYNAMICS_ENV, 'enabled' | 'redisThrottle'>;

/** The connection settings once options and environment are merged; `names` says where each came from, for error messages. */
export interface ResolvedServiceConfig {
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  resource?: string;
  ca?: string;
  tokenCacheFile?: string;
  redisUrl?: string;
  /** Whether to build a fleet limiter on `redisUrl` (false: `DYNAMICS_REDIS_THROTTLE=false` or `throttle: false`). */
  redisThrottle: boolean;
  /** For each setting, the name a message should use: the option (`tokenUrl`) when it was given in code, else its variable. */
  names: Record<Setting, string>;
  /** The name messages use for the CA: `ca` when given in code, else `DYNAMICS_CA_FILE` (or `caFile`). */
  caName: string;
  /** The grants whose credentials are configured. */
  grants: DynamicsGrantType[];
}

/** Whether the service is enabled, and a warning to log when the flag looks like a mistake. */
export function resolveEnabled(
  options: DynamicsServiceOptions,
  env: Readonly<Record<string, string | undefined>>,
): { enabled: boolean; warning?: string } {
  if (options.enabled !== undefined) return { enabled: options.enabled === true };
  const raw = env[DYNAMICS_ENV.enabled];
  // The published contract: "any value but `true`" disables. Matching it exactly means no
  // environment that was off under @edirect/dynamics silently starts sending requests.
  if (raw === 'true') return { enabled: true };
  if (raw === undefined) {
    return { enabled: false, warning: 'DynamicsService is disabled: DYNAMICS_ENABLED is not set (set it to "true", or pass enabled: true); every call returns null' };
  }
  if (raw.trim().toLowerCase() === 'true') {
    return { enabled: false, warning: `DynamicsService is disabled: DYNAMICS_ENABLED is ${JSON.stringify(raw)}, and only the exact value "true" enables it; every call returns null` };
  }
  return { enabled: false };
}

/**
 * Merges options over the environment and checks what every grant needs (the token URL, the client
 * id, the resource, and credentials for at least one grant). The auth provider checks the values
 * themselves (GUIDs, https URLs); see {@link renameIssues}.
 *
 * @throws ConfigurationError listing every missing or unreadable setting by its variable (or option) name.
 */
export function resolveServiceConfig(
  options: DynamicsServiceOptions,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedServiceConfig {
  const names = {} as Record<Setting, string>;
  const value = (setting: Setting): string | undefined => {
    const given = options[setting];
    if (given !== undefined) {
      names[setting] = setting;
      return given;
    }
    names[setting] = DYNAMICS_ENV[setting];
    // An empty variable (`DYNAMICS_CLIENT_SECRET=`) counts as unset, as shells and dotenv files produce them.
    const fromEnv = env[DYNAMICS_ENV[setting]];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };

  const config: ResolvedServiceConfig = {
    tokenUrl: value('tokenUrl'),
    clientId: value('clientId'),
    clientSecret: value('clientSecret'),
    username: value('username'),
    password: value('password'),
    resource: value('resource'),
    tokenCacheFile: value('tokenCacheFile'),
    redisUrl: value('redisUrl'),
    redisThrottle: true,
    names,
    caName: '',
    grants: [],
  };
  const caFile = value('caFile');
  config.caName = options.ca !== undefined ? 'ca' : names.caFile;

  const issues: ConfigurationIssue[] = [];
  const must = (setting: Setting, expected: string): void => {
    const v = config[setting as keyof ResolvedServiceConfig];
    if (typeof v !== 'string' || v.trim() === '') issues.push({ name: names[setting], expected });
  };
  must('tokenUrl', 'the token URL, e.g. https://login.microsoftonline.com/<tenant>/oauth2/token');
  must('clientId', 'the application (client) id, a GUID');
  must('resource', 'the environment URL, e.g. https://<org>.crm.dynamics.com');

  const hasUser = Boolean(config.username);
  const hasPassword = Boolean(config.password);
  if (hasUser !== hasPassword) {
    issues.push(
      hasUser
        ? { name: names.password, expected: `the password of ${names.username} (the password grant needs both)` }
        : { name: names.username, expected: `the user name that goes with ${names.password} (the password grant needs both)` },
    );
  } else if (!hasUser && !config.clientSecret) {
    issues.push({
      name: `${names.username} + ${names.password} | ${names.clientSecret}`,
      expected: 'credentials for at least one grant: a user name and password (the default password grant), or a client secret (client_credentials)',
    });
  }
  if (hasUser && hasPassword) config.grants.push('password');
  if (config.clientSecret) config.grants.push('client_credentials');

  if (options.ca !== undefined) {
    config.ca = options.ca;
  } else if (caFile !== undefined) {
    try {
      config.ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      issues.push({ name: names.caFile, expected: `a readable PEM file of CA certificates (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}: ${caFile})` });
    }
    if (config.ca !== undefined && !config.ca.includes('BEGIN CERTIFICATE')) {
      issues.push({ name: names.caFile, expected: `a PEM file of CA certificates (${caFile} holds no BEGIN CERTIFICATE block)` });
    }
  }

  if (!options.tokenCache && config.tokenCacheFile && config.redisUrl) {
    issues.push({ name: `${names.tokenCacheFile} + ${names.redisUrl}`, expected: 'only one persistent token cache: a file or Redis' });
  }
  // `DYNAMICS_REDIS_THROTTLE=false` keeps DYNAMICS_REDIS_URL to the token cache; `throttle` in code wins over it.
  const throttleSwitch = options.throttle === undefined ? env[DYNAMICS_ENV.redisThrottle] : undefined;
  if (throttleSwitch !== undefined && throttleSwitch !== '' && throttleSwitch !== 'true' && throttleSwitch !== 'false') {
    issues.push({ name: DYNAMICS_ENV.redisThrottle, expected: '"true" (the default: share the service-protection limits through DYNAMICS_REDIS_URL) or "false"' });
  }
  config.redisThrottle = options.throttle === undefined && throttleSwitch !== 'false' && config.redisUrl !== undefined;
  if ((!options.tokenCache || config.redisThrottle) && config.redisUrl && !/^rediss?:\/\//i.test(config.redisUrl)) {
    issues.push({ name: names.redisUrl, expected: 'a redis:// or rediss:// URL' });
  }
  if (options.throttle !== undefined && options.throttle !== false && !isFleetThrottle(options.throttle)) {
    issues.push({ name: 'throttle', expected: 'a fleet limiter such as redisThrottle({ redis }) (an object with acquire(), settle() and close()), or false' });
  }

  if (options.timeoutInMs !== undefined && !(Number.isInteger(options.timeoutInMs) && isDuration(options.timeoutInMs, 1))) {
    issues.push({ name: 'timeoutInMs', expected: `a whole number of milliseconds, at least 1 and ${MAX_DURATION_TEXT}` });
  }
  if (options.maxResponseBytes !== undefined && !isResponseByteLimit(options.maxResponseBytes)) {
    issues.push({ name: 'maxResponseBytes', expected: `a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES_LIMIT} (1 GiB)` });
  }
  if (options.maxRetries !== undefined && !(Number.isInteger(options.maxRetries) && options.maxRetries >= 0)) {
    issues.push({ name: 'maxRetries', expected: 'a whole number, at least 0' });
  }

  if (issues.length) throw new ConfigurationError(issues, 'Invalid DynamicsService configuration');
  return config;
}

/** The variable (or option) names a grant needs, for the error when a call asks for a grant that is not configured. */
export function missingGrantError(grant: DynamicsGrantType, config: ResolvedServiceConfig): ConfigurationError {
  const { names } = config;
  const issue: ConfigurationIssue =
    grant === 'password'
      ? { name: `${names.username} + ${names.password}`, expected: "a user name and password: grantType 'password' (the default) needs them" }
      : { name: names.clientSecret, expected: "the client secret: grantType 'client_credentials' needs it" };
  return new ConfigurationError([issue], 'Invalid DynamicsService configuration');
}

/** The auth provider's option names, mapped to ours, so its validation messages name the variables users set. */
const PROVIDER_OPTION_TO_SETTING: Record<string, Setting> = {
  tokenUrl: 'tokenUrl',
  clientId: 'clientId',
  clientSecret: 'clientSecret',
  username: 'username',
  password: 'password',
  resource: 'resource',
  ca: 'caFile',
};

/**
 * Renames the option names in a {@link ConfigurationError} from the auth provider
 * (`tokenUrl`) to the names the user set (`DYNAMICS_TOKEN_URL`), so one validation serves both.
 */
export function renameIssues(issues: readonly ConfigurationIssue[], config: ResolvedServiceConfig): ConfigurationIssue[] {
  return issues.map((issue) => ({
    ...issue,
    name: issue.name.replace(/[A-Za-z]+/g, (word) => {
      const setting = PROVIDER_OPTION_TO_SETTING[word];
      if (!setting) return word;
      return setting === 'caFile' ? config.caName : config.names[setting];
    }),
  }));
}
