import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CryptoProvider,
  LogLevel,
  TokenCacheContext,
  type AccountInfo,
  type AuthenticationResult,
  type Configuration,
  type ICachePlugin,
} from '@azure/msal-node';
import { AuthenticationError, ConfigurationError, DynamicsError, ErrorCode, type ConfigurationIssue } from '../errors';
import { silentLogger, type Logger } from '../logger';
import { MULTI_TENANT_ALIASES, resolveAuthority } from './authority';
import { isPartitionedTokenCache, type PartitionedCachePlugin, type PartitionedTokenCache, type TokenCachePlugin } from './cache/types';
import { makeRedactor, toDynamicsError } from './errors';
import { HttpsNetworkClient, TransportFailure, type TokenRetryOptions } from './networkClient';
import { createConfidentialApp, createPublicApp, type DeviceCodePrompt, type MsalApp } from './publicClient';
import type { AccessToken, GetTokenOptions, GrantType, TokenProvider } from './types';

/** MSAL renews an access token this long before it expires (`DEFAULT_TOKEN_RENEWAL_OFFSET_SEC`, not configurable in msal-node). */
const RENEWAL_WINDOW_MS = 300_000;

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
  /** `http://host:port` of an HTTP proxy (CONNECT) for token requests. */
  proxy?: string;
  /** Default: silent. MSAL's own log lines arrive at `debug`/`warn`/`error`, with PII logging off. */
  logger?: Logger;
  /** Retries of token requests on 429/5xx/network errors. Default: 3 retries, honouring `Retry-After` up to 60 s. */
  retry?: TokenRetryOptions;
  /** Per-attempt timeout of a token request. Default: 30000. */
  timeoutInMs?: number;
}

/** A token with what the `@edirect/dynamics`-style service needs besides it. */
export interface TokenSet {
  accessToken: string;
  tokenType: 'Bearer';
  expiresOn: Date;
  /** When Entra advised a proactive refresh (`refresh_in`). */
  refreshOn?: Date;
  scopes: string[];
  /** The refresh token MSAL holds for this account (user grants only). MSAL does not return it; it is read from the cache. */
  refreshToken?: string;
  account?: { username: string; homeAccountId: string };
}

/** Options of {@link MsalTokenProvider.getAuthCodeUrl}. */
export interface AuthCodeUrlOptions {
  redirectUri: string;
  /** Default: the provider's user scopes. */
  scopes?: string[];
  /** Opaque value echoed back to the redirect URI. Default: 32 random bytes, base64url. */
  state?: string;
  /** e.g. `select_account`, `login`. */
  prompt?: string;
  loginHint?: string;
}

/** Keep `state` and `codeVerifier` in the user's session until the redirect comes back. */
export interface AuthCodeUrl {
  url: string;
  state: string;
  codeVerifier: string;
}

/** Options of {@link MsalTokenProvider.acquireTokenByCode}. */
export interface AcquireTokenByCodeOptions {
  code: string;
  /** The `state` query parameter of the redirect. */
  state: string;
  /** The `state` stored in the session by {@link MsalTokenProvider.getAuthCodeUrl}. */
  expectedState: string;
  codeVerifier: string;
  redirectUri: string;
  scopes?: string[];
}

/** Options of {@link MsalTokenProvider.acquireTokenByDeviceCode}. */
export interface DeviceCodeOptions {
  /** Show `prompt.message` to the user. */
  onCode(prompt: DeviceCodePrompt): void;
  /** Stop polling after this many seconds. Default: until the code expires. */
  timeoutInSeconds?: number;
  abortSignal?: AbortSignal;
}

interface Resolved {
  authority: string;
  tenant: string;
  knownAuthorities: string[];
  /** Undefined for a provider that only serves users who signed in via auth code or device code. */
  grant?: GrantType;
  appScopes: string[];
  userScopes: string[];
}

interface Memo {
  set: TokenSet;
  renewAt: number;
}

/**
 * A {@link TokenProvider} on `@azure/msal-node`: client credentials, password, refresh token,
 * authorization code with PKCE and (on a public client) device code.
 *
 * - One token request however many callers ask at once (single flight per provider).
 * - A token is reused until MSAL's 300 s renewal window, then renewed: user grants refresh
 *   with the refresh token and, if that fails, sign in again with the configured grant.
 * - Works with any https authority; asks nothing of login.microsoftonline.com unless that is it.
 * - Token-endpoint 429/5xx are retried honouring `Retry-After`.
 * - Tokens, secrets and passwords never reach an error or a log line.
 *
 * @throws ConfigurationError from the constructor, listing every invalid option.
 */
