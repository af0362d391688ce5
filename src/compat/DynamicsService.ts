import {
  createTokenCache,
  DynamicsClient,
  MsalTokenProvider,
  redisThrottle,
  type FleetThrottle,
  type HttpMethod,
  type MsalTokenProviderOptions,
  type PartitionedTokenCache,
  type TokenCachePlugin,
} from '../client';
import { ConfigurationError, DynamicsError, ErrorCode, type ConfigurationIssue } from '../errors';
import { silentLogger, type Logger } from '../logger';
import { connectRedis } from '../net/redis';
import {
  missingGrantError,
  renameIssues,
  resolveEnabled,
  resolveServiceConfig,
  type DynamicsServiceOptions,
  type ResolvedServiceConfig,
} from './config';
import { resolveUrl, toCallOptions, toResult, toTokenSet } from './request';
import type { DynamicsGrantType, DynamicsRequestConfig, ITokenSet } from './types';

/**
 * The `@edirect/dynamics` API on top of {@link DynamicsClient}: swap the import, keep the
 * environment variables and the calls, and gain MSAL, a persistent token cache, retries that
 * honour `Retry-After`, and typed errors.
 *
 * - Configured from options, or from the `DYNAMICS_*` environment variables for what is omitted
 *   (see {@link DynamicsServiceOptions}). When enabled, a missing or invalid setting throws one
 *   {@link ConfigurationError} from the constructor naming each variable; settings that only one
 *   grant needs (user name and password, client secret) are checked when that grant is first used.
 * - Disabled (`DYNAMICS_ENABLED` anything but `true`): every method resolves to `null` at once, with
 *   no request, no token, and no check of the rest of the configuration.
 * - Tokens: one MSAL provider per grant, sharing one token cache (file or Redis when configured);
 *   a token is reused until it nears expiry, then refreshed, then re-acquired with the password
 *   grant if the refresh fails. Concurrent calls on a cold start make one token request.
 * - Many instances: with `DYNAMICS_REDIS_URL`, every instance also shares the service-protection
 *   limits of its user through Redis (`redisThrottle`: one pause after a 429, one concurrency limit);
 *   `DYNAMICS_REDIS_THROTTLE=false` or `throttle: false` turns that off.
 * - Failures throw {@link DynamicsError} (`status`, Dataverse `code`, message), which also exposes
 *   `response.status` and `response.data` like an `AxiosError`.
 *
 * Works without Nest; {@link DynamicsModule} provides it to Nest applications.
 *
 * @example
 * ```ts
 * const dynamics = new DynamicsService(); // DYNAMICS_ENABLED=true, DYNAMICS_TOKEN_URL, …
 * const page = await dynamics.get('api/data/v9.2/accounts?$select=name&$top=10');
 * const { id } = await dynamics.post('api/data/v9.2/accounts', { name: 'Contoso' });
 * await dynamics.close();
 * ```
 */
export class DynamicsService {
  /** Whether calls go out; when false every method resolves to `null`. */
  readonly enabled: boolean;
  // ES private fields: they never show in util.inspect, console.log or JSON of the service, so the
  // configured secret and password cannot leak through a logged service object.
  readonly #logger: Logger;
  readonly #config?: ResolvedServiceConfig;
  readonly #options: DynamicsServiceOptions;
  readonly #providers = new Map<DynamicsGrantType, MsalTokenProvider>();
  readonly #clients = new Map<DynamicsGrantType, DynamicsClient>();
  readonly #warned = new Set<string>();
  /** Releases the token cache's Redis connection, when `DYNAMICS_REDIS_URL` opened one. */
  #closeCache?: () => Promise<void>;
  /** The fleet limiter every client of the service shares, when there is one. */
  #throttle?: FleetThrottle;
  /** Stops the limiter built for `DYNAMICS_REDIS_URL` and closes its connection. */
  #closeThrottle?: () => Promise<void>;
  #closed = false;
  /** `new URL(resource).origin`, computed at the first call. */
  #origin?: string;

