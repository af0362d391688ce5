/**
 * Issue 13, item 4: the emulator answers `?fetchXml=` as Microsoft documents it
 * (fetchxml/retrieve-data, page-results, join-tables, aggregate-data, select-columns, order-rows),
 * proven over plain HTTPS with no library code: row shapes (nulls left out, `alias.column`, aliases,
 * annotations), the paging annotations (double-encoded cookie, only on non-final pages and only when
 * asked for, never a nextLink), every condition operator of the issue, orders, aggregates, distinct,
 * top, the limits with their codes, and hostile XML refused with a 400.
 */
import type { Emulator } from '../../src/emulator';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

let emulator: Emulator;
let token: string;
let ids: string[];
let contactIds: string[];
const PAGING = 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"';

/** `GET <set>?fetchXml=…` with the Web API's usual headers and any `Prefer`. */
function fetch(set: string, xml: string, prefer?: string, extra = ''): Promise<RawResponse> {
  return httpsRequest(emulator, {
    path: `/api/data/v9.2/${set}?fetchXml=${encodeURIComponent(xml)}${extra}`,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0', ...(prefer ? { Prefer: prefer } : {}) },
  });
}

type Body = { value: Array<Record<string, unknown>> } & Record<string, unknown>;
const body = (r: RawResponse): Body => r.json as Body;
const errorOf = (r: RawResponse) => ({ status: r.status, ...(r.json as { error: { code: string; message: string } }).error });

const DAY = 86_400_000;
const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

