import { DynamicsError, ErrorCode } from '../../../src/errors';
import {
  buildQuery,
  buildQueryString,
  composePrefer,
  guid,
  parsePreferenceApplied,
  stringLiteral,
  type QueryOptions,
} from '../../../src/odata/query';

const ID = '00000000-0000-0000-0000-000000000001';

function thrown(fn: () => unknown): DynamicsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

/** What the server sees after decoding the query string, parsed the way a URL parser does. */
function decoded(queryString: string): Record<string, string> {
  const url = new URL(`https://org.example/api/data/v9.2/accounts${queryString}`);
  // A raw `+` would be read as a space here, exactly as ASP.NET does; our output must have none.
  return Object.fromEntries(url.searchParams.entries());
}

/** Characters that must never appear raw in our query strings. */
const UNSAFE_RAW = /[ &#+"<>\\^`{|}\u0080-\uffff]|%(?![0-9A-F]{2})/;

function assertEncoded(queryString: string): void {
  // Split on the separators we put in, then check each value.
  for (const param of queryString.replace(/^\?/, '').split('&')) {
    const value = param.slice(param.indexOf('=') + 1);
    expect(value).not.toMatch(UNSAFE_RAW);
  }
}

describe('buildQuery: filter values the server must read back exactly', () => {
  it.each<[string, string]>([
    ["O'Brien", "lastname eq 'O''Brien'"],
    ['Zoë', "lastname eq 'Zoë'"],
    ['東京 😀', "lastname eq '東京 😀'"],
    ['a&b', "lastname eq 'a&b'"],
    ['a#b', "lastname eq 'a#b'"],
    ['a?b', "lastname eq 'a?b'"],
    ['a+b', "lastname eq 'a+b'"],
    ['100%', "lastname eq '100%'"],
    ['%41', "lastname eq '%41'"],
    ['&#?+%', "lastname eq '&#?+%'"],
    ['a=b;c', "lastname eq 'a=b;c'"],
    ['"quoted"', `lastname eq '"quoted"'`],
    ["''", "lastname eq ''''''"],
  ])('object syntax: %j', (value, expected) => {
    const { queryString } = buildQuery({ filter: { lastname: value } });
    assertEncoded(queryString);
    expect(decoded(queryString)).toEqual({ $filter: expected });
  });

  it.each<[string]>([["lastname eq 'O''Brien'"], ["name eq 'a&b#c?d+e%f'"], ["contains(name,'東京 %41')"], ["name eq '%25'"]])(
    'expression text is sent as written: %j',
    (text) => {
      const { queryString } = buildQuery({ filter: text });
      assertEncoded(queryString);
      expect(decoded(queryString)).toEqual({ $filter: text });
    },
  );

  it('works with operators, functions, nested and/or and typed values', () => {
    const { queryString } = buildQuery({
      filter: {
        name: { startswith: 'A&' },
        statecode: 0,
        revenue: { gt: 1000.5 },
        or: [{ city: 'Paris' }, { city: 'Zürich' }],
        _parentaccountid_value: guid(ID.toUpperCase()),
        createdon: { ge: new Date('2024-01-02T03:04:05Z') },
        description: null,
      },
    });
    assertEncoded(queryString);
    expect(decoded(queryString).$filter).toBe(
      "startswith(name,'A&') and statecode eq 0 and revenue gt 1000.5 and ((city eq 'Paris') or (city eq 'Zürich')) and " +
        `_parentaccountid_value eq ${ID} and createdon ge 2024-01-02T03:04:05.000Z and description eq null`,
    );
  });

  it('encodes the + of an exponent so it is not read as a space', () => {
    const { queryString } = buildQuery({ filter: { n: 1e21 } });
    expect(queryString).toContain('1e%2B21');
    expect(decoded(queryString).$filter).toBe('n eq 1e+21');
  });

  it('parenthesises array items so `a or b` and `c` keep their meaning (odata-query alone would not)', () => {
    const { queryString } = buildQuery({ filter: ['a eq 1 or b eq 2', { c: 'x y' }] });
    expect(decoded(queryString).$filter).toBe("(a eq 1 or b eq 2) and (c eq 'x y')");
    expect(decoded(buildQuery({ filter: ['a eq 1'] }).queryString).$filter).toBe('a eq 1');
  });

  it.each<[unknown, RegExp]>([
    [{ accountid: undefined }, /^query\.filter\.accountid: expected a value \(odata-query would silently drop/],
    [{ name: { eq: undefined } }, /^query\.filter\.name\.eq: expected a value/],
    [{ name: {} }, /^query\.filter\.name: expected a non-empty condition/],
    [{ or: [{ a: 1 }, { b: undefined }] }, /^query\.filter\.or\[1\]\.b: /],
    [[{ a: undefined }], /^query\.filter\[0\]\.a: /],
    [{ n: Number.NaN }, /^query\.filter\.n: expected a finite number/],
    [{ id: { type: 'guid', value: 'nope' } }, /^query\.filter\.id: expected a GUID/],
    [{ j: { type: 'json', value: { a: 'é' } } }, /no JSON literal/],
    [{ m: new Map() }, /plain condition object/],
    [42, /^query\.filter: expected expression text/],
    ['   ', /^query\.filter: expected a non-empty filter expression/],
    ['lone \ud800 surrogate', /lone surrogate/],
  ])('refuses the filter %j instead of silently widening it', (filter, message) => {
    const error = thrown(() => buildQuery({ filter: filter as never }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(message);
  });

  it('treats an empty top-level filter as no filter', () => {
    expect(buildQuery({ filter: {} }).queryString).toBe('');
    expect(buildQuery({ filter: [] }).queryString).toBe('');
  });
});

describe('buildQuery: other options', () => {
  it('builds select, orderBy, top, expand and count', () => {
    const { queryString, preferences } = buildQuery({
      select: ['name', 'accountid', '_parentaccountid_value'],
      orderBy: ['name desc', ['createdon', 'asc']],
      top: 5,
      count: true,
      expand: { primarycontactid: { select: ['fullname'], filter: { fullname: 'A&B #1' } } },
    });
    assertEncoded(queryString);
    expect(decoded(queryString)).toEqual({
      $select: 'name,accountid,_parentaccountid_value',
      $expand: "primarycontactid($select=fullname;$filter=fullname eq 'A&B #1')",
      $orderby: 'name desc,createdon asc',
      $top: '5',
      $count: 'true',
    });
    expect(queryString.startsWith('?$select=name,accountid,_parentaccountid_value&')).toBe(true);
    expect(preferences).toEqual({});
  });

  it('accepts single strings and leaves false count out', () => {
    expect(buildQueryString({ select: 'name', orderBy: 'name', expand: 'primarycontactid', count: false })).toBe(
      '?$select=name&$expand=primarycontactid&$orderby=name',
    );
    expect(buildQueryString({ expand: ['a', 'b'] })).toBe('?$expand=a,b');
    expect(buildQueryString()).toBe('');
    expect(buildQueryString({})).toBe('');
    expect(buildQueryString({ top: 0 })).toBe('?$top=0');
  });

  it('passes maxPageSize and annotations through as preferences', () => {
    const built = buildQuery({ maxPageSize: 333, annotations: 'OData.Community.Display.V1.FormattedValue' });
    expect(built.queryString).toBe('');
    expect(built.preferences).toEqual({ maxPageSize: 333, includeAnnotations: 'OData.Community.Display.V1.FormattedValue' });
    expect(composePrefer(built.preferences)).toBe('odata.include-annotations="OData.Community.Display.V1.FormattedValue",odata.maxpagesize=333');
  });

  it('refuses skip with a clear reason', () => {
    const error = thrown(() => buildQuery({ skip: 10 } as QueryOptions));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^query\.skip: expected no \$skip: Dataverse does not support it/);
    expect(error.message).toContain('@odata.nextLink');
    expect(thrown(() => buildQuery({ skiptoken: 'x' } as QueryOptions)).message).toMatch(/^query\.skiptoken: /);
  });

  it.each<[unknown, RegExp]>([
    [{ maxPageSize: 0 }, /^query\.maxPageSize: expected a whole number from 1 to 5000/],
    [{ maxPageSize: 5001 }, /^query\.maxPageSize: /],
    [{ maxPageSize: 2.5 }, /^query\.maxPageSize: /],
    [{ maxPageSize: '10' }, /^query\.maxPageSize: /],
    [{ top: -1 }, /^query\.top: expected a whole number/],
    [{ top: 1.5 }, /^query\.top: /],
    [{ count: 'yes' }, /^query\.count: expected true or false/],
    [{ count: { name: 'x' } }, /^query\.count: /],
    [{ select: [] }, /^query\.select: /],
    [{ select: ['name', 'bad name'] }, /^query\.select\[1\]: /],
    [{ select: ['name&$top=1'] }, /^query\.select\[0\]: /],
    [{ orderBy: [['name', 'up']] }, /^query\.orderBy: /],
    [{ orderBy: '' }, /^query\.orderBy: /],
    [{ expand: '' }, /^query\.expand: /],
    [{ expand: { primarycontactid: { filter: { a: undefined } } } }, /^query\.expand\.primarycontactid\.filter\.a: /],
    [{ annotations: 'bad"quote' }, /^query\.annotations\[0\]: /],
    [{ annotations: [] }, /^query\.annotations: /],
    [{ search: 'x' }, /^query\.search: expected one of the options/],
    ['select=name', /^query: expected an object/],
  ])('refuses %j naming the option', (query, message) => {
    const error = thrown(() => buildQuery(query as QueryOptions));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(message);
  });

  it('ignores options set to undefined', () => {
    expect(buildQueryString({ select: undefined, filter: undefined, skip: undefined } as QueryOptions)).toBe('');
  });
});

describe('stringLiteral and guid', () => {
  it('quotes and doubles', () => {
    expect(stringLiteral("O'Brien")).toBe("'O''Brien'");
    expect(stringLiteral('')).toBe("''");
    expect(thrown(() => stringLiteral(1 as never)).code).toBe(ErrorCode.invalidArgument);
  });
  it('validates GUIDs', () => {
    expect(guid(`{${ID.toUpperCase()}}`)).toEqual({ type: 'guid', value: ID });
    expect(thrown(() => guid('x')).message).toMatch(/^guid: expected a GUID/);
  });
});

describe('composePrefer', () => {
  it('returns undefined when nothing is preferred', () => {
    expect(composePrefer()).toBeUndefined();
    expect(composePrefer({ returnRepresentation: false, continueOnError: false })).toBeUndefined();
  });

  it('joins several preferences with commas in one header (RFC 7240)', () => {
    expect(
      composePrefer({
        returnRepresentation: true,
        maxPageSize: 5000,
        includeAnnotations: ['Microsoft.Dynamics.CRM.totalrecordcount', 'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'],
        continueOnError: true,
        extra: ['odata.track-changes'],
      }),
    ).toBe(
      'return=representation,' +
        'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",' +
        'odata.maxpagesize=5000,odata.continue-on-error,odata.track-changes',
    );
  });

  it.each<[PreferOptions['includeAnnotations'], string]>([
    [true, 'odata.include-annotations="*"'],
    ['*', 'odata.include-annotations="*"'],
    ['OData.Community.Display.V1.FormattedValue', 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'],
    ['Microsoft.Dynamics.CRM.*', 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'],
    [['*', '-Microsoft.Dynamics.CRM.lookuplogicalname'], 'odata.include-annotations="*,-Microsoft.Dynamics.CRM.lookuplogicalname"'],
  ])('writes annotations %j as %s', (includeAnnotations, expected) => {
    expect(composePrefer({ includeAnnotations })).toBe(expected);
  });

  it.each<[PreferOptions, RegExp]>([
    [{ maxPageSize: 0 }, /^maxPageSize: expected a whole number from 1 to 5000 .*, got 0$/],
    [{ maxPageSize: 5001 }, /^maxPageSize: /],
    [{ maxPageSize: Number.NaN }, /^maxPageSize: /],
    [{ includeAnnotations: 'a"b' }, /^includeAnnotations\[0\]: /],
    [{ includeAnnotations: [] }, /^includeAnnotations: /],
    [{ extra: ['a\r\nAuthorization: x'] }, /^extra\[0\]: /],
    [{ extra: [''] }, /^extra\[0\]: /],
  ])('refuses %j', (options, message) => {
    const error = thrown(() => composePrefer(options));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(message);
  });
});

type PreferOptions = Parameters<typeof composePrefer>[0] & object;

describe('parsePreferenceApplied', () => {
  it('reads the documented page-size echo', () => {
    expect(parsePreferenceApplied('odata.maxpagesize=2')).toEqual({
      maxPageSize: 2,
      returnRepresentation: false,
      continueOnError: false,
      all: { 'odata.maxpagesize': '2' },
    });
  });

  it('reads several preferences, quoted lists with commas and case-insensitive names', () => {
    const applied = parsePreferenceApplied(
      'return=representation, odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*" ,ODATA.MaxPageSize=500,odata.continue-on-error',
    );
    expect(applied.maxPageSize).toBe(500);
    expect(applied.includeAnnotations).toEqual(['OData.Community.Display.V1.FormattedValue', 'Microsoft.Dynamics.CRM.*']);
    expect(applied.returnRepresentation).toBe(true);
    expect(applied.continueOnError).toBe(true);
  });

  it('round-trips composePrefer', () => {
    const header = composePrefer({ returnRepresentation: true, maxPageSize: 7, includeAnnotations: ['a.b', 'c.*'], continueOnError: true });
    expect(parsePreferenceApplied(header)).toMatchObject({ maxPageSize: 7, includeAnnotations: ['a.b', 'c.*'], returnRepresentation: true, continueOnError: true });
  });

  it('is tolerant of missing, empty, array and odd headers', () => {
    expect(parsePreferenceApplied(undefined)).toEqual({ returnRepresentation: false, continueOnError: false, all: {} });
    expect(parsePreferenceApplied('')).toEqual({ returnRepresentation: false, continueOnError: false, all: {} });
    expect(parsePreferenceApplied(['odata.maxpagesize=3', 'return=minimal']).maxPageSize).toBe(3);
    expect(parsePreferenceApplied('odata.maxpagesize=abc').maxPageSize).toBeUndefined();
    expect(parsePreferenceApplied(',,=x, "unterminated').all).toEqual({ '"unterminated': true });
    expect(parsePreferenceApplied('wait=10; foo="a;b"').all).toEqual({ wait: '10' });
  });
});

describe('buildQuery: expand text', () => {
  it('sends expression-text expands as written, percent signs included', () => {
    const { queryString } = buildQuery({ expand: "primarycontactid($select=fullname;$filter=fullname eq '100%41 & more')" });
    assertEncoded(queryString);
    expect(decoded(queryString).$expand).toBe("primarycontactid($select=fullname;$filter=fullname eq '100%41 & more')");
  });
  it('encodes object-form expand literals once', () => {
    const { queryString } = buildQuery({ expand: { primarycontactid: { filter: { fullname: '100%41' } } } });
    expect(decoded(queryString).$expand).toBe("primarycontactid($filter=fullname eq '100%41')");
  });
});

describe('buildQuery: odata-query lambda strings', () => {
  it("escapes a string lambda value that odata-query would insert raw (quote injection)", () => {
    expect(decoded(buildQuery({ filter: { tags: { any: "O'Brien & co" } } }).queryString).$filter).toBe("tags/any(tags:tags eq 'O''Brien & co')");
    expect(decoded(buildQuery({ filter: { tags: { all: "x') or true or ('" } } }).queryString).$filter).toBe(
      "tags/all(tags:tags ne 'x'') or true or (''')",
    );
  });
  it('keeps the object form of lambdas', () => {
    expect(decoded(buildQuery({ filter: { contact_customer_accounts: { any: { fullname: 'Zoë' } } } }).queryString).$filter).toBe(
      "contact_customer_accounts/any(contact_customer_accounts:contact_customer_accounts/fullname eq 'Zoë')",
    );
  });
  it('does not modify the caller object', () => {
    const filter = { tags: { any: 'x' }, id: guid(ID) };
    const copy = JSON.parse(JSON.stringify(filter)) as unknown;
    buildQuery({ filter });
    expect(filter).toEqual(copy);
  });
});
