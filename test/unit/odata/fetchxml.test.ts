/**
 * The FetchXML pieces the client walks with (issue 13): the builder's XML (escaped, in FetchXML's
 * element order), reading the paging annotations in every form the service sends, and rewriting the
 * root element's paging attributes without touching anything else the caller wrote.
 */
import { DynamicsError, ErrorCode } from '../../../src/errors';
import { fetchXml, readPaging, rootStartTag, withRootAttributes } from '../../../src/odata/fetchxml';

describe('the builder', () => {
  it('writes attributes, aliases, orders, nested filters and links, escaping values', () => {
    const xml = fetchXml('account')
      .select('name')
      .select({ created: 'createdon' })
      .where({ name: "O'Brien & <Sons>", revenue: { gt: 10, le: 20 }, or: [{ statecode: 0 }, { address1_city: null }], 'c.fullname': { like: 'A%' } })
      .where({ createdon: { 'last-x-days': 7 }, donotemail: false, modifiedon: new Date('2024-01-02T03:04:05Z') })
      .orderBy('name', 'desc')
      .link('contact', { from: 'parentcustomerid', to: 'accountid', alias: 'c', type: 'outer' }, (c) => c.select('fullname').where({ lastname: { in: ['a', 'b'] } }))
      .top(10)
      .distinct()
      .toXml();
    expect(xml).toBe(
      "<fetch top='10' distinct='true'><entity name='account'><attribute name='name'/><attribute name='createdon' alias='created'/><order attribute='name' descending='true'/>" +
        "<filter type='and'>" +
        "<filter type='and'><condition attribute='name' operator='eq' value='O&apos;Brien &amp; &lt;Sons&gt;'/><condition attribute='revenue' operator='gt' value='10'/><condition attribute='revenue' operator='le' value='20'/>" +
        "<filter type='or'><filter type='and'><condition attribute='statecode' operator='eq' value='0'/></filter><filter type='and'><condition attribute='address1_city' operator='null'/></filter></filter>" +
        "<condition entityname='c' attribute='fullname' operator='like' value='A%'/></filter>" +
        "<filter type='and'><condition attribute='createdon' operator='last-x-days' value='7'/><condition attribute='donotemail' operator='eq' value='0'/><condition attribute='modifiedon' operator='eq' value='2024-01-02T03:04:05.000Z'/></filter>" +
        '</filter>' +
        "<link-entity name='contact' from='parentcustomerid' to='accountid' link-type='outer' alias='c'><attribute name='fullname'/><filter type='and'><condition attribute='lastname' operator='in'><value>a</value><value>b</value></condition></filter></link-entity>" +
        '</entity></fetch>',
    );
  });

  it('writes whereExists as an exists (or in) link-entity without columns', () => {
    expect(fetchXml('contact').select('fullname').whereExists('account', { from: 'primarycontactid', to: 'contactid' }, (a) => a.where({ statecode: 1 })).toXml()).toBe(
      "<fetch><entity name='contact'><attribute name='fullname'/><link-entity name='account' from='primarycontactid' to='contactid' link-type='exists'><filter type='and'><condition attribute='statecode' operator='eq' value='1'/></filter></link-entity></entity></fetch>",
    );
    expect(fetchXml('contact').whereExists('account', { from: 'primarycontactid', to: 'contactid', type: 'in' }).toXml()).toBe(
      "<fetch><entity name='contact'><link-entity name='account' from='primarycontactid' to='contactid' link-type='in'/></entity></fetch>",
    );
  });

  it('writes aggregates and groups with aggregate=true, and is immutable', () => {
    const base = fetchXml('account');
    const grouped = base.groupBy({ city: 'address1_city', m: ['createdon', 'month'] }).aggregate({ n: ['accountid', 'count'], d: ['address1_city', 'countcolumn', { distinct: true }] }).aggregateLimit(100);
    expect(grouped.toXml()).toBe(
      "<fetch aggregate='true' aggregatelimit='100'><entity name='account'><attribute name='address1_city' alias='city' groupby='true'/><attribute name='createdon' alias='m' groupby='true' dategrouping='month'/>" +
        "<attribute name='accountid' alias='n' aggregate='count'/><attribute name='address1_city' alias='d' aggregate='countcolumn' distinct='true'/></entity></fetch>",
    );
    expect(base.toXml()).toBe("<fetch><entity name='account'></entity></fetch>");
    expect(String(base.select('name'))).toBe("<fetch><entity name='account'><attribute name='name'/></entity></fetch>");
  });

  it.each([
    ['an empty filter', () => fetchXml('account').where({})],
    ['an empty or', () => fetchXml('account').where({ or: [] })],
    ['a NaN', () => fetchXml('account').where({ revenue: Number.NaN })],
    ['an invalid Date', () => fetchXml('account').where({ createdon: new Date('x') })],
    ['a between of one value', () => fetchXml('account').where({ revenue: { between: [1] as never } })],
    ['an operator with markup', () => fetchXml('account').where({ revenue: { "eq' value='1": 1 } as never })],
    ['a name with markup', () => fetchXml("account'><x")],
    ['an alias with markup', () => fetchXml('account').select({ "a'": 'name' })],
    ['a link type', () => fetchXml('account').link('contact', { from: 'contactid', to: 'primarycontactid', type: 'full' as never })],
  ])('refuses %s with invalid_argument, at the call', (_name, build) => {
    try {
      build();
      throw new Error('expected a throw');
    } catch (error) {
      expect(error).toBeInstanceOf(DynamicsError);
      expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
    }
  });
});

