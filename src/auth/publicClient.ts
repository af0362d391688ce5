/**
 * The one place that knows which MSAL application class backs a provider.
 *
 * msal-node's next major removes `PublicClientApplication` and with it the device-code flow
 * (`lib/msal-node/docs/v7-migration.md` on the dev branch), while `ConfidentialClientApplication`
 * keeps client credentials, auth code, refresh and ROPC. Everything else in `src/auth/` talks to
 * the structural {@link MsalApp}; only this module names the public client, and it looks it up
 * at run time so that a build against an MSAL without it still compiles and fails with a clear
 * error only when device code (or a secret-less provider) is actually used.
 */
import * as msal from '@azure/msal-node';
import type {
  AuthenticationResult,
  AuthorizationCodeRequest,
  AuthorizationUrlRequest,
  ClientCredentialRequest,
  Configuration,
  DeviceCodeRequest,
  RefreshTokenRequest,
  SilentFlowRequest,
  TokenCache,
  UsernamePasswordRequest,
} from '@azure/msal-node';
import { ConfigurationError } from '../errors';

export type { DeviceCodePrompt } from './msal/types';

/** What the provider needs from an MSAL client application. */
export interface MsalApp {
  readonly kind: 'confidential' | 'public';
  acquireTokenByClientCredential?(request: ClientCredentialRequest): Promise<AuthenticationResult | null>;
  acquireTokenByDeviceCode?(request: DeviceCodeRequest): Promise<AuthenticationResult | null>;
  acquireTokenSilent(request: SilentFlowRequest): Promise<AuthenticationResult>;
  acquireTokenByUsernamePassword(request: UsernamePasswordRequest): Promise<AuthenticationResult | null>;
  acquireTokenByRefreshToken(request: RefreshTokenRequest): Promise<AuthenticationResult | null>;
  acquireTokenByCode(request: AuthorizationCodeRequest, payload?: { code: string; state?: string }): Promise<AuthenticationResult>;
  getAuthCodeUrl(request: AuthorizationUrlRequest): Promise<string>;
  getTokenCache(): TokenCache;
  clearCache(): void;
}

/** A confidential client (secret or certificate): every grant but device code. */
export function createConfidentialApp(config: Configuration): MsalApp {
  const app = new msal.ConfidentialClientApplication(config);
  return Object.assign(app, { kind: 'confidential' as const });
}

type PublicClientCtor = new (config: Configuration) => Omit<MsalApp, 'kind' | 'acquireTokenByClientCredential'> & {
  acquireTokenByDeviceCode(request: DeviceCodeRequest): Promise<AuthenticationResult | null>;
};

/**
 * A public client (no secret): password, refresh token, auth code and device code.
 * @throws ConfigurationError when the installed msal-node no longer has `PublicClientApplication`.
 */
export function createPublicApp(config: Configuration): MsalApp {
  const Ctor = (msal as unknown as Record<string, unknown>)['PublicClientApplication'] as PublicClientCtor | undefined;
  if (typeof Ctor !== 'function') {
    throw new ConfigurationError([
      {
        name: 'clientSecret | clientCertificate',
        expected: 'a client credential: the installed @azure/msal-node has no PublicClientApplication, so secret-less (public client) flows such as device code are unavailable',
      },
    ]);
  }
  const app = new Ctor(config);
  return Object.assign(app, { kind: 'public' as const });
}
