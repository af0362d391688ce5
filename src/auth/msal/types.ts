/** What {@link MsalTokenProvider}'s methods take and return, besides its options. */

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

/** What the user must be told to complete a device-code sign-in. */
export interface DeviceCodePrompt {
  /** The code to type in. */
  userCode: string;
  /** Where to type it. */
  verificationUri: string;
  /** Entra's ready-made instruction, e.g. "To sign in, use a web browser to open …". */
  message: string;
  expiresInSeconds: number;
}