  /**
   * @param options What to connect to; omitted options are read from the `DYNAMICS_*` variables.
   * @throws ConfigurationError when enabled and a setting is missing or invalid (listing every one by name).
   */
  constructor(options: DynamicsServiceOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('DynamicsService: options must be an object');
    this.#options = { ...options };
    this.#logger = options.logger ?? silentLogger;
    const env = options.env ?? process.env;
    const { enabled, warning } = resolveEnabled(options, env);
    this.enabled = enabled;
    if (!enabled) {
      if (warning) this.#logger.warn(warning);
      return;
    }
    const config = resolveServiceConfig(options, env);
    this.#config = config;
    const cache = options.tokenCache ?? this.#persistentCache(config);
    const issues: ConfigurationIssue[] = [];
    for (const grant of config.grants) {
      try {
        this.#providers.set(grant, new MsalTokenProvider(this.#providerOptions(grant, config, cache)));
      } catch (err) {
        if (!(err instanceof ConfigurationError)) throw err;
        for (const issue of renameIssues(err.issues, config)) {
          if (!issues.some((i) => i.name === issue.name && i.expected === issue.expected)) issues.push(issue);
        }
      }
    }
    if (issues.length) {
      for (const provider of this.#providers.values()) provider.close();
      this.#closeCache?.().catch(() => undefined);
      throw new ConfigurationError(issues, 'Invalid DynamicsService configuration');
    }
    try {
      this.#throttle = options.throttle === false ? undefined : (options.throttle ?? this.#redisThrottle(config));
    } catch (err) {
      for (const provider of this.#providers.values()) provider.close();
      this.#closeCache?.().catch(() => undefined);
      throw err;
    }
  }

  /**
   * `GET url`. Resolves to the response body (e.g. `{ value: [...] }` for a collection).
   *
   * @param url A full Web API URL (`https://<org>.crm.dynamics.com/api/data/v9.2/accounts?$select=name`)
   *   or a path relative to `DYNAMICS_RESOURCE` (`api/data/v9.2/accounts` or `/api/data/v9.2/accounts`).
   * @param options axios-style `headers`, `params`, `timeout`, `responseType`, `signal`.
   * @param grantType `'password'` (default) or `'client_credentials'`.
   * @returns The body, or `null` when disabled.
   */
  get<T = object>(url: string, options?: DynamicsRequestConfig, grantType?: DynamicsGrantType): Promise<T | null> {
    return this.#send<T>('GET', url, undefined, options, grantType);
  }

  /**
   * `POST url` with `data` as JSON. A create answered `204 No Content` resolves to
   * `{ id, entityId }` read from `OData-EntityId`; with `Prefer: return=representation` (201), to the record.
   *
   * @returns The body, `{ id, entityId }`, or `null` when disabled.
   */
  post<T = object>(url: string, data: unknown, options?: DynamicsRequestConfig, grantType?: DynamicsGrantType): Promise<T | null> {
    return this.#send<T>('POST', url, data, options, grantType);
  }

  /**
   * `PATCH url` with `data` as JSON (update, or upsert when the record does not exist; send
   * `If-Match: *` in `options.headers` to forbid creating). A `204` resolves to `{ id, entityId }`
   * (Dataverse sends `OData-EntityId` for updates too).
   *
   * @returns The body, `{ id, entityId }`, or `null` when disabled.
   */
  patch<T = object>(url: string, data: unknown, options?: DynamicsRequestConfig, grantType?: DynamicsGrantType): Promise<T | null> {
    return this.#send<T>('PATCH', url, data, options, grantType);
  }

  /**
   * `DELETE url`.
   *
   * @returns `{}` on success (Dataverse answers `204` without a body), or `null` when disabled.
   */
  delete<T = object>(url: string, options?: DynamicsRequestConfig, grantType?: DynamicsGrantType): Promise<T | null> {
    return this.#send<T>('DELETE', url, undefined, options, grantType);
  }

  /**
   * The configured user's token (password grant), from the MSAL cache while it is valid.
   * @returns The token set, or `null` when disabled.
   */
  async getAccessToken(): Promise<ITokenSet | null> {
    if (!this.enabled) return null;
    return toTokenSet(await this.#provider('password').getTokenSet(), this.#resource());
  }

  /**
   * The application's own token (client-credentials grant), from the MSAL cache while it is valid.
   * Entra issues no refresh token for it.
   * @returns The token set, or `null` when disabled.
   */
  async getAccessTokenByClientCredentials(): Promise<ITokenSet | null> {
    if (!this.enabled) return null;
    return toTokenSet(await this.#provider('client_credentials').getTokenSet(), this.#resource());
  }

  /**
   * A fresh user token obtained with the refresh token, bypassing the cache; if the refresh fails
   * (revoked or expired refresh token), falls back to {@link getAccessToken}.
   * @returns The token set, or `null` when disabled.
   */
  async getRefreshToken(): Promise<ITokenSet | null> {
    if (!this.enabled) return null;
    const provider = this.#provider('password');
    try {
      return toTokenSet(await provider.getTokenSet({ forceRefresh: true }), this.#resource());
    } catch (err) {
      this.#logger.warn('Refreshing the user token failed; falling back to getAccessToken()', { code: err instanceof DynamicsError ? err.code : undefined });
      return this.getAccessToken();
    }
  }

  /**
   * Closes keep-alive connections and the Redis connection opened for `DYNAMICS_REDIS_URL`.
   * {@link DynamicsModule} calls it when the Nest application shuts down. Later calls reject
   * (a disabled service keeps returning `null`). Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    for (const provider of this.#providers.values()) provider.close();
    this.#clients.clear();
    await Promise.all([this.#closeCache?.(), this.#closeThrottle?.()]);
  }

  async #send<T>(method: HttpMethod, url: string, data: unknown, options: DynamicsRequestConfig | undefined, grantType: DynamicsGrantType | undefined): Promise<T | null> {
    if (!this.enabled) return null;
    const grant = checkGrant(grantType);
    const target = resolveUrl(url, this.#resource(), this.#resourceOrigin());
    const call = toCallOptions(method, options, (field) => this.#warnOnce(`option:${field}`, `options.${field} is not honoured by DynamicsService (only headers, params, timeout, responseType, signal and maxContentLength are); it is ignored`));
    const client = this.#client(grant);
    const response = await client.request(method, target, data, call);
    return toResult(response, call.responseType, () =>
      this.#logger.warn('The write succeeded but its OData-EntityId header is not a record URL; returning it without an id', { method }),
    ) as T;
  }

  #resource(): string {
    return this.#config?.resource ?? '';
  }

  /** The resource's origin, parsed once rather than on every call. */
  #resourceOrigin(): string | undefined {
    const resource = this.#config?.resource;
    if (this.#origin === undefined && resource !== undefined) {
      try {
        this.#origin = new URL(resource).origin;
      } catch {
        // resolveUrl reports a bad resource as it always has.
      }
    }
    return this.#origin;
  }

  #provider(grant: DynamicsGrantType): MsalTokenProvider {
    if (this.#closed) throw closedError();
    const provider = this.#providers.get(grant);
    if (!provider) throw missingGrantError(grant, this.#config!);
    return provider;
  }

  #client(grant: DynamicsGrantType): DynamicsClient {
    const provider = this.#provider(grant);
    let client = this.#clients.get(grant);
    if (!client) {
      const config = this.#config!;
      const { timeoutInMs, maxRetries, maxResponseBytes } = this.#options;
      client = new DynamicsClient({
        url: this.#resource(),
        auth: provider,
        ...(config.ca !== undefined ? { ca: config.ca } : {}),
        ...(timeoutInMs !== undefined ? { timeoutInMs } : {}),
        ...(maxRetries !== undefined ? { maxRetries } : {}),
        ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
        ...(this.#throttle !== undefined ? { throttle: this.#throttle } : {}),
        logger: this.#logger,
      });
      this.#clients.set(grant, client);
    }
    return client;
  }

  #providerOptions(grant: DynamicsGrantType, config: ResolvedServiceConfig, cache: TokenCachePlugin | PartitionedTokenCache | undefined): MsalTokenProviderOptions {
    return {
      tokenUrl: config.tokenUrl,
      clientId: config.clientId!,
      resource: config.resource,
      grant,
      ...(config.clientSecret !== undefined ? { clientSecret: config.clientSecret } : {}),
      ...(grant === 'password' ? { username: config.username, password: config.password } : {}),
      ...(config.ca !== undefined ? { ca: config.ca } : {}),
      ...(cache ? { cache } : {}),
      logger: this.#logger,
    };
  }

  #persistentCache(config: ResolvedServiceConfig): TokenCachePlugin | PartitionedTokenCache | undefined {
    const configured = createTokenCache({ tokenCacheFile: config.tokenCacheFile, redisUrl: config.redisUrl }, { logger: this.#logger });
    this.#closeCache = configured.close;
    return configured.cache;
  }

  /**
   * The fleet limiter for `DYNAMICS_REDIS_URL`, on a connection of its own: a command must fail fast
   * when Redis is away (one retry, not ioredis's twenty) so that the limiter falls back to local
   * limits, while the token cache's connection may wait longer.
   */
  #redisThrottle(config: ResolvedServiceConfig): FleetThrottle | undefined {
    if (!config.redisThrottle || config.redisUrl === undefined) return undefined;
    const connection = connectRedis(config.redisUrl, config.names.redisUrl, { maxRetriesPerRequest: 1 });
    // The limiter reports an unreachable Redis once; ioredis would print every failed reconnect itself.
    connection.on('error', () => undefined);
    const throttle = redisThrottle({ redis: connection, logger: this.#logger });
    this.#closeThrottle = async () => {
      // close() waits for its own commands (giving back slots), so nothing is left to wait for.
      await throttle.close();
      connection.disconnect();
    };
    return throttle;
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message);
  }
}

function checkGrant(grantType: unknown): DynamicsGrantType {
  if (grantType === undefined || grantType === null) return 'password';
  if (grantType === 'password' || grantType === 'client_credentials') return grantType;
  throw new DynamicsError(`grantType: expected 'password' (the default) or 'client_credentials', got ${typeof grantType === 'string' ? JSON.stringify(grantType) : typeof grantType}`, {
    code: ErrorCode.invalidArgument,
  });
}

function closedError(): DynamicsError {
  return new DynamicsError('DynamicsService is closed (close() was called, or its Nest module was destroyed); nothing was sent', { code: ErrorCode.aborted });
}
