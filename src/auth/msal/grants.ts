/**
 * The grants of {@link MsalTokenProvider}, one function each: client credentials, the user's token
 * (silent, then the configured refresh token, then the password), authorization code with PKCE and
 * device code. Each maps whatever MSAL throws to a {@link DynamicsError} and hands a result to the
 * provider through {@link GrantContext.accept}.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CryptoProvider, type AccountInfo, type AuthenticationResult } from '@azure/msal-node';
import { AuthenticationError, ConfigurationError, ErrorCode, type DynamicsError } from '../../errors';
import { toDynamicsError } from '../errors';
import { TransportFailure } from '../networkClient';
import type { MsalApp } from '../publicClient';
import { raceAbort, throwIfAborted } from '../singleFlight';
import type { MsalProviderConfig } from './options';
import type { AcquireTokenByCodeOptions, AuthCodeUrl, AuthCodeUrlOptions, DeviceCodeOptions, TokenSet } from './types';

/** What a grant needs from its provider. */
export interface GrantContext {
  readonly app: MsalApp;
  readonly config: MsalProviderConfig;
  readonly redact: (text: string) => string;
  /** The token endpoint's last transport failure: it explains MSAL's generic errors. */
  lastTransportFailure(): DynamicsError | undefined;
  /**
   * Turns MSAL's result into a {@link TokenSet} and records it (account, memo).
   * @throws AuthenticationError `malformed_response` when it carries no access token or expiry.
   */
  accept(result: AuthenticationResult | null, via: string): TokenSet;
}

/** MSAL renews an access token this long before it expires (`DEFAULT_TOKEN_RENEWAL_OFFSET_SEC`, not configurable in msal-node). */
export const RENEWAL_WINDOW_MS = 300_000;

/**
 * The {@link TokenSet} of an MSAL result and when to renew it: at MSAL's renewal window or at
 * Entra's `refresh_in`, whichever comes first.
 *
 * @throws AuthenticationError `malformed_response` when the result carries no access token or expiry.
 */
export function readResult(result: AuthenticationResult | null, via: string, refreshToken: (homeAccountId: string) => string | undefined): { set: TokenSet; renewAt: number } {
  if (!result || typeof result.accessToken !== 'string' || !result.accessToken || !(result.expiresOn instanceof Date) || !Number.isFinite(result.expiresOn.getTime())) {
    throw new AuthenticationError(`The ${via} response carried no access token or expiry`, { code: ErrorCode.malformedResponse });
  }
  // A refresh time MSAL could not compute (an Invalid Date) is dropped: MSAL's renewal window still applies.
  const refreshOn = result.refreshOn instanceof Date && Number.isFinite(result.refreshOn.getTime()) ? result.refreshOn : undefined;
  const set: TokenSet = {
    accessToken: result.accessToken,
    tokenType: 'Bearer',
    expiresOn: result.expiresOn,
    ...(refreshOn ? { refreshOn } : {}),
    scopes: [...result.scopes],
    ...(result.account ? { account: { username: result.account.username, homeAccountId: result.account.homeAccountId } } : {}),
  };
  const rt = result.account ? refreshToken(result.account.homeAccountId) : undefined;
  if (rt) set.refreshToken = rt;
  const renewAt = Math.min(result.expiresOn.getTime() - RENEWAL_WINDOW_MS, refreshOn?.getTime() ?? Infinity);
  return { set, renewAt };
}

/** Client credentials: the application's own token. `force` skips MSAL's cache. */
export async function acquireAppToken(ctx: GrantContext, force: boolean): Promise<TokenSet> {
  const acquire = ctx.app.acquireTokenByClientCredential?.bind(ctx.app);
  if (!acquire) throw new ConfigurationError([{ name: 'clientSecret | clientCertificate', expected: 'a client credential for the client_credentials grant' }]);
  try {
    const result = await acquire({ scopes: [...ctx.config.appScopes], skipCache: force });
    return ctx.accept(result, 'client_credentials');
  } catch (err) {
    throw toDynamicsError(err, 'Client-credentials token request', ctx.redact, ctx.lastTransportFailure());
  }
}

/**
 * The user's token: silently (MSAL's cache, then its refresh token) for a known `account`; when that
 * fails or there is none, signing in again with the configured refresh token, then the configured
 * user name and password. A transport failure (the token endpoint unreachable) ends it at once: a
 * second grant would fail the same way.
 */
