/**
 * Validation Dataverse does that the emulator used to skip, so that a client which works against the
 * emulator does not fail (or, worse, succeed differently) in production: column lengths, duplicated
 * query options, numbers out of their column's range, and `$batch` operations addressed to another
 * host or with URLs too long. (Entra ID's side: emulator-entra-fidelity.test.ts.)
 */
import type { Emulator } from '../../src/emulator';
import { DEFAULT_METADATA_XML } from '../../src/emulator/schema/default-metadata';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

const MiB = 1024 * 1024;

/** The default schema with a `MaxLength` facet on account.name (Dataverse's own length for it is 160). */
const WITH_FACETS = DEFAULT_METADATA_XML.replace(
  /(<EntityType Name="account"[^>]*>[\s\S]*?)<Property Name="name" Type="Edm.String"([^/]*)\/>/,
  '$1<Property Name="name" Type="Edm.String"$2 MaxLength="160"/>',
);

function errorOf(r: RawResponse): { status: number; code?: string; message?: string } {
  const e = (r.json as { error?: { code: string; message: string } } | undefined)?.error;
  return { status: r.status, ...(e ? { code: e.code, message: e.message } : {}) };
}

/** A `$batch` body of GET/PATCH/POST operations (no change sets). */
function batchBody(parts: { method: string; url: string; body?: unknown }[]): string {
  const lines: string[] = [];
  for (const p of parts) {
    lines.push('--batch_f', 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', '', `${p.method} ${p.url} HTTP/1.1`);
    if (p.body !== undefined) lines.push('Content-Type: application/json', '', JSON.stringify(p.body));
    else lines.push('');
  }
  lines.push('--batch_f--', '');
  return lines.join('\r\n');
}

describe('emulator fidelity', () => {
  let em: Emulator;
  let token: string;
  beforeAll(async () => {
    em = await startTestEmulator({ metadata: WITH_FACETS });
    token = await appToken(em);
  });
  afterAll(async () => {
    await em.close();
  });

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> =>
    httpsRequest(em, {
      method,
      path: `/api/data/v9.2/${path}`,
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  const batch = (parts: { method: string; url: string; body?: unknown }[]): Promise<RawResponse> =>
    api('POST', '$batch', batchBody(parts), { 'Content-Type': 'multipart/mixed; boundary=batch_f', Prefer: 'odata.continue-on-error' });

  describe('MaxLength', () => {
    const tooLong = {
      status: 400,
      code: '0x80044331',
      message: "A validation error occurred.  The length of the 'name' attribute of the 'account' entity exceeded the maximum allowed length of '160'.",
    };

    it('enforces the CSDL MaxLength facet on create, update, upsert and single-property writes', async () => {
      expect(errorOf(await api('POST', 'accounts', { name: 'n'.repeat(161) }))).toEqual(tooLong);
      expect((await api('POST', 'accounts', { name: 'n'.repeat(160), accountnumber: 'ML-1' })).status).toBe(204);
      expect(errorOf(await api('PATCH', "accounts(accountnumber='ML-1')", { name: 'n'.repeat(161) }))).toEqual(tooLong);
      expect(errorOf(await api('PATCH', "accounts(accountnumber='ML-NEW')", { name: 'n'.repeat(161) }))).toEqual(tooLong);
      const id = em.store.rows('accounts').find((a) => a['accountnumber'] === 'ML-1')?.['accountid'] as string;
      expect(errorOf(await api('PUT', `accounts(${id})/name`, { value: 'n'.repeat(161) }))).toEqual(tooLong);
      expect(em.store.rows('accounts').map((a) => a['accountnumber'])).toEqual(['ML-1']);
    });

    it('enforces it inside a $batch, as that operation\'s 400', async () => {
      const r = await batch([
        { method: 'POST', url: `${em.apiUrl}/accounts`, body: { name: 'n'.repeat(161) } },
        { method: 'POST', url: `${em.apiUrl}/accounts`, body: { name: 'fine', accountnumber: 'ML-2' } },
      ]);
      expect(r.status).toBe(200);
      expect(r.body).toContain(JSON.stringify({ error: { code: tooLong.code, message: tooLong.message } }));
      expect(em.store.rows('accounts').some((a) => a['accountnumber'] === 'ML-2')).toBe(true);
    });

    it('refuses a 50 MB value in a column without a facet, naming the column and the largest length Dataverse stores', async () => {
      const r = await api('POST', 'accounts', { name: 'big', description: 'd'.repeat(50 * MiB) });
      expect(errorOf(r)).toEqual({
        status: 400,
        code: '0x80044331',
        message: "A validation error occurred.  The length of the 'description' attribute of the 'account' entity exceeded the maximum allowed length of '1048576'.",
      });
      expect(em.store.rows('accounts').some((a) => a['name'] === 'big')).toBe(false);
    });
  });

  describe('query options', () => {
    it('refuses a system query option given twice', async () => {
      for (const option of ['$filter', '$top', '$select', '$orderby']) {
        const value = option === '$top' ? '1' : option === '$filter' ? 'statecode eq 0' : 'name';
        const r = await api('GET', `accounts?${option}=${encodeURIComponent(value)}&${option}=${encodeURIComponent(value)}`);
        expect(errorOf(r)).toEqual({ status: 400, code: '0x0', message: `Query option '${option}' was specified more than once, but it must be specified at most once.` });
      }
      const meta = await api('GET', "EntityDefinitions(LogicalName='account')?$select=LogicalName&$select=SchemaName");
      expect(errorOf(meta).status).toBe(400);
      // Custom (non-$) parameters may repeat.
      expect((await api('GET', 'accounts?$top=1&x=1&x=2')).status).not.toBe(500);
    });
  });

  describe('numbers out of range', () => {
    it('refuses a literal that overflows a double (1e999) with ODataLib\'s 400', async () => {
      expect(errorOf(await api('GET', `accounts?$filter=${encodeURIComponent('statecode eq 1e999')}`))).toEqual({
        status: 400,
        code: '0x80060888',
        message: "Unrecognized 'Edm.Double' literal '1e999' at '13' in 'statecode eq 1e999'.",
      });
      expect(errorOf(await api('GET', `accounts?$filter=${encodeURIComponent('revenue lt -1e999')}`)).status).toBe(400);
    });

    it('refuses a literal outside the range of the column it is compared with', async () => {
      expect(errorOf(await api('GET', `accounts?$filter=${encodeURIComponent('statecode eq 3000000000')}`))).toEqual({
        status: 400,
        code: '0x80040203',
        message: "Condition for attribute 'account.statecode': expected argument(s) of type 'System.Int32' but received 'System.Int64'.",
      });
      expect(errorOf(await api('GET', `accounts?$filter=${encodeURIComponent("Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['0','1e999'])")}`)).status).toBe(400);
      expect(errorOf(await api('GET', `accounts?$filter=${encodeURIComponent("Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['0','9999999999'])")}`)).status).toBe(400);
      expect((await api('GET', `accounts?$filter=${encodeURIComponent('statecode eq 2147483647 or revenue gt 1e20')}`)).status).toBe(200);
    });

    it('refuses body numbers outside their column\'s type (JSON 1e999 is Infinity)', async () => {
      expect(errorOf(await api('POST', 'accounts', '{"name":"inf","revenue":1e999}')).status).toBe(400);
      expect(errorOf(await api('POST', 'accounts', '{"name":"big","numberofemployees":3000000000}')).status).toBe(400);
      expect(em.store.rows('accounts').some((a) => a['name'] === 'inf' || a['name'] === 'big')).toBe(false);
    });
  });

  describe('$batch operations for another host', () => {
    it('answers an operation addressed to another host with its own 400 and serves the others', async () => {
      const r = await batch([
        { method: 'POST', url: 'https://evil.example.com/api/data/v9.2/accounts', body: { name: 'elsewhere' } },
        { method: 'GET', url: `http://127.0.0.1:${em.port}/api/data/v9.2/accounts?$top=1` },
        { method: 'GET', url: `${em.apiUrl.toUpperCase().replace('/API/DATA/V9.2', '/api/data/v9.2')}/accounts?$top=1` },
      ]);
      expect(r.status).toBe(200);
      expect(r.body).toContain("The request URI 'https://evil.example.com/api/data/v9.2/accounts' is not valid because it is not based on");
      expect(r.body.match(/HTTP\/1\.1 400/g)).toHaveLength(2);
      expect(r.body.match(/HTTP\/1\.1 200/g)).toHaveLength(1);
      expect(em.store.rows('accounts').some((a) => a['name'] === 'elsewhere')).toBe(false);
    });

    it('answers an operation URL longer than 65,536 characters with 414', async () => {
      const r = await batch([{ method: 'GET', url: `${em.apiUrl}/accounts?$filter=${encodeURIComponent(`name eq '${'a'.repeat(66_000)}'`)}` }]);
      expect(r.body).toContain('HTTP/1.1 414 URI Too Long');
    });
  });
});
