import type { AccountInfo, AuthenticationResult } from '@azure/msal-node';
import { createRedactor } from '../net/redact';
import type { PartitionedCachePlugin } from './cache/types';
import { cachePluginFor, createMsalApp } from './msal/app';
import { clearTokenCache, findAccount, loadTokenCache, refreshTokenFor } from './msal/cache';
import { acquireAppToken, acquireUserToken, authCodeUrl, readResult, redeemAuthCode, signInWithDeviceCode, type GrantContext } from './msal/grants';
import { resolveOptions, secretsOf, type MsalProviderConfig, type MsalTokenProviderOptions } from './msal/options';
import type { AcquireTokenByCodeOptions, AuthCodeUrl, AuthCodeUrlOptions, DeviceCodeOptions, TokenSet } from './msal/types';
import { HttpsNetworkClient } from './networkClient';
import type { MsalApp } from './publicClient';
import { requireCallDuration } from './durations';
import { SingleFlight, throwIfAborted } from './singleFlight';
import type { AccessToken, GetTokenOptions, GrantType, TokenProvider } from './types';

export type { MsalTokenProviderOptions } from './msal/options';
export type { AcquireTokenByCodeOptions, AuthCodeUrl, AuthCodeUrlOptions, DeviceCodeOptions, TokenSet } from './msal/types';

/** The token {@link MsalTokenProvider.getToken} hands out until `renewAt`. */
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
 * - Each request to the authority has a deadline (`timeoutInMs`), and each acquisition as a whole
 *   another (`acquisitionTimeoutInMs`); a caller bounds its own wait with `getToken({ timeoutInMs,
 *   abortSignal })` without cutting the acquisition short for the others.
 * - Tokens, secrets and passwords never reach an error or a log line, and none is reachable from
 *   the object: `util.inspect`, `JSON.stringify` and spreading show no field at all.
 *
 * The methods hand over to ./msal/: options (validation and defaults), app (MSAL application),
 * grants (one function per grant) and cache (token cache access).
 *
 * @throws ConfigurationError from the constructor, listing every invalid option.
 */
export class MsalTokenProvider implements TokenProvider {
  readonly #config: MsalProviderConfig;
  readonly #redact: (text: string) => string;
  readonly #network: HttpsNetworkClient;
  readonly #plugin?: PartitionedCachePlugin;
  readonly #app: MsalApp;
  readonly #flights: SingleFlight<TokenSet>;
  #account?: AccountInfo;
  #memo?: Memo;
  /** Bumped by cache resets so that an acquisition started before one does not repopulate the memo. */
  #generation = 0;