export class MsalTokenProvider implements TokenProvider {
  private readonly options: MsalTokenProviderOptions;
  private readonly resolved: Resolved;
  private readonly logger: Logger;
  private readonly redact: (text: string) => string;
  private readonly network: HttpsNetworkClient;
  private readonly app: MsalApp;
  private readonly plugin?: PartitionedCachePlugin;
  private readonly crypto = new CryptoProvider();
  private account?: AccountInfo;
  private memo?: Memo;
  private inFlight?: Promise<TokenSet>;
  private inFlightForced?: Promise<TokenSet>;
  /** Bumped by cache resets so that an acquisition started before one does not repopulate the memo. */
  private generation = 0;

  constructor(options: MsalTokenProviderOptions) {
    this.options = { ...options };
    this.resolved = validate(options);
    this.logger = options.logger ?? silentLogger;
    this.redact = makeRedactor([options.clientSecret, options.password, options.refreshToken, options.clientCertificate?.privateKey]);
    this.network = new HttpsNetworkClient({ ca: options.ca, proxy: options.proxy, retry: options.retry, timeoutInMs: options.timeoutInMs, logger: this.logger });

    if (options.cache) {
      this.plugin = isPartitionedTokenCache(options.cache)
        ? options.cache.forPartition({
            kind: this.resolved.grant === 'client_credentials' ? 'app' : 'user',
            clientId: options.clientId,
            tenantId: this.resolved.tenant,
            username: this.resolved.grant === 'password' ? options.username : undefined,
          })
        : options.cache;
    }

    const confidential = Boolean(options.clientSecret || options.clientCertificate);
    const config: Configuration = {
      auth: {
        clientId: options.clientId,
        authority: this.resolved.authority,
        knownAuthorities: this.resolved.knownAuthorities,
        ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
        ...(options.clientCertificate ? { clientCertificate: { ...options.clientCertificate } } : {}),
      },
      cache: this.plugin ? { cachePlugin: this.plugin as ICachePlugin } : undefined,
      system: {
        networkClient: this.network,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: this.logger.debug ? LogLevel.Info : LogLevel.Warning,
          loggerCallback: (level, message, containsPii) => {
            if (containsPii) return;
            const text = `msal: ${this.redact(message)}`;
            if (level === LogLevel.Error) this.logger.error(text);
            // Client credentials never get client_info (protocol brief §1): not worth a warning.
            else if (level === LogLevel.Warning && !message.includes('No client info in response')) this.logger.warn(text);
            else this.logger.debug?.(text);
          },
        },
      },
    };
    try {
      this.app = confidential ? createConfidentialApp(config) : createPublicApp(config);
    } catch (err) {
      if (err instanceof DynamicsError) throw err;
      throw toDynamicsError(err, 'Creating the MSAL application', this.redact);
    }
  }

  /** The grant {@link getToken} uses (configured or inferred); undefined when only interactive sign-in (auth code, device code) is possible. */
  get grant(): GrantType | undefined {
    return this.resolved.grant;
  }

  /** The scopes {@link getToken} requests. */
  get scopes(): string[] {
    return [...(this.resolved.grant === 'client_credentials' && !this.account ? this.resolved.appScopes : this.resolved.userScopes)];
  }

  /** A bearer token for the Dataverse Web API, from the cache while it is outside MSAL's renewal window. */
  async getToken(options: GetTokenOptions = {}): Promise<AccessToken> {
    const set = await this.getTokenSet(options);
    return {
      token: set.accessToken,
      expiresOnTimestamp: set.expiresOn.getTime(),
      ...(set.refreshOn ? { refreshAfterTimestamp: set.refreshOn.getTime() } : {}),
      tokenType: 'Bearer',
    };
  }

  /** Like {@link getToken}, with scopes, account and the refresh token (for `@edirect/dynamics`-style callers). */
  async getTokenSet(options: GetTokenOptions = {}): Promise<TokenSet> {
    throwIfAborted(options.abortSignal);
    if (!options.forceRefresh && this.memo && Date.now() < this.memo.renewAt) return { ...this.memo.set };
    let flight: Promise<TokenSet>;
    if (options.forceRefresh) {
      flight = this.inFlightForced ??= this.track(this.acquire(true), true);
    } else {
      flight = this.inFlightForced ?? (this.inFlight ??= this.track(this.acquire(false), false));
    }
    const set = await raceAbort(flight, options.abortSignal);
    return { ...set };
  }

  /** The whole MSAL token cache as JSON (keep it as secret as a password: it holds refresh tokens). */
  async serializeCache(): Promise<string> {
    return this.app.getTokenCache().serialize();
  }

  /**
   * Replaces the in-memory MSAL cache with `json` (from {@link serializeCache}).
   * @throws ConfigurationError when `json` is not a serialized MSAL cache.
   */
  async deserializeCache(json: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigurationError([{ name: 'deserializeCache(json)', expected: 'the JSON text returned by serializeCache()' }]);
    }
    this.app.getTokenCache().deserialize(json);
    this.reset();
  }

  /** Forgets every token, in memory and (through the cache plugin) in the persistent cache. */
  async clearCache(): Promise<void> {
    this.reset();
    const cache = this.app.getTokenCache();
    if (this.plugin) {
      const ctx = new TokenCacheContext(cache, true);
      await this.plugin.beforeCacheAccess(ctx);
      try {
        this.app.clearCache();
      } finally {
        await this.plugin.afterCacheAccess(ctx);
      }
    } else {
      this.app.clearCache();
    }
  }

  /**
   * Starts an authorization-code sign-in with PKCE (S256): redirect the user to `url` and keep
   * `state` and `codeVerifier` in their session.
   */
  async getAuthCodeUrl(options: AuthCodeUrlOptions): Promise<AuthCodeUrl> {
    requireString(options?.redirectUri, 'redirectUri');
    const state = options.state ?? randomBytes(32).toString('base64url');
    const { verifier, challenge } = await this.crypto.generatePkceCodes();
    try {
      const url = await this.app.getAuthCodeUrl({
        scopes: options.scopes ?? this.resolved.userScopes,
        redirectUri: options.redirectUri,
        // MSAL sends code_challenge only when the method is set too (msal-node protocol/Authorize.ts).
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        state,
        ...(options.prompt ? { prompt: options.prompt } : {}),
        ...(options.loginHint ? { loginHint: options.loginHint } : {}),
      });
      return { url, state, codeVerifier: verifier };
    } catch (err) {
      throw toDynamicsError(err, 'Building the authorization URL', this.redact, this.network.lastFailure);
    }
  }

  /**
   * Completes an authorization-code sign-in. A `state` that differs from `expectedState` is
   * treated as a cross-site request forgery and rejected before any network call. Afterwards
   * {@link getToken} returns (and silently refreshes) this user's token.
   */
  async acquireTokenByCode(options: AcquireTokenByCodeOptions): Promise<TokenSet> {
    requireString(options?.code, 'code');
    requireString(options.codeVerifier, 'codeVerifier');
    requireString(options.redirectUri, 'redirectUri');
    if (!options.expectedState || !options.state || !safeEqual(options.state, options.expectedState)) {
      throw new AuthenticationError('Authorization response rejected: its state does not match the one stored for this sign-in (possible cross-site request forgery)', {
        code: ErrorCode.authenticationFailed,
      });
    }
    const generation = this.generation;
    try {
      const result = await this.app.acquireTokenByCode(
        {
          code: options.code,
          scopes: options.scopes ?? this.resolved.userScopes,
          redirectUri: options.redirectUri,
          codeVerifier: options.codeVerifier,
          state: options.expectedState,
        },
        { code: options.code, state: options.state },
      );
      return this.accept(result, generation, 'authorization_code');
    } catch (err) {
      throw toDynamicsError(err, 'Redeeming the authorization code', this.redact, this.network.lastFailure);
    }
  }

  /**
   * Signs a user in with the device-code flow (command-line tools). Needs a public client: a
   * provider configured without `clientSecret`/`clientCertificate`, on an msal-node that still
   * ships `PublicClientApplication` (see `publicClient.ts`).
   */
  async acquireTokenByDeviceCode(options: DeviceCodeOptions): Promise<TokenSet> {
    if (typeof options?.onCode !== 'function') throw new TypeError('acquireTokenByDeviceCode: options.onCode must be a function');
    const run = this.app.acquireTokenByDeviceCode?.bind(this.app);
    if (!run) {
      throw new ConfigurationError([{ name: 'clientSecret | clientCertificate', expected: 'neither, for device code: it is a public-client flow' }]);
    }
    throwIfAborted(options.abortSignal);
    const request = {
      scopes: this.resolved.userScopes,
      timeout: options.timeoutInSeconds,
      cancel: false,
      deviceCodeCallback: (r: { userCode: string; verificationUri: string; message: string; expiresIn: number }) =>
        options.onCode({ userCode: r.userCode, verificationUri: r.verificationUri, message: r.message, expiresInSeconds: r.expiresIn }),
    };
    // MSAL polls until `cancel` turns true (DeviceCodeClient checks it between polls).
    const onAbort = (): void => {
      request.cancel = true;
    };
    options.abortSignal?.addEventListener('abort', onAbort, { once: true });
    const generation = this.generation;
    try {
      const result = await raceAbort(run(request), options.abortSignal);
      return this.accept(result, generation, 'device_code');
    } catch (err) {
      throw toDynamicsError(err, 'Device-code sign-in', this.redact, this.network.lastFailure);
    } finally {
      options.abortSignal?.removeEventListener('abort', onAbort);
    }
  }

  /** Closes idle keep-alive connections to the authority. */
  close(): void {
    this.network.destroy();
  }

  private reset(): void {
    this.generation++;
    this.memo = undefined;
    this.account = undefined;
  }

  private track(p: Promise<TokenSet>, forced: boolean): Promise<TokenSet> {
    const tracked = p.finally(() => {
      if (forced) {
        if (this.inFlightForced === tracked) this.inFlightForced = undefined;
      } else if (this.inFlight === tracked) this.inFlight = undefined;
    });
    return tracked;
  }

  private async acquire(force: boolean): Promise<TokenSet> {
    const generation = this.generation;
    const { grant, appScopes } = this.resolved;
    if (grant === 'client_credentials' && !this.account) {
      const acquire = this.app.acquireTokenByClientCredential?.bind(this.app);
      if (!acquire) throw new ConfigurationError([{ name: 'clientSecret | clientCertificate', expected: 'a client credential for the client_credentials grant' }]);
      try {
        const result = await acquire({ scopes: appScopes, skipCache: force });
        return this.accept(result, generation, grant);
      } catch (err) {
        throw toDynamicsError(err, 'Client-credentials token request', this.redact, this.network.lastFailure);
      }
    }
    return this.acquireForUser(force, generation);
  }

  /** Silent (cache, then refresh token); on failure, sign in again with the configured grant. */
  private async acquireForUser(force: boolean, generation: number): Promise<TokenSet> {
    const scopes = this.resolved.userScopes;
    const account = this.account ?? (await this.findAccount());
    let lastError: unknown;
    if (account) {
      try {
        const result = await this.app.acquireTokenSilent({ account, scopes, forceRefresh: force });
        return this.accept(result, generation, 'silent');
      } catch (err) {
        if (err instanceof TransportFailure) throw toDynamicsError(err, 'Token refresh', this.redact);
        lastError = err;
        const mapped = toDynamicsError(err, 'Token refresh', this.redact, this.network.lastFailure);
        this.logger.warn('Refreshing the user token failed; signing in again with the configured grant', {
          code: mapped.code,
          entraErrorCodes: (mapped as AuthenticationError).entraErrorCodes,
        });
      }
    }

    const { refreshToken, username, password } = this.options;
    if (this.resolved.grant === 'refresh_token' && refreshToken) {
      try {
        // forceCache: without an account in the cache MSAL would cache nothing (protocol brief §1).
        const result = await this.app.acquireTokenByRefreshToken({ refreshToken, scopes, forceCache: true });
        return this.accept(result, generation, 'refresh_token');
      } catch (err) {
        if (err instanceof TransportFailure) throw toDynamicsError(err, 'Refresh-token grant', this.redact);
        lastError = err;
        if (!(username && password)) throw toDynamicsError(err, 'Refresh-token grant', this.redact, this.network.lastFailure);
        this.logger.warn('The configured refresh token was refused; signing in with username and password');
      }
    }
    if (username && password && (this.resolved.grant === 'password' || this.resolved.grant === 'refresh_token')) {
      try {
        const result = await this.app.acquireTokenByUsernamePassword({ username, password, scopes });
        return this.accept(result, generation, 'password');
      } catch (err) {
        throw toDynamicsError(err, 'Password grant', this.redact, this.network.lastFailure);
      }
    }
    if (lastError) throw toDynamicsError(lastError, 'Token refresh (sign in again: no user credential is configured)', this.redact, this.network.lastFailure);
    throw new AuthenticationError('No signed-in account: call acquireTokenByCode() or acquireTokenByDeviceCode() first, or configure username and password', {
      code: ErrorCode.authenticationFailed,
    });
  }

  private async findAccount(): Promise<AccountInfo | undefined> {
    let accounts: AccountInfo[];
    try {
      accounts = await this.app.getTokenCache().getAllAccounts();
    } catch (err) {
      this.logger.warn('Reading accounts from the token cache failed', { error: this.redact(String((err as Error)?.message ?? err)) });
      return undefined;
    }
    const wanted = this.options.username?.toLowerCase();
    const match = wanted ? accounts.find((a) => a.username.toLowerCase() === wanted) : accounts[0];
    if (match) this.account = match;
    return match;
  }

  private accept(result: AuthenticationResult | null, generation: number, via: string): TokenSet {
    if (!result || !result.accessToken || !result.expiresOn) {
      throw new AuthenticationError(`The ${via} response carried no access token or expiry`, { code: ErrorCode.malformedResponse });
    }
    if (result.account) {
      this.account = result.account;
      this.plugin?.setAccount?.(result.account.homeAccountId);
    }
    const set: TokenSet = {
      accessToken: result.accessToken,
      tokenType: 'Bearer',
      expiresOn: result.expiresOn,
      ...(result.refreshOn ? { refreshOn: result.refreshOn } : {}),
      scopes: [...result.scopes],
      ...(result.account ? { account: { username: result.account.username, homeAccountId: result.account.homeAccountId } } : {}),
    };
    const rt = result.account ? this.refreshTokenFor(result.account.homeAccountId) : undefined;
    if (rt) set.refreshToken = rt;
    const renewAt = Math.min(result.expiresOn.getTime() - RENEWAL_WINDOW_MS, result.refreshOn?.getTime() ?? Infinity);
    if (generation === this.generation) this.memo = { set, renewAt };
    this.logger.debug?.('Access token acquired', { via, fromCache: result.fromCache, expiresOn: result.expiresOn.toISOString() });
    return set;
  }

  private refreshTokenFor(homeAccountId: string): string | undefined {
    const store = this.app.getTokenCache().getKVStore() as Record<string, { credentialType?: string; homeAccountId?: string; clientId?: string; secret?: string }>;
    for (const entry of Object.values(store)) {
      if (entry?.credentialType === 'RefreshToken' && entry.homeAccountId === homeAccountId && entry.clientId === this.options.clientId && entry.secret) {
        return entry.secret;
      }
    }
    return undefined;
  }
}

function validate(o: MsalTokenProviderOptions): Resolved {
  const issues: ConfigurationIssue[] = [];
  if (!o || typeof o !== 'object') throw new ConfigurationError([{ name: 'options', expected: 'an object' }], 'Invalid MsalTokenProvider options');
  if (typeof o.clientId !== 'string' || !GUID.test(o.clientId)) issues.push({ name: 'clientId', expected: 'the application (client) id, a GUID' });
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
  if (issues.length || !where) throw new ConfigurationError(issues, 'Invalid MsalTokenProvider options');
  const scopes = o.scopes ? [...o.scopes] : undefined;
  return {
    ...where,
    grant,
    appScopes: scopes ?? [`${resource}/.default`],
    userScopes: scopes ?? [`${resource}/user_impersonation`],
  };
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function requireString(value: unknown, name: string): void {
  if (typeof value !== 'string' || !value) throw new TypeError(`${name}: expected a non-empty string`);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function abortError(): DynamicsError {
  return new DynamicsError('The token request was aborted', { code: ErrorCode.aborted });
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError();
}

/** Rejects this caller on abort without cancelling the shared acquisition other callers wait for. */
function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
