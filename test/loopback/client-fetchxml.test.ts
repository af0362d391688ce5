/**
 * Issue 13, items 2 and 5: `client.fetchXml()` against the emulator over HTTPS with the real MSAL and
 * axios. A 100,000-row walk hands over every row exactly once, following the cookie; the builder's
 * queries come back typed as they were selected; a query too long for a URL goes inside `$batch` by
 * itself; abort and timeouts stop the walk; the limits' errors say what to do; `continuationToken`
 * resumes; and `DynamicsService.get('…?fetchXml=…')` passes FetchXML through as before.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsService } from '../../src/compat';
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsError, ErrorCode, TimeoutError } from '../../src/errors';
import { fetchXml } from '../../src/odata/fetchxml';
import { model, type Schema } from '../../generated';

const fx = fetchXml<Schema>();

const ROWS = 100_000;

let emulator: Emulator;
let client: DynamicsClient<Schema>;
let modelled: DynamicsClient<Schema>;

function options() {
  return { url: emulator.url, ca: emulator.caPem, auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret } };
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of iterable) out.push(row);
  return out;
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  emulator.store.insert(
    'accounts',
    Array.from({ length: ROWS }, (_, i) => ({ name: `Walk ${String(i % 1000).padStart(4, '0')}`, accountnumber: `W-${i}`, numberofemployees: i % 7 === 0 ? null : i % 100 })),
  );
  client = new DynamicsClient<Schema>(options());
  modelled = new DynamicsClient<Schema>({ ...options(), model });
}, 180_000);

afterAll(async () => {
  client?.close();
  modelled?.close();
  await emulator?.close();
});

const PAGE_REQUESTS = () => emulator.counters.apiRequests['GET /accounts'] ?? 0;

describe('a 100,000-row walk', () => {
  it('hands over every row exactly once, in pages of 5000, following the paging cookie (names repeat: the key breaks ties)', async () => {
    const seen = new Set<string>();
    let duplicates = 0;
    let pages = 0;
    const before = PAGE_REQUESTS();
    const query = "<fetch><entity name='account'><attribute name='accountnumber'/><attribute name='numberofemployees'/><order attribute='name'/></entity></fetch>";
    for await (const page of client.fetchXml('accounts', query).byPage()) {
      pages++;
      if (page.continuationToken !== undefined) expect(page).toHaveLength(5000);
      for (const row of page) {
        const key = String(row.accountnumber);
        if (seen.has(key)) duplicates++;
        seen.add(key);
      }
    }
    expect(duplicates).toBe(0);
    expect(seen.size).toBe(ROWS);
    expect(pages).toBe(20);
    expect(PAGE_REQUESTS() - before).toBe(20);
  }, 120_000);

  it('resumes from a page\'s continuationToken, and the walk by page numbers stops at 50,000 rows as Dataverse\'s simple paging does', async () => {
    const query = fx('account').select('accountnumber').orderBy('accountnumber');
    let token: string | undefined;
    const firstTwo: string[] = [];
    for await (const page of client.fetchXml('accounts', query).byPage({ maxPageSize: 3 })) {
      firstTwo.push(...page.map((r) => String(r.accountnumber)));
      token = page.continuationToken;
      if (firstTwo.length >= 6) break;
    }
    expect(token).toMatch(/^fetchxml:3:/);
    const next = await client.fetchXml('accounts', query).byPage({ maxPageSize: 3, continuationToken: token }).next();
    expect(next.value?.map((r: Record<string, unknown>) => r.accountnumber)).toEqual(['W-10001', 'W-10002', 'W-10003']);
    expect(firstTwo).toEqual(['W-0', 'W-1', 'W-10', 'W-100', 'W-1000', 'W-10000']);

    // A distinct query gets no cookie, so it pages by number: Dataverse refuses simple paging past 50,000 rows.
    const distinct = "<fetch distinct='true'><entity name='account'><attribute name='accountnumber'/><order attribute='accountnumber'/></entity></fetch>";
    let rows = 0;
    const error = await (async () => {
      for await (const row of client.fetchXml('accounts', distinct)) {
        void row;
        rows++;
      }
    })().catch((e: unknown) => e as DynamicsError);
    expect(rows).toBe(50_000);
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).message).toMatch(/Paging cookie is required/);
  }, 120_000);

  it('an aggregate over the 100,000 rows fails with 8004E023, and the message says what to do', async () => {
    const query = fx('account').aggregate({ n: ['accountid', 'count'] });
    const error = await all(client.fetchXml('accounts', query)).catch((e: unknown) => e as DynamicsError);
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).code).toBe('0x8004e023');
    expect((error as DynamicsError).message).toMatch(/AggregateQueryRecordLimit exceeded.*narrow its filter, or aggregate in parts/);
  }, 60_000);
});

describe('the builder, end to end', () => {
  beforeAll(() => {
    const [parent] = emulator.store.insert('accounts', [{ name: 'Builder parent', accountnumber: 'B-1', revenue: 1000, address1_city: 'Lisbon' }]);
    emulator.store.insert('contacts', [
      { lastname: 'Ng', fullname: 'Ana Ng', _parentcustomerid_value: parent, '_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'account' },
      { lastname: 'Silva', fullname: 'Rui Silva', jobtitle: 'Buyer', _parentcustomerid_value: parent, '_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'account' },
    ]);
  });

  it('selects, aliases, links and filters, and the rows are shaped as the type says', async () => {
    const query = fx('contact')
      .select('fullname', 'parentcustomerid')
      .select({ role: 'jobtitle' })
      .where({ lastname: { in: ['Ng', 'Silva'] }, or: [{ jobtitle: 'Buyer' }, { jobtitle: null }] })
      .link('account', { from: 'accountid', to: 'parentcustomerid', alias: 'a' }, (a) => a.select('name', 'revenue').where({ address1_city: 'Lisbon' }))
      .orderBy('fullname');
    const rows = await all(modelled.fetchXml('contacts', query));
    expect(rows).toHaveLength(2);
    const [ana, rui] = rows;
    expect(ana).toMatchObject({ fullname: 'Ana Ng', 'a.name': 'Builder parent', 'a.revenue': 1000 });
    expect(ana).not.toHaveProperty('role');
    expect(rui).toMatchObject({ fullname: 'Rui Silva', role: 'Buyer' });
    expect(rui?._parentcustomerid_value).toMatch(/^[0-9a-f-]{36}$/);
    expect(rui?.contactid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('groups and aggregates under their aliases', async () => {
    const query = fx('contact').groupBy({ parent: 'parentcustomerid' }).aggregate({ n: ['contactid', 'count'] });
    const rows = await all(client.fetchXml('contacts', query));
    expect(rows).toEqual([{ parent: expect.stringMatching(/^[0-9a-f-]{36}$/), n: 2 }]);
  });

  it('with the model, a query on another table than the entity set is refused before anything is sent', () => {
    expect(() => modelled.fetchXml('accounts', "<fetch><entity name='contact'><attribute name='fullname'/></entity></fetch>")).toThrow(/fetch: expected a query on account/);
  });

  it('the link-entity limit surfaces with its code and what to do', async () => {
    let query = fx('account').select('name');
    for (let i = 0; i < 16; i++) query = query.link('contact', { from: 'contactid', to: 'primarycontactid', alias: `c${i}`, type: 'outer' });
    const error = await all(client.fetchXml('accounts', query.top(1))).catch((e: unknown) => e as DynamicsError);
    expect((error as DynamicsError).code).toBe('0x8004430D');
    expect((error as DynamicsError).message).toMatch(/at most 15 tables: use fewer link-entity elements/);
  });
});

describe('links that filter: exists, in, any, not any, all, not all', () => {
  let contacts: string[];
  beforeAll(() => {
    // Three contacts: the first is primary contact of two accounts (one inactive), the second of one, the third of none.
    contacts = emulator.store.insert('contacts', ['Exists One', 'Exists Two', 'Exists Three'].map((fullname) => ({ lastname: 'Exists', fullname })));
    const [one, two] = contacts as [string, string];
    emulator.store.insert('accounts', [
      { name: 'Exists A', _primarycontactid_value: one, statecode: 0 },
      { name: 'Exists B', _primarycontactid_value: one, statecode: 1 },
      { name: 'Exists C', _primarycontactid_value: two, statecode: 0 },
    ]);
  });
  const base = () => fx('contact').select('fullname').where({ lastname: 'Exists' }).orderBy('fullname');

  it.each(['exists', 'in'] as const)('%s keeps each row with a related match once and adds no columns', async (type) => {
    const rows = await all(modelled.fetchXml('contacts', base().whereExists('account', { from: 'primarycontactid', to: 'contactid', type })));
    expect(rows.map((r) => r.fullname)).toEqual(['Exists One', 'Exists Two']);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(['@odata.etag', 'contactid', 'fullname']);
    // The link's filter chooses the related rows that count.
    const inactive = await all(modelled.fetchXml('contacts', base().whereExists('account', { from: 'primarycontactid', to: 'contactid', type }, (a) => a.where({ statecode: 1 }))));
    expect(inactive.map((r) => r.fullname)).toEqual(['Exists One']);
    // An inner link repeats the row per related row: what exists and in avoid.
    const inner = await all(modelled.fetchXml('contacts', base().link('account', { from: 'primarycontactid', to: 'contactid', alias: 'a' }, (a) => a.select('name'))));
    expect(inner.map((r) => r.fullname)).toEqual(['Exists One', 'Exists One', 'Exists Two']);
  });

  it.each([
    ['any', undefined, ['Exists One', 'Exists Two']],
    ['not any', undefined, ['Exists Three']],
    ['any', 1, ['Exists One']],
    ['not any', 1, ['Exists Three', 'Exists Two']],
    // all: every related account matches, which holds for a contact with none.
    ['all', 0, ['Exists Three', 'Exists Two']],
    ['not all', 0, ['Exists One']],
  ] as const)('whereRelated %s (accounts with statecode %s) keeps the contacts by their related rows', async (type, statecode, expected) => {
    const query = base().whereRelated('account', { from: 'primarycontactid', to: 'contactid', type }, (a) => (statecode === undefined ? a : a.where({ statecode })));
    expect(query.toXml()).toContain(`<filter type='and'><filter type='and'><condition attribute='lastname' operator='eq' value='Exists'/></filter><link-entity name='account' from='primarycontactid' to='contactid' link-type='${type}'`);
    const rows = await all(modelled.fetchXml('contacts', query));
    expect(rows.map((r) => r.fullname).sort()).toEqual([...expected].sort());
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(['@odata.etag', 'contactid', 'fullname']);
  });

  it('the builder refuses columns or orders inside an exists link, and an unknown type', () => {
    expect(() => base().whereExists('account', { from: 'primarycontactid', to: 'contactid' }, (a) => a.select('name'))).toThrow(/whereExists build: expected filters only.*without select\(\), orderBy\(\) or link\(\)/);
    expect(() => base().whereRelated('account', { from: 'primarycontactid', to: 'contactid', type: 'some' as never })).toThrow(/whereRelated options.type: expected 'any', 'not any', 'all' or 'not all'/);
    expect(() => base().whereExists('account', { from: 'primarycontactid', to: 'contactid', type: 'inner' as never })).toThrow(/whereExists options.type: expected 'exists' or 'in'/);
  });
});

describe('queries too long for a URL', () => {
  it('go as a GET inside $batch, without the caller doing anything', async () => {
    // About 1,500 values: the encoded query is longer than 32,768 characters, shorter than 65,536.
    const numbers = Array.from({ length: 1500 }, (_, i) => `W-${i * 3}`);
    const query = fx('account').select('accountnumber').where({ accountnumber: { in: numbers } }).orderBy('accountnumber');
    expect(encodeURIComponent(query.toXml()).length).toBeGreaterThan(32_768);
    const batchesBefore = emulator.counters.apiRequests['POST /$batch'] ?? 0;
    const pagesBefore = PAGE_REQUESTS();
    const rows = await all(client.fetchXml('accounts', query, { maxPageSize: 1000 }));
    expect(new Set(rows.map((r) => r.accountnumber))).toEqual(new Set(numbers));
    expect((emulator.counters.apiRequests['POST /$batch'] ?? 0) - batchesBefore).toBe(2);
    expect(PAGE_REQUESTS() - pagesBefore).toBe(0);
  }, 60_000);

  it('longer than even $batch takes is refused before anything is sent', async () => {
    const long = fx('account').select('accountnumber').where({ accountnumber: { in: Array.from({ length: 5000 }, (_, i) => `W-${i}`) } });
    expect(() => client.fetchXml('accounts', long)).toThrow(/^fetch: expected FetchXML of at most 65,536 characters/);
    // Short enough as text, too long once encoded: the page fails before its $batch is sent.
    const encodedTooLong = fx('account').select('accountnumber').where({ accountnumber: { in: Array.from({ length: 2600 }, (_, i) => `W-${i}`) } });
    expect(encodedTooLong.toXml().length).toBeLessThan(65_536);
    const batchesBefore = emulator.counters.apiRequests['POST /$batch'] ?? 0;
    const error = await all(client.fetchXml('accounts', encodedTooLong)).catch((e: unknown) => e as DynamicsError);
    expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
    expect((error as DynamicsError).message).toMatch(/at most 65,536 inside a \$batch/);
    expect(emulator.counters.apiRequests['POST /$batch'] ?? 0).toBe(batchesBefore);
  });
});

describe('abort and timeout', () => {
  it('an AbortSignal stops the walk between pages; timeoutInMs bounds each page', async () => {
    const controller = new AbortController();
    let rows = 0;
    const error = await (async () => {
      for await (const row of client.fetchXml('accounts', "<fetch><entity name='account'><attribute name='name'/></entity></fetch>", { abortSignal: controller.signal, maxPageSize: 100 })) {
        void row;
        rows++;
        if (rows === 150) controller.abort();
      }
    })().catch((e: unknown) => e as DynamicsError);
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).code).toBe(ErrorCode.aborted);
    expect(rows).toBeLessThanOrEqual(200);

    emulator.setLatency(400);
    try {
      const slow = await all(client.fetchXml('accounts', "<fetch top='1'><entity name='account'><attribute name='name'/></entity></fetch>", { timeoutInMs: 100 })).catch((e: unknown) => e);
      expect(slow).toBeInstanceOf(TimeoutError);
    } finally {
      emulator.setLatency(0);
    }
  }, 30_000);
});

describe('arguments', () => {
  it('refuses what cannot be sent, naming it', () => {
    expect(() => client.fetchXml('accounts', '')).toThrow(/^fetch: expected FetchXML text/);
    expect(() => client.fetchXml('accounts', '<query/>')).toThrow(/fetch: expected FetchXML whose root element is <fetch>/);
    expect(() => client.fetchXml('accounts', 'not xml')).toThrow(/^fetch: expected FetchXML text starting with a <fetch/);
    expect(() => client.fetchXml('accounts', "<fetch top='5'><entity name='account'/></fetch>", { maxPageSize: 10 })).toThrow(/options\.maxPageSize: expected no page size with top/);
    expect(() => client.fetchXml('accounts', "<fetch><entity name='account'/></fetch>", { maxPageSize: 5001 })).toThrow(/options\.maxPageSize: expected a whole number from 1 to 5000/);
    expect(() => fx('account').top(0)).toThrow(/^top: expected a whole number from 1 to 5000/);
    expect(() => fx('account').where({ name: undefined as never })).toThrow(/where\.name: expected a value/);
    expect(() => fx('account').where({ address1_city: { in: [] } })).toThrow(/where\.address1_city\.in: expected a non-empty array/);
    expect(() => fx('account').select('name; drop' as never)).toThrow(/select\[0\]: expected a logical name/);
  });
});

describe('DynamicsService pass-through', () => {
  it("get('api/data/v9.2/accounts?fetchXml=…') sends the query as written and returns the page", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fetchxml-compat-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, emulator.caPem);
    const service = new DynamicsService({ env: { ...emulator.env(caFile), DYNAMICS_ENABLED: 'true' } });
    try {
      const xml = "<fetch top='2'><entity name='account'><attribute name='accountnumber'/><filter><condition attribute='accountnumber' operator='in'><value>W-1</value><value>W-2</value></condition></filter><order attribute='accountnumber'/></entity></fetch>";
      const page = (await service.get(`api/data/v9.2/accounts?fetchXml=${encodeURIComponent(xml)}`, undefined, 'client_credentials')) as { value: Array<{ accountnumber: string }> };
      expect(page.value.map((r) => r.accountnumber)).toEqual(['W-1', 'W-2']);
      const viaParams = (await service.get('api/data/v9.2/accounts', { params: { fetchXml: xml } }, 'client_credentials')) as { value: unknown[] };
      expect(viaParams.value).toHaveLength(2);
    } finally {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
