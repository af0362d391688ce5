/**
 * Live option sets: a purpose-built HTTPS server answers `$metadata` (gzip) and the
 * `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.<cast>?$expand=OptionSet`
 * queries the way Dataverse does (query-metadata-web-api.md), with option sets taken from the real
 * RetrieveMetadataChanges response for account. The emulator does not serve the metadata API, so
 * this is where the download path is proven.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import * as zlib from 'node:zlib';
import { generate } from '../../src/codegen';
import { createCertificates } from '../../src/emulator/cert';

const REAL = path.resolve(__dirname, '../../../shared/fixtures/real');
const METADATA = fs.readFileSync(path.join(__dirname, '../codegen/fixtures/small/metadata.xml'), 'utf8');
const TOKEN = 'test-token-not-a-secret';

interface Seen {
  path: string;
  authorization?: string;
}

let server: https.Server;
let url: string;
let caPem: string;
const seen: Seen[] = [];

beforeAll(async () => {
  const certs = await createCertificates();
  caPem = certs.caPem;
  const realAccount = JSON.parse(fs.readFileSync(path.join(REAL, 'retrievemetadatachanges-account.json'), 'utf8')) as {
    EntityMetadata: { Attributes: { LogicalName: string; SchemaName: string; AttributeType: string; OptionSet: unknown }[] }[];
  };
  const attributes = realAccount.EntityMetadata[0]!.Attributes;
  server = https.createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://127.0.0.1');
    seen.push({ path: decodeURIComponent(u.pathname) + decodeURIComponent(u.search), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: '0x80072560', message: 'The user is not a member of the organization.' } }));
      return;
    }
    if (u.pathname === '/api/data/v9.2/$metadata') {
      const body = zlib.gzipSync(METADATA);
      res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Encoding': 'gzip', 'Content-Length': body.length }).end(body);
      return;
    }
    const m = /^\/api\/data\/v9\.2\/EntityDefinitions\(LogicalName='([a-z_]+)'\)\/Attributes\/Microsoft\.Dynamics\.CRM\.(\w+)AttributeMetadata$/.exec(decodeURIComponent(u.pathname));
    if (m) {
      const type = m[2] === 'MultiSelectPicklist' ? 'Virtual' : m[2];
      const value =
        m[1] === 'account'
          ? attributes.filter((a) => a.AttributeType === type && (m[2] !== 'MultiSelectPicklist' || a.LogicalName === 'cdsify_multiselect')).map((a) => ({ LogicalName: a.LogicalName, SchemaName: a.SchemaName, OptionSet: a.OptionSet }))
          : [];
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ '@odata.context': 'x', value }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: '0x8006088a', message: `Resource not found for the segment '${u.pathname}'.` } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it('downloads gzip $metadata and the option sets of the selected tables, with the bearer token on every request', async () => {
  seen.length = 0;
  const auth = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const result = await generate({ url, auth, ca: caPem, entities: ['account', 'contact'], write: false });

  expect(seen.every((s) => s.authorization === `Bearer ${TOKEN}`)).toBe(true);
  expect(seen[0]!.path).toBe('/api/data/v9.2/$metadata');
  expect(seen.map((s) => s.path)).toContain(
    "/api/data/v9.2/EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName,SchemaName,AttributeType&$expand=OptionSet,GlobalOptionSet",
  );
  expect(seen.filter((s) => s.path.includes("LogicalName='contact'")).length).toBe(5);

  const account = result.files.find((f) => f.path === 'account.ts')!.content;
  expect(account).toContain(`// Option sets: ${url}/api/data/v9.2/EntityDefinitions (sha256 `);
  expect(account).toMatch(/export const AccountAccountCategoryCode = \{\n {2}PreferredCustomer: 1,\n {2}Standard: 2,\n\} as const;/);
  expect(account).toContain('accountcategorycode: AccountAccountCategoryCode | null;');
  expect(account).toContain("export const AccountDoNotPhoneLabels = { false: 'Allow', true: 'Do Not Allow' } as const;");
  expect(result.notes).toEqual([]);
});

it('a 401 from the service becomes an error with the service message and no token', async () => {
  const auth = { getToken: async () => ({ token: 'wrong-token-XYZ', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const err = (await generate({ url, auth, ca: caPem, write: false }).catch((e: unknown) => e)) as Error;
  expect(err.message).toMatch(/\$metadata answered 401 0x80072560: The user is not a member of the organization\./);
  // The token was sent (the 401 is the server's answer to it), and appears nowhere in the error.
  expect(seen.at(-1)?.authorization).toBe('Bearer wrong-token-XYZ');
  expect([String(err), err.stack, inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err)].join('\n')).not.toContain('wrong-token-XYZ');
});

it('refuses a server whose certificate is not trusted', async () => {
  const auth = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  await expect(generate({ url, auth, write: false })).rejects.toThrow(/download_failed|self-signed|unable to verify|certificate/i);
});
