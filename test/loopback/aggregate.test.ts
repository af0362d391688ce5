/**
 * Issue 13, items 3 and 4: aggregation with `$apply`. `client.aggregate()` against the emulator (the
 * real MSAL and axios) builds `filter`/`groupby`/`aggregate`, and its rows carry the groups (the
 * `{table}_{column}` key for a navigation property's column, no key for the null group) and the
 * aggregates by alias; the emulator's answer has the documented shape over plain HTTPS; more than
 * 50,000 source rows fail with `8004E023` and a message that says what to do.
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import type { Emulator } from '../../src/emulator';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { buildApply } from '../../src/odata/apply';
import { model, type Schema } from '../../generated';
import { appToken, httpsRequest, startTestEmulator } from '../helpers/emulator';
import { misbehave, startHostileServer, staticToken } from '../helpers/hostile';

let emulator: Emulator;
let client: DynamicsClient<Schema>;
let token: string;

beforeAll(async () => {
  emulator = await startTestEmulator();
  token = await appToken(emulator);
  client = new DynamicsClient<Schema>({ url: emulator.url, ca: emulator.caPem, auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret }, model });
  const [jim, ana] = emulator.store.insert('contacts', [{ fullname: 'Jim Glynn (sample)' }, { fullname: 'Ana Ng' }]);
  const primary = (id: string | undefined) => ({ _primarycontactid_value: id, '_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'contact' });
  emulator.store.insert('accounts', [
    { name: 'A', revenue: 100, statuscode: 1, accountcategorycode: 1, ...primary(jim) },
    { name: 'B', revenue: 300, statuscode: 1, accountcategorycode: 1, ...primary(jim) },
    { name: 'C', revenue: 40000, statuscode: 2, ...primary(ana) },
    { name: 'D', revenue: null, statuscode: 1 },
  ]);
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

describe('client.aggregate()', () => {
  it('groups by a column and a navigation property\'s column; the latter comes back as {table}_{column}', async () => {
    const rows = await client.aggregate('accounts', {
      groupBy: ['statuscode', 'primarycontactid/fullname'],
      aggregate: { total: { sum: 'revenue' }, mean: { average: 'revenue' }, low: { min: 'revenue' }, high: { max: 'revenue' }, n: { count: true } },
    });
    expect(rows).toEqual([
      { statuscode: 1, n: 1 },
      { statuscode: 1, contact_fullname: 'Jim Glynn (sample)', total: 400, mean: 200, low: 100, high: 300, n: 2 },
      { statuscode: 2, contact_fullname: 'Ana Ng', total: 40000, mean: 40000, low: 40000, high: 40000, n: 1 },
    ]);
    const first = rows[1];
    // Typed: the group keys and aggregates are on the row with their types.
    const name: string | undefined = first?.contact_fullname;
    const total: number | undefined = first?.total;
    expect([name, total]).toEqual(['Jim Glynn (sample)', 400]);
  });

  it('filters first (typed like list()), aggregates without groups into one row, and lists distinct values with groupBy alone', async () => {
    expect(await client.aggregate('accounts', { filter: { statuscode: 1, revenue: { gt: 0 } }, aggregate: { total: { sum: 'revenue' }, n: { count: true } } })).toEqual([{ total: 400, n: 2 }]);
    expect(await client.aggregate('accounts', { groupBy: ['accountcategorycode'] })).toEqual([{}, { accountcategorycode: 1 }]);
  });

  it('asks for formatted values when told to', async () => {
    const rows = await client.aggregate('accounts', { groupBy: ['statuscode'], aggregate: { count: { count: true } } }, { annotations: 'OData.Community.Display.V1.FormattedValue' });
    expect(rows[0]).toEqual({ 'statuscode@OData.Community.Display.V1.FormattedValue': 'Active', statuscode: 1, 'count@OData.Community.Display.V1.FormattedValue': '3', count: 3 });
  });

  it('refuses what $apply cannot express before anything is sent, naming it', () => {
    expect(() => buildApply({ filter: { statuscode: 1 } })).toThrow(/^query: expected groupBy, aggregate or both/);
    expect(() => buildApply({ groupBy: [] })).toThrow(/^query\.groupBy: expected a non-empty array/);
    expect(() => buildApply({ groupBy: ['a/b/c'] })).toThrow(/^query\.groupBy\[0\]: expected a column/);
    expect(() => buildApply({ aggregate: { total: { median: 'revenue' } as never } })).toThrow(/query\.aggregate\.total: expected one of sum, average, min, max or count/);
    expect(() => buildApply({ aggregate: { 'to tal': { sum: 'revenue' } } })).toThrow(/alias/);
    expect(() => buildApply({ aggregate: { n: { count: true }, x: { sum: 'revenue; drop' } } })).toThrow(/query\.aggregate\.x\.sum: expected a column name/);
  });
});

describe('the emulator\'s $apply, over plain HTTPS', () => {
  const get = (query: string, prefer?: string) =>
    httpsRequest(emulator, { path: `/api/data/v9.2/accounts?${query}`, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(prefer ? { Prefer: prefer } : {}) } });

  it('answers the documented sample shape: #accounts context, no etag, formatted values', async () => {
    const r = await get(`$apply=${encodeURIComponent('groupby((statuscode),aggregate($count as count))')}`, 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      '@odata.context': `${emulator.url}/api/data/v9.2/$metadata#accounts`,
      value: [
        { 'statuscode@OData.Community.Display.V1.FormattedValue': 'Active', statuscode: 1, 'count@OData.Community.Display.V1.FormattedValue': '3', count: 3 },
        { 'statuscode@OData.Community.Display.V1.FormattedValue': 'Inactive', statuscode: 2, 'count@OData.Community.Display.V1.FormattedValue': '1', count: 1 },
      ],
    });
  });

  it('refuses $orderby on an aggregate value as Dataverse does, and orders by group keys', async () => {
    const bad = await get(`$apply=${encodeURIComponent('groupby((statuscode),aggregate($count as n))')}&$orderby=n`);
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { message: string } }).error.message).toBe('The query node SingleValueOpenPropertyAccess is not supported');
    const ok = await get(`$apply=${encodeURIComponent('groupby((statuscode))')}&$orderby=${encodeURIComponent('statuscode desc')}`);
    expect((ok.json as { value: unknown[] }).value).toEqual([{ statuscode: 2 }, { statuscode: 1 }]);
  });

  it('refuses unknown transformations, methods and columns with a 400', async () => {
    for (const apply of ['compute(revenue mul 2 as x)', 'aggregate(revenue with median as m)', 'groupby((nosuchcolumn))', 'groupby((statuscode)']) {
      expect((await get(`$apply=${encodeURIComponent(apply)}`)).status).toBe(400);
    }
  });

  it('more than 50,000 source rows fail with 8004E023, and the client\'s message says what to do', async () => {
    emulator.store.insert('leads', Array.from({ length: 50_001 }, (_, i) => ({ lastname: `L${i}` })));
    const error = await client.aggregate('leads', { aggregate: { n: { count: true } } }).catch((e: unknown) => e as DynamicsError);
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).code).toBe('0x8004e023');
    expect((error as DynamicsError).message).toMatch(/50,000 rows.*narrow its filter/);
    expect(await client.aggregate('leads', { filter: { lastname: { startswith: 'L4999' } }, aggregate: { n: { count: true } } })).toEqual([{ n: 11 }]);
  }, 60_000);
});

describe('aggregate() against a server that never stops paging', () => {
  it('stops past 50,000 rows with malformed_response instead of holding every page', async () => {
    const server = await startHostileServer();
    const hostile = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
    let page = 0;
    server.on((_req, res) => {
      page += 1;
      const value = Array.from({ length: 5000 }, (_, i) => ({ name: `g${page}-${i}`, total: i }));
      misbehave.json(res, 200, { value, '@odata.nextLink': `${server.origin}/api/data/v9.2/accounts?$apply=x&$skiptoken=${page}` });
    });
    try {
      const err = await hostile.aggregate('accounts', { groupBy: ['name'] } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DynamicsError);
      expect((err as DynamicsError).code).toBe(ErrorCode.malformedResponse);
      expect((err as DynamicsError).message).toMatch(/more than 50000 aggregated rows/);
      expect(page).toBe(11);
    } finally {
      hostile.close();
      await server.close();
    }
  });
});