beforeAll(async () => {
  emulator = await startTestEmulator();
  token = await appToken(emulator);
  const now = Date.now();
  ids = emulator.store.insert('accounts', [
    { name: 'Alpha', revenue: 100, numberofemployees: 10, address1_city: 'Lisbon', accountcategorycode: 1, address1_shippingmethodcode: 4, createdon: iso(now - 2 * DAY) },
    { name: 'Beta', revenue: 200, numberofemployees: 20, address1_city: 'Lisbon', accountcategorycode: 2, address1_shippingmethodcode: 5, createdon: iso(now - 40 * DAY) },
    { name: 'Gamma', revenue: 300, numberofemployees: null, address1_city: 'Porto', accountcategorycode: 1, address1_shippingmethodcode: 6, createdon: iso(Date.UTC(2023, 1, 10)) },
    { name: 'Delta', revenue: null, numberofemployees: 40, address1_city: null, createdon: iso(Date.UTC(2023, 7, 20)) },
    { name: 'Epsilon (sample)', revenue: 500, numberofemployees: 50, address1_city: 'Faro', createdon: iso(now + 3 * DAY) },
  ]);
  const lookup = (id: string) => ({ _parentcustomerid_value: id, '_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'account' });
  contactIds = emulator.store.insert('contacts', [
    { lastname: 'Ng', fullname: 'Ana Ng', jobtitle: null, ...lookup(ids[0] as string) },
    { lastname: 'Silva', fullname: 'Rui Silva', jobtitle: 'Buyer', ...lookup(ids[0] as string) },
    { lastname: 'Okafor', fullname: 'Ada Okafor', jobtitle: 'CEO', ...lookup(ids[1] as string) },
  ]);
}, 60_000);

afterAll(async () => {
  await emulator?.close();
});

describe('rows', () => {
  it('hold the selected columns and the primary key, leave nulls out, and carry @odata.etag', async () => {
    const r = await fetch('contacts', "<fetch><entity name='contact'><attribute name='fullname'/><attribute name='jobtitle'/><order attribute='fullname'/></entity></fetch>");
    expect(r.status).toBe(200);
    const rows = body(r).value;
    expect(rows.map((c) => c.fullname)).toEqual(['Ada Okafor', 'Ana Ng', 'Rui Silva']);
    expect(rows[1]).not.toHaveProperty('jobtitle');
    expect(rows[0]).toMatchObject({ jobtitle: 'CEO', contactid: contactIds[2] });
    expect(rows[0]?.['@odata.etag']).toMatch(/^W\/"\d+"$/);
    expect(body(r)).not.toHaveProperty('@odata.nextLink');
  });

  it('name an unaliased lookup _x_value, an aliased column by its alias, and a linked column alias.column (or name.column without an alias)', async () => {
    const xml =
      "<fetch><entity name='contact'><attribute name='fullname'/><attribute name='parentcustomerid'/><attribute name='jobtitle' alias='role'/><order attribute='fullname'/>" +
      "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a'><attribute name='name'/><attribute name='address1_city' alias='city'/></link-entity>" +
      "<link-entity name='account' from='accountid' to='parentcustomerid' link-type='outer'><attribute name='revenue'/></link-entity></entity></fetch>";
    const rows = body(await fetch('contacts', xml)).value;
    expect(rows[0]).toMatchObject({ fullname: 'Ada Okafor', _parentcustomerid_value: ids[1], role: 'CEO', 'a.name': 'Beta', city: 'Lisbon', 'account.revenue': 200 });
  });

  it('with annotations="*": AttributeName on aliased and linked values, then FormattedValue, then lookuplogicalname', async () => {
    const xml = "<fetch><entity name='contact'><attribute name='parentcustomerid' alias='parent'/><order attribute='fullname'/><link-entity name='account' from='accountid' to='parentcustomerid' alias='a'><attribute name='accountcategorycode'/></link-entity></entity></fetch>";
    const row = body(await fetch('contacts', xml, 'odata.include-annotations="*"')).value[0] as Record<string, unknown>;
    expect(Object.keys(row).filter((k) => k.startsWith('parent'))).toEqual([
      'parent@OData.Community.Display.V1.AttributeName',
      'parent@OData.Community.Display.V1.FormattedValue',
      'parent@Microsoft.Dynamics.CRM.lookuplogicalname',
      'parent',
    ]);
    expect(row).toMatchObject({ 'parent@OData.Community.Display.V1.AttributeName': 'parentcustomerid', 'parent@OData.Community.Display.V1.FormattedValue': 'Beta', parent: ids[1] });
    expect(row['a.accountcategorycode@OData.Community.Display.V1.AttributeName']).toBe('accountcategorycode');
    expect(row['a.accountcategorycode@OData.Community.Display.V1.FormattedValue']).toBe('Standard');
  });

  it('inner links drop rows without a match; outer links keep them without the linked columns', async () => {
    const link = (type: string) =>
      `<fetch><entity name='account'><attribute name='name'/><order attribute='name'/><link-entity name='contact' from='parentcustomerid' to='accountid' alias='c' link-type='${type}'><attribute name='lastname'/></link-entity></entity></fetch>`;
    const inner = body(await fetch('accounts', link('inner'))).value;
    expect(inner.map((r) => `${r.name}/${r['c.lastname']}`).sort()).toEqual(['Alpha/Ng', 'Alpha/Silva', 'Beta/Okafor']);
    const outer = body(await fetch('accounts', link('outer'))).value;
    expect(outer).toHaveLength(6);
    expect(outer.find((r) => r.name === 'Gamma')).not.toHaveProperty('c.lastname');
    // exists and in: each account with a contact once, no contact columns even when asked for.
    for (const type of ['exists', 'in']) {
      const semi = body(await fetch('accounts', link(type))).value;
      expect({ type, rows: semi.map((r) => Object.keys(r).some((k) => k.startsWith('c.')) || r.name) }).toEqual({ type, rows: ['Alpha', 'Beta'] });
    }
  });

  it('filter links nest: an any link whose own filter holds another any (or not any) link', async () => {
    const nested = (type: string) =>
      `<fetch><entity name='account'><attribute name='name'/><filter><link-entity name='contact' from='parentcustomerid' to='accountid' link-type='any'><filter><link-entity name='account' from='accountid' to='parentcustomerid' link-type='${type}'/></filter></link-entity></filter></entity></fetch>`;
    // Every contact with a parent account has one: any keeps the accounts with contacts, not any none.
    expect(body(await fetch('accounts', nested('any'))).value.map((r) => r.name).sort()).toEqual(['Alpha', 'Beta']);
    expect(body(await fetch('accounts', nested('not any'))).value).toEqual([]);
  });

  it('refuses a link-entity nested in an exists link, link types it does not run, and filter link types out of place, saying so', async () => {
    const nested =
      "<fetch><entity name='account'><attribute name='name'/><link-entity name='contact' from='parentcustomerid' to='accountid' link-type='exists'><link-entity name='account' from='accountid' to='parentcustomerid'/></link-entity></entity></fetch>";
    expect(errorOf(await fetch('accounts', nested))).toMatchObject({ status: 400, message: expect.stringMatching(/inside a link-type 'exists' link-entity is not supported by the emulator/) });
    const cross = await fetch('accounts', "<fetch><entity name='account'><attribute name='name'/><link-entity name='contact' from='parentcustomerid' to='accountid' link-type='matchfirstrowusingcrossapply'/></entity></fetch>");
    expect(errorOf(cross)).toMatchObject({ status: 400, message: expect.stringMatching(/link-type 'matchfirstrowusingcrossapply' is not supported by the emulator \(it runs inner, outer, exists, in, any, not any, all and not all links\)/) });
    // The filter link types go inside a filter, and only they do.
    const anyOutside = await fetch('accounts', "<fetch><entity name='account'><attribute name='name'/><link-entity name='contact' from='parentcustomerid' to='accountid' link-type='any'/></entity></fetch>");
    expect(errorOf(anyOutside)).toMatchObject({ status: 400, message: expect.stringMatching(/link-type 'any' is for a link-entity inside a filter element/) });
    const innerInside = await fetch('accounts', "<fetch><entity name='account'><attribute name='name'/><filter><link-entity name='contact' from='parentcustomerid' to='accountid'/></filter></entity></fetch>");
    expect(errorOf(innerInside)).toMatchObject({ status: 400, message: expect.stringMatching(/inside a filter takes link-type any, not any, all or not all, not 'inner'/) });
  });
});

describe('paging', () => {
  const xml = (page: number, cookie?: string) =>
    `<fetch count='2' page='${page}'${cookie ? ` paging-cookie='${cookie.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;')}'` : ''}><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>`;

  it('puts morerecords and a cookie URL-encoded twice on pages with more after them, only when asked for, and neither on the last page', async () => {
    const first = body(await fetch('accounts', xml(1), PAGING));
    expect(first.value.map((r) => r.name)).toEqual(['Alpha', 'Beta']);
    expect(first['@Microsoft.Dynamics.CRM.morerecords']).toBe(true);
    const annotation = first['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie'] as string;
    const m = /^<cookie pagenumber="2" pagingcookie="([^"]+)" istracking="False" \/>$/.exec(annotation);
    expect(m).not.toBeNull();
    const once = decodeURIComponent(m![1] as string);
    expect(once.startsWith('%3Ccookie')).toBe(true);
    const cookie = decodeURIComponent(once);
    expect(cookie).toMatch(/^<cookie page="1"><name last="Beta" first="Alpha" \/><accountid last="\{[0-9A-F-]{36}\}" first="\{[0-9A-F-]{36}\}" \/><\/cookie>$/);
    expect(first).not.toHaveProperty('@odata.nextLink');

    const plain = body(await fetch('accounts', xml(1)));
    expect(plain).not.toHaveProperty('@Microsoft.Dynamics.CRM.morerecords');
    expect(plain).not.toHaveProperty('@Microsoft.Dynamics.CRM.fetchxmlpagingcookie');

    const second = body(await fetch('accounts', xml(2, cookie), PAGING));
    expect(second.value.map((r) => r.name)).toEqual(['Delta', 'Epsilon (sample)']);
    const cookie2 = decodeURIComponent(decodeURIComponent(/pagingcookie="([^"]+)"/.exec(second['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie'] as string)![1] as string));
    const last = body(await fetch('accounts', xml(3, cookie2), PAGING));
    expect(last.value.map((r) => r.name)).toEqual(['Gamma']);
    expect(last).not.toHaveProperty('@Microsoft.Dynamics.CRM.morerecords');
    expect(last).not.toHaveProperty('@Microsoft.Dynamics.CRM.fetchxmlpagingcookie');
  });

  it('resumes after the cookie\'s last row even when rows were added before it (no row lost or repeated); a cookie of another page is ignored', async () => {
    emulator.store.insert('leads', ['L2', 'L4', 'L6', 'L8', 'L9'].map((lastname) => ({ lastname })));
    const leads = (page: number, cookie?: string) =>
      `<fetch count='2' page='${page}'${cookie ? ` paging-cookie='${cookie.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;')}'` : ''}><entity name='lead'><attribute name='lastname'/><order attribute='lastname'/></entity></fetch>`;
    const first = body(await fetch('leads', leads(1), PAGING));
    expect(first.value.map((r) => r.lastname)).toEqual(['L2', 'L4']);
    const cookie = decodeURIComponent(decodeURIComponent(/pagingcookie="([^"]+)"/.exec(first['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie'] as string)![1] as string));
    emulator.store.insert('leads', [{ lastname: 'L1' }, { lastname: 'L3' }]);
    expect(body(await fetch('leads', leads(2, cookie), PAGING)).value.map((r) => r.lastname)).toEqual(['L6', 'L8']);
    // Page 3 with the cookie of page 1: simple paging by number, which sees the added rows.
    expect(body(await fetch('leads', leads(3, cookie), PAGING)).value.map((r) => r.lastname)).toEqual(['L6', 'L8']);
    expect(body(await fetch('leads', leads(4), PAGING)).value.map((r) => r.lastname)).toEqual(['L9']);
  });

  it('refuses a paging cookie that is not one it wrote', async () => {
    const r = await fetch('accounts', xml(2, '<cookie page="1"><name last="x"/></cookie>'));
    expect(errorOf(r)).toMatchObject({ status: 400, message: expect.stringMatching(/paging cookie is not valid/) });
  });
});

