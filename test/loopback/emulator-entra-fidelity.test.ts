/**
 * Validation Entra ID does that the emulator used to skip: a form or query parameter given twice,
 * `resource` on the v2 endpoint, and tenants it does not know (while the emulator's tenant, its
 * domains, `common` and `organizations` keep working, and `additionalTenantIds` adds tenants whose
 * tokens the Web API refuses).
 */
import type { Emulator } from '../../src/emulator';
import { httpsRequest, startTestEmulator, tokenRequest, type RawResponse } from '../helpers/emulator';

type Json = Record<string, unknown>;

function entraError(r: RawResponse): { status: number; error: unknown; codes: unknown; description: string } {
  const b = r.json as Json;
  return { status: r.status, error: b.error, codes: b.error_codes, description: String(b.error_description).split(' Trace ID:')[0] as string };
}

describe('emulator Entra ID fidelity', () => {
  let em: Emulator;
  const OTHER_TENANT = '0b0b0b0b-1111-4222-8333-444444444444';
  beforeAll(async () => {
    em = await startTestEmulator({ additionalTenantIds: [OTHER_TENANT] });
  });
  afterAll(async () => {
    await em.close();
  });

  const form = (tenant: string, text: string, v2 = true): Promise<RawResponse> =>
    httpsRequest(em, { method: 'POST', path: `/${tenant}/oauth2/${v2 ? 'v2.0/' : ''}token`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: text });
  const cc = (): URLSearchParams =>
    new URLSearchParams({ grant_type: 'client_credentials', client_id: em.client.clientId, client_secret: em.client.clientSecret, scope: `${em.url}/.default` });

  it('refuses a form with a parameter given twice (two client_ids) with invalid_request', async () => {
    const text = `${cc().toString()}&client_id=${encodeURIComponent('00000000-1111-2222-3333-444444444444')}`;
    expect(entraError(await form(em.tenantId, text))).toEqual({
      status: 400,
      error: 'invalid_request',
      codes: [9000411],
      description: "AADSTS9000411: The request is not properly formatted. The parameter 'client_id' is duplicated.",
    });
    const twice = await httpsRequest(em, { method: 'POST', path: `/${em.tenantId}/oauth2/v2.0/devicecode`, body: `client_id=${em.client.clientId}&scope=openid&scope=openid`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(entraError(twice).codes).toEqual([9000411]);
    const authorize = await httpsRequest(em, { path: `/${em.tenantId}/oauth2/v2.0/authorize?client_id=${em.client.clientId}&response_type=code&redirect_uri=http%3A%2F%2Flocalhost&scope=openid&login_hint=a&login_hint=b` });
    expect(authorize.status).toBe(400);
    expect(authorize.body).toContain("AADSTS9000411: The request is not properly formatted. The parameter &#39;login_hint&#39; is duplicated.");
  });

  it('refuses `resource` on the v2 endpoint (AADSTS901002)', async () => {
    const p = cc();
    p.set('resource', em.url);
    expect(entraError(await form(em.tenantId, p.toString())).codes).toEqual([901002]);
    // v1 takes it.
    const v1 = new URLSearchParams({ grant_type: 'client_credentials', client_id: em.client.clientId, client_secret: em.client.clientSecret, resource: em.url });
    expect((await form(em.tenantId, v1.toString(), false)).status).toBe(200);
  });

  it('refuses an unknown tenant as Entra does, from discovery and from the token endpoint', async () => {
    const unknown = '99999999-8888-4777-8666-555555555555';
    expect(entraError(await form(unknown, cc().toString()))).toEqual({
      status: 400,
      error: 'invalid_request',
      codes: [90002],
      description: `AADSTS90002: Tenant '${unknown}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    });
    const discovery = await httpsRequest(em, { path: `/${unknown}/v2.0/.well-known/openid-configuration` });
    expect(entraError(discovery)).toMatchObject({ status: 400, error: 'invalid_tenant', codes: [90002] });
    expect(entraError(await form('fabrikam.onmicrosoft.com', cc().toString())).codes).toEqual([90002]);
    expect(entraError(await form('00000000-0000-0000-0000-000000000000', cc().toString())).description).toContain('Tenant identifiers may not be an empty GUID.');
  });

  it('keeps the tenant, its domain, common and organizations working', async () => {
    for (const tenant of [em.tenantId, em.tenantId.toUpperCase(), 'contoso.onmicrosoft.com', 'organizations']) {
      const r = await tokenRequest(em, Object.fromEntries(cc()), { tenant });
      expect({ tenant, status: r.status }).toEqual({ tenant, status: 200 });
    }
    const common = await httpsRequest(em, { path: '/common/v2.0/.well-known/openid-configuration' });
    expect(common.status).toBe(200);
  });

  it('issues tokens for an additional tenant, which the Web API refuses (the environment belongs to one tenant)', async () => {
    const r = await tokenRequest(em, Object.fromEntries(cc()), { tenant: OTHER_TENANT });
    expect(r.status).toBe(200);
    const access = (r.json as { access_token: string }).access_token;
    expect(JSON.parse(Buffer.from(access.split('.')[1] as string, 'base64url').toString()).tid).toBe(OTHER_TENANT);
    const who = await httpsRequest(em, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${access}` } });
    expect(who.status).toBe(401);
  });

  it('refuses an additional tenant that is not a GUID', async () => {
    await expect(startTestEmulator({ additionalTenantIds: ['fabrikam'] })).rejects.toThrow(/EmulatorOptions\.additionalTenantIds\[0\] must be a GUID/);
  });
});