export async function acquireUserToken(ctx: GrantContext, account: AccountInfo | undefined, force: boolean): Promise<TokenSet> {
  const { app, config, redact } = ctx;
  const scopes = [...config.userScopes];
  let lastError: unknown;
  if (account) {
    try {
      const result = await app.acquireTokenSilent({ account, scopes, forceRefresh: force });
      return ctx.accept(result, 'silent');
    } catch (err) {
      if (err instanceof TransportFailure) throw toDynamicsError(err, 'Token refresh', redact);
      lastError = err;
      const mapped = toDynamicsError(err, 'Token refresh', redact, ctx.lastTransportFailure());
      config.logger.warn('Refreshing the user token failed; signing in again with the configured grant', {
        code: mapped.code,
        entraErrorCodes: (mapped as AuthenticationError).entraErrorCodes,
      });
    }
  }

  const { refreshToken, username, password } = config;
  if (config.grant === 'refresh_token' && refreshToken) {
    try {
      // forceCache: without an account in the cache MSAL would cache nothing from a refresh-token
      // grant (msal-node `RefreshTokenRequest.forceCache`, lib/msal-node/src/request/RefreshTokenRequest.ts).
      const result = await app.acquireTokenByRefreshToken({ refreshToken, scopes, forceCache: true });
      return ctx.accept(result, 'refresh_token');
    } catch (err) {
      if (err instanceof TransportFailure) throw toDynamicsError(err, 'Refresh-token grant', redact);
      lastError = err;
      if (!(username && password)) throw toDynamicsError(err, 'Refresh-token grant', redact, ctx.lastTransportFailure());
      config.logger.warn('The configured refresh token was refused; signing in with username and password');
    }
  }
  if (username && password && (config.grant === 'password' || config.grant === 'refresh_token')) {
    try {
      const result = await app.acquireTokenByUsernamePassword({ username, password, scopes });
      return ctx.accept(result, 'password');
    } catch (err) {
      throw toDynamicsError(err, 'Password grant', redact, ctx.lastTransportFailure());
    }
  }
  if (lastError) throw toDynamicsError(lastError, 'Token refresh (sign in again: no user credential is configured)', redact, ctx.lastTransportFailure());
  throw new AuthenticationError('No signed-in account: call acquireTokenByCode() or acquireTokenByDeviceCode() first, or configure username and password', {
    code: ErrorCode.authenticationFailed,
  });
}

/** The authorization URL of a sign-in with PKCE (S256), and the `state` and verifier to keep for its redirect. */
export async function authCodeUrl(ctx: GrantContext, options: AuthCodeUrlOptions): Promise<AuthCodeUrl> {
  requireString(options?.redirectUri, 'redirectUri');
  const state = options.state ?? randomBytes(32).toString('base64url');
  const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
  try {
    const url = await ctx.app.getAuthCodeUrl({
      scopes: options.scopes ?? [...ctx.config.userScopes],
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
    throw toDynamicsError(err, 'Building the authorization URL', ctx.redact, ctx.lastTransportFailure());
  }
}

/**
 * Redeems an authorization code. A `state` that differs from `expectedState` is a cross-site request
 * forgery (RFC 6749 §10.12) and is rejected before any network call, in constant time.
 */
export async function redeemAuthCode(ctx: GrantContext, options: AcquireTokenByCodeOptions): Promise<TokenSet> {
  requireString(options?.code, 'code');
  requireString(options.codeVerifier, 'codeVerifier');
  requireString(options.redirectUri, 'redirectUri');
  if (!options.expectedState || !options.state || !safeEqual(options.state, options.expectedState)) {
    throw new AuthenticationError('Authorization response rejected: its state does not match the one stored for this sign-in (possible cross-site request forgery)', {
      code: ErrorCode.authenticationFailed,
    });
  }
  try {
    const result = await ctx.app.acquireTokenByCode(
      {
        code: options.code,
        scopes: options.scopes ?? [...ctx.config.userScopes],
        redirectUri: options.redirectUri,
        codeVerifier: options.codeVerifier,
        state: options.expectedState,
      },
      { code: options.code, state: options.state },
    );
    return ctx.accept(result, 'authorization_code');
  } catch (err) {
    throw toDynamicsError(err, 'Redeeming the authorization code', ctx.redact, ctx.lastTransportFailure());
  }
}

/** Device-code sign-in; needs the public client (see ../publicClient.ts). */
export async function signInWithDeviceCode(ctx: GrantContext, options: DeviceCodeOptions): Promise<TokenSet> {
  if (typeof options?.onCode !== 'function') throw new TypeError('acquireTokenByDeviceCode: options.onCode must be a function');
  const run = ctx.app.acquireTokenByDeviceCode?.bind(ctx.app);
  if (!run) {
    throw new ConfigurationError([{ name: 'clientSecret | clientCertificate', expected: 'neither, for device code: it is a public-client flow' }]);
  }
  throwIfAborted(options.abortSignal);
  const request = {
    scopes: [...ctx.config.userScopes],
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
  try {
    const result = await raceAbort(run(request), options.abortSignal);
    return ctx.accept(result, 'device_code');
  } catch (err) {
    throw toDynamicsError(err, 'Device-code sign-in', ctx.redact, ctx.lastTransportFailure());
  } finally {
    options.abortSignal?.removeEventListener('abort', onAbort);
  }
}

function requireString(value: unknown, name: string): void {
  if (typeof value !== 'string' || !value) throw new TypeError(`${name}: expected a non-empty string`);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