describe('readPaging', () => {
  const inner = '<cookie page="1"><name last="O&apos;Brien" first="A" /><accountid last="{7A1C3B2E-0000-4000-8000-000000000001}" first="{7A1C3B2E-0000-4000-8000-000000000000}" /></cookie>';
  const annotation = (pagingcookie: string) => `<cookie pagenumber="2" pagingcookie="${pagingcookie}" istracking="False" />`;

  it('decodes a cookie URL-encoded twice (the docs) or once (a v9.1 capture) to the same text', () => {
    const twice = readPaging({ '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation(encodeURIComponent(encodeURIComponent(inner))) });
    const once = readPaging({ '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation(encodeURIComponent(inner)) });
    expect(twice).toEqual({ moreRecords: true, pagingCookie: inner, pageNumber: 2 });
    expect(once).toEqual(twice);
  });

  it('reads the docs\' sample cookie', () => {
    const sample =
      '<cookie pagenumber="2" pagingcookie="%253ccookie%2520page%253d%25221%2522%253e%253cfullname%2520last%253d%2522Susanna%2520Stubberod%2520%2528sample%2529%2522%2520first%253d%2522Yvonne%2520McKay%2520%2528sample%2529%2522%2520%252f%253e%253ccontactid%2520last%253d%2522%257b70BF4D48-34CB-ED11-B596-0022481D68CD%257d%2522%2520first%253d%2522%257b49B0BE2E-D01C-ED11-B83E-000D3A572421%257d%2522%2520%252f%253e%253c%252fcookie%253e" istracking="False" />';
    expect(readPaging({ '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': sample }).pagingCookie).toBe(
      '<cookie page="1"><fullname last="Susanna Stubberod (sample)" first="Yvonne McKay (sample)" /><contactid last="{70BF4D48-34CB-ED11-B596-0022481D68CD}" first="{49B0BE2E-D01C-ED11-B83E-000D3A572421}" /></cookie>',
    );
  });

  it('treats an absent or false morerecords as the last page, and an empty pagingcookie as no cookie', () => {
    expect(readPaging({})).toEqual({ moreRecords: false });
    expect(readPaging({ '@Microsoft.Dynamics.CRM.morerecords': false, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation(encodeURIComponent(inner)) }).moreRecords).toBe(false);
    expect(readPaging({ '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation('') })).toEqual({ moreRecords: true, pageNumber: 2 });
  });

  it.each([
    ['morerecords as text', { '@Microsoft.Dynamics.CRM.morerecords': 'true' }],
    ['a cookie annotation that is a number', { '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': 5 }],
    ['not a cookie element', { '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': '<other pagingcookie="x" />' }],
    ['a bad percent-encoding', { '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation('%E0%A4%A') }],
    ['a cookie that decodes to no element', { '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation('plain') }],
    ['a cookie longer than a megabyte', { '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': annotation('%25'.repeat(400_000)) }],
  ])('refuses %s as malformed_response', (_name, body) => {
    expect(() => readPaging(body)).toThrow(DynamicsError);
    try {
      readPaging(body);
    } catch (error) {
      expect((error as DynamicsError).code).toBe(ErrorCode.malformedResponse);
    }
  });
});

describe('root attributes', () => {
  it('sets, replaces and removes the root\'s attributes, keeping the rest as written', () => {
    const xml = `<?xml version="1.0"?>\n<!-- mine --><fetch version="1.0" count='10' mapping="logical"><entity name="account"><attribute name="name"/></entity></fetch>`;
    const tag = rootStartTag(xml, 'fetch');
    expect(tag.attributes).toEqual([['version', '1.0'], ['count', '10'], ['mapping', 'logical']]);
    const rewritten = withRootAttributes(xml, tag, { count: '50', page: '2', 'paging-cookie': '<cookie page="1"><a last="x&y" /></cookie>', mapping: undefined });
    expect(rewritten).toBe(
      `<?xml version="1.0"?>\n<!-- mine --><fetch version='1.0' count='50' page='2' paging-cookie='&lt;cookie page=&quot;1&quot;&gt;&lt;a last=&quot;x&amp;y&quot; /&gt;&lt;/cookie&gt;'><entity name="account"><attribute name="name"/></entity></fetch>`,
    );
    expect(new Map(rootStartTag(rewritten, 'fetch').attributes).get('paging-cookie')).toBe('<cookie page="1"><a last="x&y" /></cookie>');
  });

  it('refuses text that does not start with an element', () => {
    expect(() => rootStartTag('fetch please', 'fetch')).toThrow(/^fetch: expected FetchXML text starting with a <fetch/);
    expect(() => rootStartTag("<fetch count='1", 'fetch')).toThrow(DynamicsError);
  });
});