describe('condition operators (fetchxml/reference/operators)', () => {
  const names = async (condition: string, set = 'account'): Promise<string[]> => {
    const r = await fetch(`${set}s`, `<fetch><entity name='${set}'><attribute name='name'/><filter>${condition}</filter></entity></fetch>`);
    expect(r.status).toBe(200);
    return body(r).value.map((row) => row.name as string).sort();
  };
  const userId = async (): Promise<string> => (body(await httpsRequest(emulator, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${token}` } })) as unknown as { UserId: string }).UserId;

  it.each([
    ["<condition attribute='revenue' operator='eq' value='200'/>", ['Beta']],
    ["<condition attribute='revenue' operator='ne' value='200'/>", ['Alpha', 'Epsilon (sample)', 'Gamma']],
    ["<condition attribute='revenue' operator='gt' value='200'/>", ['Epsilon (sample)', 'Gamma']],
    ["<condition attribute='revenue' operator='ge' value='200'/>", ['Beta', 'Epsilon (sample)', 'Gamma']],
    ["<condition attribute='revenue' operator='lt' value='200'/>", ['Alpha']],
    ["<condition attribute='revenue' operator='le' value='200'/>", ['Alpha', 'Beta']],
    ["<condition attribute='name' operator='like' value='%(sample)%'/>", ['Epsilon (sample)']],
    ["<condition attribute='name' operator='like' value='_ETA'/>", ['Beta']],
    ["<condition attribute='name' operator='not-like' value='%a'/>", ['Epsilon (sample)']],
    ["<condition attribute='address1_city' operator='in'><value>Porto</value><value>faro</value></condition>", ['Epsilon (sample)', 'Gamma']],
    ["<condition attribute='address1_city' operator='not-in'><value>Lisbon</value></condition>", ['Epsilon (sample)', 'Gamma']],
    ["<condition attribute='address1_city' operator='null'/>", ['Delta']],
    ["<condition attribute='numberofemployees' operator='not-null'/>", ['Alpha', 'Beta', 'Delta', 'Epsilon (sample)']],
    ["<condition attribute='numberofemployees' operator='between'><value>15</value><value>40</value></condition>", ['Beta', 'Delta']],
    ["<condition attribute='createdon' operator='on' value='2023-02-10'/>", ['Gamma']],
    ["<condition attribute='createdon' operator='on-or-before' value='2023-08-20'/>", ['Delta', 'Gamma']],
    ["<condition attribute='createdon' operator='on-or-after' value='2023-08-20'/>", ['Alpha', 'Beta', 'Delta', 'Epsilon (sample)']],
    ["<condition attribute='createdon' operator='last-x-days' value='7'/>", ['Alpha']],
    ["<condition attribute='createdon' operator='next-x-days' value='7'/>", ['Epsilon (sample)']],
    ["<condition attribute='accountcategorycode' operator='eq' value='1'/>", ['Alpha', 'Gamma']],
  ])('%s', async (condition, expected) => {
    expect(await names(condition)).toEqual(expected);
  });

  it('eq-userid / ne-userid compare with the caller', async () => {
    const me = await userId();
    emulator.store.insert('tasks', [{ subject: 'mine', _ownerid_value: me }, { subject: 'theirs', _ownerid_value: '00000000-0000-0000-0000-00000000abcd' }]);
    const subjects = async (op: string) =>
      body(await fetch('tasks', `<fetch><entity name='task'><attribute name='subject'/><filter><condition attribute='ownerid' operator='${op}'/></filter></entity></fetch>`)).value.map((t) => t.subject);
    expect(await subjects('eq-userid')).toEqual(['mine']);
    expect(await subjects('ne-userid')).toEqual(['theirs']);
  });

  it('nested and/or filters, and a condition on a linked table through entityname', async () => {
    expect(
      await names("<filter type='or'><condition attribute='name' operator='eq' value='Alpha'/><filter type='and'><condition attribute='revenue' operator='gt' value='250'/><condition attribute='address1_city' operator='eq' value='Porto'/></filter></filter>"),
    ).toEqual(['Alpha', 'Gamma']);
    const r = await fetch(
      'accounts',
      "<fetch><entity name='account'><attribute name='name'/><link-entity name='contact' from='parentcustomerid' to='accountid' alias='c' link-type='outer'/><filter><condition entityname='c' attribute='lastname' operator='eq' value='okafor'/></filter></entity></fetch>",
    );
    expect(body(r).value.map((a) => a.name)).toEqual(['Beta']);
  });
});

describe('orders, distinct, top', () => {
  it('orders descending, by alias, by label for choices unless useraworderby, and by a linked column after the entity\'s', async () => {
    const names = async (xml: string) => body(await fetch('accounts', xml)).value.map((r) => r.name ?? r.n);
    expect(await names("<fetch><entity name='account'><attribute name='name'/><order attribute='revenue' descending='true'/></entity></fetch>")).toEqual(['Epsilon (sample)', 'Gamma', 'Beta', 'Alpha', 'Delta']);
    expect(await names("<fetch><entity name='account'><attribute name='name' alias='n'/><order alias='n' descending='true'/></entity></fetch>")).toEqual(['Gamma', 'Epsilon (sample)', 'Delta', 'Beta', 'Alpha']);
    // address1_shippingmethodcode: 4 'UPS', 5 'Postal Mail', 6 'Full Load': by label the order is 6, 5, 4; by value 4, 5, 6; nulls first.
    const byShipping = (raw: boolean) =>
      names(`<fetch${raw ? " useraworderby='true'" : ''}><entity name='account'><attribute name='name'/><order attribute='address1_shippingmethodcode'/><order attribute='name'/></entity></fetch>`);
    expect(await byShipping(false)).toEqual(['Delta', 'Epsilon (sample)', 'Gamma', 'Beta', 'Alpha']);
    expect(await byShipping(true)).toEqual(['Delta', 'Epsilon (sample)', 'Alpha', 'Beta', 'Gamma']);
    // A lookup sorts by the name of the row it points at: Ada Okafor's account is Beta, Ana Ng's and Rui Silva's Alpha.
    const contacts = body(await fetch('contacts', "<fetch><entity name='contact'><attribute name='fullname'/><order attribute='parentcustomerid' descending='true'/><order attribute='fullname'/></entity></fetch>")).value;
    expect(contacts.map((c) => c.fullname)).toEqual(['Ada Okafor', 'Ana Ng', 'Rui Silva']);
  });

  it('distinct drops duplicate rows (and carries no key or etag); top returns at most n rows and no paging annotations', async () => {
    const cities = body(await fetch('accounts', "<fetch distinct='true'><entity name='account'><attribute name='address1_city'/><order attribute='address1_city'/></entity></fetch>")).value;
    expect(cities).toEqual([{}, { address1_city: 'Faro' }, { address1_city: 'Lisbon' }, { address1_city: 'Porto' }]);
    const top = body(await fetch('accounts', "<fetch top='2'><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>", PAGING));
    expect(top.value.map((r) => r.name)).toEqual(['Alpha', 'Beta']);
    expect(top).not.toHaveProperty('@Microsoft.Dynamics.CRM.morerecords');
  });

  it('refuses top above 5000, top with paging and top with returntotalrecordcount', async () => {
    for (const head of ["top='5001'", "top='5' count='2'", "top='5' page='1'", "top='5' returntotalrecordcount='true'"]) {
      expect((await fetch('accounts', `<fetch ${head}><entity name='account'><attribute name='name'/></entity></fetch>`)).status).toBe(400);
    }
  });

  it('counts with returntotalrecordcount or $count=true', async () => {
    const r = body(await fetch('accounts', "<fetch returntotalrecordcount='true' count='2'><entity name='account'><attribute name='name'/></entity></fetch>", 'odata.include-annotations="*"'));
    expect(r['@Microsoft.Dynamics.CRM.totalrecordcount']).toBe(5);
    expect(r['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded']).toBe(false);
    const c = body(await fetch('accounts', "<fetch><entity name='account'><attribute name='name'/></entity></fetch>", undefined, '&$count=true'));
    expect(c['@odata.count']).toBe(5);
  });
});

describe('aggregates (fetchxml/aggregate-data)', () => {
  it('count, countcolumn, sum, avg, min, max by group; the null group has no key; rows have no etag', async () => {
    const xml =
      "<fetch aggregate='true'><entity name='account'>" +
      "<attribute name='address1_city' alias='city' groupby='true'/><attribute name='accountid' alias='n' aggregate='count'/>" +
      "<attribute name='numberofemployees' alias='withStaff' aggregate='countcolumn'/><attribute name='revenue' alias='total' aggregate='sum'/>" +
      "<attribute name='revenue' alias='mean' aggregate='avg'/><attribute name='revenue' alias='low' aggregate='min'/><attribute name='revenue' alias='high' aggregate='max'/>" +
      "<order alias='city'/></entity></fetch>";
    const rows = body(await fetch('accounts', xml)).value;
    expect(rows).toEqual([
      { n: 1, withStaff: 1 },
      { city: 'Faro', n: 1, withStaff: 1, total: 500, mean: 500, low: 500, high: 500 },
      { city: 'Lisbon', n: 2, withStaff: 2, total: 300, mean: 150, low: 100, high: 200 },
      { city: 'Porto', n: 1, withStaff: 0, total: 300, mean: 300, low: 300, high: 300 },
    ]);
  });

  it('groups dates by year, quarter and month; countcolumn distinct; order by an aggregate descending', async () => {
    const xml =
      "<fetch aggregate='true'><entity name='account'><attribute name='createdon' alias='y' groupby='true' dategrouping='year'/>" +
      "<attribute name='createdon' alias='q' groupby='true' dategrouping='quarter'/><attribute name='createdon' alias='m' groupby='true' dategrouping='month'/>" +
      "<attribute name='accountid' alias='n' aggregate='count'/><filter><condition attribute='createdon' operator='lt' value='2024-01-01'/></filter><order alias='m' descending='true'/></entity></fetch>";
    expect(body(await fetch('accounts', xml)).value).toEqual([
      { y: 2023, q: 3, m: 8, n: 1 },
      { y: 2023, q: 1, m: 2, n: 1 },
    ]);
    const distinct = "<fetch aggregate='true'><entity name='account'><attribute name='address1_city' alias='cities' aggregate='countcolumn' distinct='true'/></entity></fetch>";
    expect(body(await fetch('accounts', distinct)).value).toEqual([{ cities: 3 }]);
  });

  it('refuses an aggregate over more rows than aggregatelimit with 8004E023', async () => {
    const r = await fetch('accounts', "<fetch aggregate='true' aggregatelimit='3'><entity name='account'><attribute name='accountid' alias='n' aggregate='count'/></entity></fetch>");
    expect(errorOf(r)).toMatchObject({ status: 400, code: '0x8004e023', message: 'AggregateQueryRecordLimit exceeded. Cannot perform this operation.' });
  });

  it('refuses attributes without alias, or neither aggregated nor grouped, in an aggregate query', async () => {
    expect((await fetch('accounts', "<fetch aggregate='true'><entity name='account'><attribute name='revenue' aggregate='sum'/></entity></fetch>")).status).toBe(400);
    expect((await fetch('accounts', "<fetch aggregate='true'><entity name='account'><attribute name='name' alias='n'/></entity></fetch>")).status).toBe(400);
  });
});

describe('limits and hostile input', () => {
  it('refuses a sixteenth link-entity with 0x8004430D', async () => {
    const links = (n: number) => Array.from({ length: n }, (_, i) => `<link-entity name='contact' from='contactid' to='primarycontactid' alias='c${i}' link-type='outer'/>`).join('');
    expect((await fetch('accounts', `<fetch><entity name='account'><attribute name='name'/>${links(15)}</entity></fetch>`)).status).toBe(200);
    const r = await fetch('accounts', `<fetch><entity name='account'><attribute name='name'/>${links(16)}</entity></fetch>`);
    expect(errorOf(r)).toMatchObject({ status: 400, code: '0x8004430D', message: 'Number of link entities in query exceeded maximum limit.' });
  });

  it.each([
    ['malformed XML', "<fetch><entity name='account'><attribute name='name'></entity></fetch>"],
    ['a document type declaration (entity expansion)', "<!DOCTYPE x [<!ENTITY a 'aaaa'>]><fetch><entity name='account'/></fetch>"],
    ['nesting 200 filters deep', `<fetch><entity name='account'>${'<filter>'.repeat(200)}${'</filter>'.repeat(200)}</entity></fetch>`],
    ['an unknown element', "<fetch><entity name='account'><atribute name='name'/></entity></fetch>"],
    ['an entity other than the URL\'s', "<fetch><entity name='contact'><attribute name='fullname'/></entity></fetch>"],
    ['an unknown operator', "<fetch><entity name='account'><filter><condition attribute='name' operator='sounds-like' value='x'/></filter></entity></fetch>"],
    ['a bare ampersand', "<fetch><entity name='account'><filter><condition attribute='name' operator='eq' value='a & b'/></filter></entity></fetch>"],
    ['text after the root element', "<fetch><entity name='account'/></fetch><fetch/>"],
  ])('refuses %s with a 400', async (_name, xml) => {
    const r = await fetch('accounts', xml);
    expect(r.status).toBe(400);
    expect(errorOf(r).code).toMatch(/^0x/);
  });

  it("refuses an attribute the table does not have with Dataverse's QueryBuilderNoAttribute", async () => {
    const r = await fetch('accounts', "<fetch><entity name='account'><attribute name='nmae'/></entity></fetch>");
    expect(errorOf(r)).toEqual({ status: 400, code: '0x80041103', message: "'account' entity doesn't contain attribute with Name = 'nmae' and NameMapping = 'Logical'." });
  });

  it('reads entity references and CDATA in values', async () => {
    const r = await fetch('accounts', "<fetch><entity name='account'><attribute name='name'/><filter><condition attribute='name' operator='in'><value>Alph&#97;</value><value><![CDATA[Beta]]></value></condition></filter><order attribute='name'/></entity></fetch>");
    expect(body(r).value.map((a) => a.name)).toEqual(['Alpha', 'Beta']);
  });
});