  constructor(options: MsalTokenProviderOptions) {
    const config = resolveOptions(options);
    this.#config = config;
    this.#redact = createRedactor(secretsOf(config));
    this.#network = new HttpsNetworkClient({
      ca: config.ca,
      proxy: config.proxy,
      retry: config.retry,
      timeoutInMs: config.timeoutInMs,
      logger: config.logger,
      redact: this.#redact,
    });
    this.#flights = new SingleFlight<TokenSet>({ acquisitionTimeoutInMs: config.acquisitionTimeoutInMs });
    this.#plugin = cachePluginFor(config);
    this.#app = createMsalApp(config, { network: this.#network, plugin: this.#plugin, redact: this.#redact });
  }

  /** The grant {@link getToken} uses (configured or inferred); undefined when only interactive sign-in (auth code, device code) is possible. */
  get grant(): GrantType | undefined {
    return this.#config.grant;
  }

  /** The scopes {@link getToken} requests. */
  get scopes(): string[] {
    return [...(this.#config.grant === 'client_credentials' && !this.#account ? this.#config.appScopes : this.#config.userScopes)];
  }

  /**
   * A bearer token for the Dataverse Web API, from the cache while it is outside MSAL's renewal window.
   * Concurrent callers share one acquisition; `abortSignal` and `timeoutInMs` end this caller's wait only.
   *
   * @throws TimeoutError (code `timeout`) when `timeoutInMs` or the provider's `acquisitionTimeoutInMs`
   *   passes; DynamicsError `aborted`; AuthenticationError when Entra refuses.
   */
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
    requireCallDuration(options.timeoutInMs, 'getToken options.timeoutInMs');
    if (!options.forceRefresh && this.#memo && Date.now() < this.#memo.renewAt) return { ...this.#memo.set };
    // Every request MSAL makes for this acquisition is bounded by its deadline and signal, which are
    // the acquisition's own: no caller's abort or timeout reaches a request others wait for.
    return { ...(await this.#flights.run((force, acquisition) => this.#network.within(acquisition, () => this.#acquire(force)), options)) };
  }

  /** The whole MSAL token cache as JSON (keep it as secret as a password: it holds refresh tokens). */
  async serializeCache(): Promise<string> {
    return this.#app.getTokenCache().serialize();
  }

  /**
   * Replaces the in-memory MSAL cache with `json` (from {@link serializeCache}).
   * @throws ConfigurationError when `json` is not a serialized MSAL cache.
   */
  async deserializeCache(json: string): Promise<void> {
    loadTokenCache(this.#app, json);
    this.#reset();
  }

  /** Forgets every token, in memory and (through the cache plugin) in the persistent cache. */
  async clearCache(): Promise<void> {
    this.#reset();
    await clearTokenCache(this.#app, this.#plugin);
  }

  /**
   * Starts an authorization-code sign-in with PKCE (S256): redirect the user to `url` and keep
   * `state` and `codeVerifier` in their session.
   */
  async getAuthCodeUrl(options: AuthCodeUrlOptions): Promise<AuthCodeUrl> {
    return authCodeUrl(this.#context(), options);
  }

  /**
   * Completes an authorization-code sign-in. A `state` that differs from `expectedState` is
   * treated as a cross-site request forgery and rejected before any network call. Afterwards
   * {@link getToken} returns (and silently refreshes) this user's token.
   */
  async acquireTokenByCode(options: AcquireTokenByCodeOptions): Promise<TokenSet> {
    return redeemAuthCode(this.#context(), options);
  }

  /**
   * Signs a user in with the device-code flow (command-line tools). Needs a public client: a
   * provider configured without `clientSecret`/`clientCertificate`, on an msal-node that still
   * ships `PublicClientApplication` (see `publicClient.ts`).
   */
  async acquireTokenByDeviceCode(options: DeviceCodeOptions): Promise<TokenSet> {
    return signInWithDeviceCode(this.#context(), options);
  }

  /** Closes idle keep-alive connections to the authority. */
  close(): void {
    this.#network.destroy();
  }

  async #acquire(force: boolean): Promise<TokenSet> {
    const context = this.#context();
    if (this.#config.grant === 'client_credentials' && !this.#account) return acquireAppToken(context, force);
    const account = this.#account ?? (await this.#findAccount());
    return acquireUserToken(context, account, force);
  }

  async #findAccount(): Promise<AccountInfo | undefined> {
    const match = await findAccount(this.#app, this.#config.username, this.#config.logger, this.#redact);
    if (match) this.#account = match;
    return match;
  }

  /** What a grant needs, with the cache generation of this moment: a result arriving after a reset is returned but not memoised. */
  #context(): GrantContext {
    const generation = this.#generation;
    return {
      app: this.#app,
      config: this.#config,
      redact: this.#redact,
      lastTransportFailure: () => this.#network.lastFailure,
      accept: (result, via) => this.#accept(result, generation, via),
    };
  }

  #accept(result: AuthenticationResult | null, generation: number, via: string): TokenSet {
    const { set, renewAt } = readResult(result, via, (homeAccountId) => refreshTokenFor(this.#app, homeAccountId, this.#config.clientId));
    const account = (result as AuthenticationResult).account;
    if (account) {
      this.#account = account;
      this.#plugin?.setAccount?.(account.homeAccountId);
    }
    if (generation === this.#generation) this.#memo = { set, renewAt };
    this.#config.logger.debug?.('Access token acquired', { via, fromCache: result?.fromCache, expiresOn: set.expiresOn.toISOString() });
    return set;
  }

  #reset(): void {
    this.#generation++;
    this.#memo = undefined;
    this.#account = undefined;
  }
}
