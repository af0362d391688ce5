/**
 * Authorization code with PKCE and device code, with the real MSAL against the emulator.
 * The browser's part (following /authorize to the redirect) is done with node:https.
 */
import { startTestEmulator, httpsRequest } from '../helpers/emulator';
import type { Emulator } from '../../src/emulator';
import { AuthenticationError } from '../../src/errors';
import { MsalTokenProvider, type DeviceCodePrompt, type MsalTokenProviderOptions } from '../../src/auth';

const REDIRECT_URI = 'https://app.example.test/auth/callback';

describe('interactive sign-in', () => {
  let emulator: Emulator;
  const providers: MsalTokenProvider[] = [];

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(async () => {
    for (const p of providers) p.close();
    await emulator.close();
  });
  beforeEach(() => emulator.resetCounters());

  function provider(extra: Partial<MsalTokenProviderOptions> = {}): MsalTokenProvider {
    const p = new MsalTokenProvider({
      authority: emulator.authority,
      clientId: emulator.client.clientId,
      clientSecret: emulator.client.clientSecret,
      resource: emulator.url,
      ca: emulator.caPem,
      ...extra,
    });
    providers.push(p);
    return p;
  }

  /** What the browser does: GET /authorize, follow the 302 to the redirect URI, read code and state. */
  async function signIn(url: string): Promise<{ code: string; state: string }> {
    const res = await httpsRequest(emulator, { path: url });
    expect(res.status).toBe(302);
    const location = new URL(String(res.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    return { code: location.searchParams.get('code') ?? '', state: location.searchParams.get('state') ?? '' };
  }

  describe('authorization code with PKCE', () => {
    it('signs the user in, then getToken serves and refreshes that user', async () => {
      const p = provider();
      const start = await p.getAuthCodeUrl({ redirectUri: REDIRECT_URI });
      const url = new URL(start.url);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get('state')).toBe(start.state);
      expect(url.searchParams.get('scope')).toContain(`${emulator.url}/user_impersonation`);
      expect(start.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);

      const { code, state } = await signIn(start.url);
      const set = await p.acquireTokenByCode({ code, state, expectedState: start.state, codeVerifier: start.codeVerifier, redirectUri: REDIRECT_URI });
      expect(set.account?.username).toBe(emulator.user.username);
      expect(set.refreshToken).toEqual(expect.any(String));
      expect(emulator.counters.tokenRequests).toEqual({ authorization_code: 1 });

      expect((await p.getToken()).token).toBe(set.accessToken);
      await p.getToken({ forceRefresh: true });
      expect(emulator.counters.tokenRequests).toEqual({ authorization_code: 1, refresh_token: 1 });
    });

    it('rejects a wrong code verifier with the AADSTS code', async () => {
      const p = provider();
      const start = await p.getAuthCodeUrl({ redirectUri: REDIRECT_URI });
      const { code, state } = await signIn(start.url);
      const other = await provider().getAuthCodeUrl({ redirectUri: REDIRECT_URI });
      const err = (await p
        .acquireTokenByCode({ code, state, expectedState: start.state, codeVerifier: other.codeVerifier, redirectUri: REDIRECT_URI })
        .catch((e: unknown) => e)) as AuthenticationError;
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.message).toContain('invalid_grant');
      expect(err.entraErrorCodes?.length).toBeGreaterThan(0);
      expect(err.message).not.toContain(other.codeVerifier);
      expect(emulator.counters.tokenRequests).toEqual({ authorization_code: 1 });
    });

    it('rejects a state mismatch as CSRF before any network call', async () => {
      const p = provider();
      const start = await p.getAuthCodeUrl({ redirectUri: REDIRECT_URI, state: 'expected-state' });
      const { code } = await signIn(start.url);
      emulator.resetCounters();
      const err = (await p
        .acquireTokenByCode({ code, state: 'attacker-state', expectedState: start.state, codeVerifier: start.codeVerifier, redirectUri: REDIRECT_URI })
        .catch((e: unknown) => e)) as AuthenticationError;
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.message).toMatch(/cross-site request forgery/);
      expect(emulator.counters.tokenRequestsTotal).toBe(0);
      expect(emulator.counters.discoveryRequests).toBe(0);
    });
  });

  describe('device code (public client through the seam)', () => {
    it('shows the code, polls until the user signed in, then serves the token silently', async () => {
      const p = provider({ clientSecret: undefined });
      expect(p.grant).toBeUndefined();
      await expect(p.getToken()).rejects.toThrow(/No signed-in account/);
      const prompts: DeviceCodePrompt[] = [];
      const set = await p.acquireTokenByDeviceCode({ onCode: (prompt) => prompts.push(prompt) });
      expect(prompts).toHaveLength(1);
      expect(prompts[0].message).toContain(prompts[0].userCode);
      expect(prompts[0].verificationUri).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
      expect(set.account?.username).toBe(emulator.user.username);
      expect(emulator.counters.tokenRequests.device_code).toBe(2);
      expect((await p.getToken()).token).toBe(set.accessToken);
      await p.getToken({ forceRefresh: true });
      expect(emulator.counters.tokenRequests.refresh_token).toBe(1);
    });

    it('is refused on a confidential provider', async () => {
      await expect(provider().acquireTokenByDeviceCode({ onCode: () => undefined })).rejects.toThrow(/public-client flow/);
    });
  });
});
