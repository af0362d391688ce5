/**
 * fromTokenCredential with @azure/identity's real ClientSecretCredential against the emulator.
 * The emulator's CA is trusted in-process through core-rest-pipeline's `tlsOptions.ca`.
 */
import { inspect } from 'node:util';
import { ClientSecretCredential } from '@azure/identity';
import { startTestEmulator } from '../helpers/emulator';
import type { Emulator } from '../../src/emulator';
import { AuthenticationError } from '../../src/errors';
import { fromTokenCredential, type TokenCredentialLike } from '../../src/auth';

describe('fromTokenCredential', () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(() => emulator.close());
  beforeEach(() => emulator.resetCounters());

  function credential(secret = emulator.client.clientSecret): ClientSecretCredential {
    return new ClientSecretCredential(emulator.tenantId, emulator.client.clientId, secret, {
      authorityHost: emulator.url,
      // Without it @azure/identity asks login.microsoftonline.com for instance discovery.
      disableInstanceDiscovery: true,
      tlsOptions: { ca: emulator.caPem },
    });
  }

  it('adapts ClientSecretCredential: 100 concurrent calls, one token request, then cached', async () => {
    const tokens = fromTokenCredential(credential(), { scopes: [`${emulator.url}/.default`] });
    const all = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()));
    expect(new Set(all.map((t) => t.token)).size).toBe(1);
    const aud = JSON.parse(Buffer.from(all[0].token.split('.')[1], 'base64url').toString()) as { aud: string };
    expect(aud.aud).toBe(emulator.url);
    for (let i = 0; i < 100; i++) await tokens.getToken();
    expect(emulator.counters.tokenRequests).toEqual({ client_credentials: 1 });
  });

  it('forceRefresh asks the credential again', async () => {
    let calls = 0;
    const counting: TokenCredentialLike = {
      getToken: async () => {
        calls++;
        return { token: `t${calls}`, expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const tokens = fromTokenCredential(counting, { scopes: ['x/.default'] });
    expect((await tokens.getToken()).token).toBe('t1');
    expect((await tokens.getToken()).token).toBe('t1');
    expect((await tokens.getToken({ forceRefresh: true })).token).toBe('t2');
  });

  it('renews a token inside the five-minute window', async () => {
    let calls = 0;
    const shortLived: TokenCredentialLike = {
      getToken: async () => ({ token: `t${++calls}`, expiresOnTimestamp: Date.now() + 200_000 }),
    };
    const tokens = fromTokenCredential(shortLived, { scopes: ['x/.default'] });
    await tokens.getToken();
    await tokens.getToken();
    expect(calls).toBe(2);
  });

  it('turns a credential failure into AuthenticationError without the secret', async () => {
    const secret = 'definitely-wrong-secret-42';
    const tokens = fromTokenCredential(credential(secret), { scopes: [`${emulator.url}/.default`] });
    const err = (await tokens.getToken().catch((e: unknown) => e)) as AuthenticationError;
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err.message).toContain('7000215');
    // The cause chain too (@azure/identity's own error), which only util.inspect walks.
    expect([JSON.stringify(err), String(err.stack), inspect(err, { depth: 10, showHidden: true })].join('\n')).not.toContain(secret);
  });

  it('rejects bad arguments at once', () => {
    expect(() => fromTokenCredential({} as TokenCredentialLike, { scopes: ['a'] })).toThrow(TypeError);
    expect(() => fromTokenCredential(credential(), { scopes: [] })).toThrow(/scopes/);
  });
});
