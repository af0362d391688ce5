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

  it('treats an empty top-level filter object as no filter', () => {
    expect(buildQuery({ filter: {} }).queryString).toBe('');
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
    [{ orderBy: [['name', 'up']] }, /^query\.orderBy\[0\]: /],
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

/** Every way a query can be refused must be this, never a raw RangeError/TypeError/URIError. */
function refused(query: unknown): DynamicsError {
  let error: unknown;
  try {
    buildQuery(query as QueryOptions);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DynamicsError);
  expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
  return error as DynamicsError;
}

/** `{ and: [{ and: [ … { a: 1 } … ] }] }`, `levels` arrays deep. */
function nestedAnd(levels: number): Record<string, unknown> {
  let filter: Record<string, unknown> = { a: 1 };
  for (let i = 0; i < levels; i++) filter = { and: [filter] };
  return filter;
}

describe('buildQuery: depth, cycles and size are bounded (issue 11, item 3)', () => {
  it('refuses a filter nested 10,000 levels deep with invalid_argument naming the path, not a stack overflow', () => {
    const error = refused({ filter: nestedAnd(10_000) });
    expect(error.message).toMatch(/^query\.filter\.and\[0\]\.and\[0\]/);
    expect(error.message).toContain('at most 100 levels of nested objects and arrays');
    // The path of a deep part is shortened, so the message stays readable.
    expect(error.message.length).toBeLessThan(600);
  });

  it('still builds a filter nested well within the bound', () => {
    expect(decoded(buildQuery({ filter: nestedAnd(40) }).queryString).$filter).toBe(`${'('.repeat(80)}a eq 1${')'.repeat(80)}`);
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'an object that contains itself',
      () => {
        const f: Record<string, unknown> = { a: 1 };
        f.self = f;
        return { filter: f };
      },
      /^query\.filter\.self: expected no cycle/,
    ],
    [
      'an or list that contains its condition',
      () => {
        const f: Record<string, unknown[]> = { or: [] };
        f.or.push({ a: 1 }, f);
        return { filter: f };
      },
      /^query\.filter\.or\[1\]: expected no cycle/,
    ],
    [
      'a column value that contains itself',
      () => {
        const ops: Record<string, unknown> = { eq: 1 };
        ops.parent = ops;
        return { filter: { name: ops } };
      },
      /^query\.filter\.name\.parent: expected no cycle/,
    ],
    [
      'a not that contains itself',
      () => {
        const f: Record<string, unknown> = {};
        f.not = f;
        return { filter: f };
      },
      /^query\.filter\.not: expected no cycle/,
    ],
    [
      'an expand that expands itself',
      () => {
        const options: Record<string, unknown> = { select: ['fullname'] };
        options.expand = { primarycontactid: options };
        return { expand: { primarycontactid: options } };
      },
      /^query\.expand\.primarycontactid\.expand\.primarycontactid: expected no cycle/,
    ],
    [
      'an expand filter that contains itself',
      () => {
        const f: Record<string, unknown> = { a: 1 };
        f.or = [f];
        return { expand: { primarycontactid: { filter: f } } };
      },
      /^query\.expand\.primarycontactid\.filter\.or\[0\]: expected no cycle/,
    ],
  ])('refuses %s', (_, make, message) => {
    expect(refused(make()).message).toMatch(message);
  });

  it('refuses an expand nested 10,000 levels deep', () => {
    let expand: Record<string, unknown> = { primarycontactid: true };
    for (let i = 0; i < 10_000; i++) expand = { parentaccountid: { expand } };
    expect(refused({ expand }).message).toContain('at most 100 levels');
  });

  it('refuses a small object that would expand to an exponentially long filter, instead of building it', () => {
    // 40 levels of `{ and: [o, o] }` share one object: 2^40 conditions if written out.
    let f: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < 40; i++) f = { and: [f, f] };
    expect(refused({ filter: f }).message).toMatch(/at most 65536 values .*cannot fit in a Dataverse URL/);
  });

  it('accepts a shared sub-object that is not a cycle', () => {
    const shared = { statecode: 0 };
    expect(decoded(buildQuery({ filter: { or: [shared, shared] } }).queryString).$filter).toBe('((statecode eq 0) or (statecode eq 0))');
  });
});

describe('buildQuery: empty lists never widen a query (issue 11, item 4)', () => {
  it.each<[string, unknown, RegExp]>([
    ['{ or: [] }', { or: [] }, /^query\.filter\.or: expected a non-empty list: an empty `or` would match no row.*skip the query when the list is empty/],
    ['{ statecode: 1, or: [] }', { statecode: 1, or: [] }, /^query\.filter\.or: .*skip the query/],
    ['{ and: [] }', { and: [] }, /^query\.filter\.and: expected a non-empty list.*leave `and` out/],
    ['{ or: {} }', { or: {} }, /^query\.filter\.or: expected a non-empty list/],
    ['{ not: {} }', { not: {} }, /^query\.filter\.not: expected a non-empty condition: odata-query drops an empty `not`/],
    ['{ not: [] }', { not: [] }, /^query\.filter\.not: expected a non-empty condition/],
    ['an in over an empty list', { accountid: { in: [] } }, /^query\.filter\.accountid\.in: expected a non-empty list: an empty `in` matches no row/],
    ['a typed in over an empty list', { accountid: { in: { type: 'guid', value: [] } } }, /^query\.filter\.accountid\.in\.value: expected a non-empty list/],
    ['an empty or deep inside', { statecode: 0, or: [{ name: 'a' }, { and: [{ revenue: { gt: 1 } }, { or: [] }] }] }, /^query\.filter\.or\[1\]\.and\[1\]\.or: /],
    ['an empty or under a column', { parentaccountid: { or: [] } }, /^query\.filter\.parentaccountid\.or: /],
    ['an empty or in a lambda', { contact_customer_accounts: { any: { or: [] } } }, /^query\.filter\.contact_customer_accounts\.any\.or: /],
    ['an empty lambda list', { contact_customer_accounts: { any: [] } }, /^query\.filter\.contact_customer_accounts\.any: /],
    ['an empty object as a condition value', { name: {} }, /^query\.filter\.name: expected a non-empty condition/],
    ['an empty object in an or list', { or: [{}] }, /^query\.filter\.or\[0\]: expected a non-empty condition/],
    ['an empty expression in an or list', { or: [' '] }, /^query\.filter\.or\[0\]: expected a non-empty filter expression/],
    ['an empty top-level list', [], /^query\.filter: expected a non-empty array of conditions/],
    ['an empty object in the top-level list', [{}], /^query\.filter\[0\]: expected a non-empty condition/],
  ])('refuses %s in a filter', (_, filter, message) => {
    expect(refused({ filter }).message).toMatch(message);
  });

  it.each<[string, unknown, RegExp]>([
    ['an empty or in an expand filter', { primarycontactid: { filter: { or: [] } } }, /^query\.expand\.primarycontactid\.filter\.or: /],
    ['an empty expand filter list', { primarycontactid: { filter: [] } }, /^query\.expand\.primarycontactid\.filter: /],
    ['an empty expand filter object', { primarycontactid: { filter: {} } }, /^query\.expand\.primarycontactid\.filter: expected a non-empty condition/],
  ])('refuses %s', (_, expand, message) => {
    expect(refused({ expand }).message).toMatch(message);
  });

  it('keeps the non-empty forms working', () => {
    const f = (filter: unknown): string => decoded(buildQuery({ filter } as QueryOptions).queryString).$filter;
    expect(f({ statecode: 1, or: [{ name: 'a' }] })).toBe("statecode eq 1 and ((name eq 'a'))");
    expect(f({ and: [{ a: 1 }, 'b eq 2'] })).toBe('((a eq 1) and (b eq 2))');
    expect(f({ not: { name: 'a' } })).toBe("not ((name eq 'a'))");
    // Dataverse has no `in` operator: a list goes through its In query function (issue 13).
    expect(f({ accountid: { in: [guid(ID), guid(ID.replace(/1$/, '2'))] } })).toBe(`((Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['${ID}','${ID.replace(/1$/, '2')}'])))`);
    expect(f({ accountid: { in: { type: 'guid', value: [ID] } } })).toBe(`((Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=['${ID}'])))`);
    expect(f({ statecode: { in: [0, 1] } })).toBe("((Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['0','1'])))");
  });
});

describe('buildQuery: odata-query shapes that changed a query’s meaning are rewritten (issue 11, item 4 siblings)', () => {
  const f = (filter: unknown): string => decoded(buildQuery({ filter } as QueryOptions).queryString).$filter;

  it("parenthesises a column's or list, which odata-query wrote as `(a) or (b) and c`", () => {
    expect(f({ parentaccountid: { or: [{ name: 'a' }, { name: 'b' }] }, statecode: 1 })).toBe(
      "((parentaccountid/name eq 'a') or (parentaccountid/name eq 'b')) and statecode eq 1",
    );
  });

  it("keeps a column's not, which odata-query dropped", () => {
    expect(f({ name: { not: { eq: 'a' } } })).toBe("not ((name eq 'a'))");
    expect(f({ name: { startswith: 'A', not: { eq: 'Ab' } } })).toBe("((startswith(name,'A')) and (not ((name eq 'Ab'))))");
  });

  it('applies operators in a column list to the column', () => {
    expect(f({ name: { or: [{ eq: 'a' }, { startswith: 'b' }] } })).toBe("((name eq 'a') or (startswith(name,'b')))");
  });

  it('keeps every condition of a lambda list, where odata-query kept the last', () => {
    expect(f({ contact_customer_accounts: { any: [{ firstname: 'a' }, { lastname: 'b' }] } })).toBe(
      "contact_customer_accounts/any(contact_customer_accounts:((contact_customer_accounts/firstname eq 'a') and (contact_customer_accounts/lastname eq 'b')))",
    );
  });

  it('combines the keys of an or object with or, at any depth', () => {
    expect(f({ or: { a: 1, b: 2 } })).toBe('((a eq 1) or (b eq 2))');
    expect(f({ parentaccountid: { or: { name: 'a', accountnumber: 'b' } } })).toBe("((parentaccountid/name eq 'a') or (parentaccountid/accountnumber eq 'b'))");
  });

  it('keeps a column named __proto__, which the old copy dropped (matching every row)', () => {
    expect(f(JSON.parse('{"__proto__": 1}'))).toBe('__proto__ eq 1');
  });
});

describe('buildQuery: keys and names are identifiers (issue 11, item 15)', () => {
  it.each<[string, unknown, RegExp]>([
    ['an expression as a key', { filter: { "name eq 'x' or statecode": 0 } }, /^query\.filter: expected keys that are column names .* got "name eq 'x' or statecode"/],
    ['a function as a key', { filter: { 'tolower(name)': 'x' } }, /write functions such as tolower\(name\) as expression text/],
    ['an expression as a nested key', { filter: { parentaccountid: { 'name eq 1) or (1': 1 } } }, /^query\.filter\.parentaccountid: expected keys that are column names/],
    ['an expression as a key in an or item', { filter: { or: [{ 'a or b': 1 }] } }, /^query\.filter\.or\[0\]: expected keys/],
    ['an expression as a lambda key', { filter: { tags: { any: { 'x) or (true': 1 } } } }, /^query\.filter\.tags\.any: expected keys/],
    ['an object value whose keys odata-query writes verbatim', { filter: { name: { eq: { "x') or (1": 1 } } } }, /^query\.filter\.name\.eq: expected a value/],
    ['a typed literal with an extra key', { filter: { d: { type: 'raw', value: '1', "1 eq 1) or (x": 2 } } }, /^query\.filter\.d: expected a typed literal \{ type, value \} with no other key/],
    ['an unknown typed literal', { filter: { d: { type: 'zz', value: 1 } } }, /^query\.filter\.d: expected a typed literal such as guid/],
    ['a duration that closes its quote', { filter: { d: { type: 'duration', value: "P1D' or 1 eq 1 or x eq '" } } }, /^query\.filter\.d: expected an ISO 8601 duration/],
    ['a binary that closes its quote', { filter: { d: { type: 'binary', value: "AA' or 1 eq 1" } } }, /^query\.filter\.d: expected base64/],
    ['an alias', { filter: { d: { type: 'alias', name: 'x', value: 1 } } }, /^query\.filter\.d: expected no parameter alias/],
    ['an array joined with the column as operator', { filter: { name: ['a', 'b'] } }, /^query\.filter\.name: .*use \{ in: \[\.\.\.\] \}/],
    ['an in that is a string (a TypeError in odata-query)', { filter: { name: { in: 'abc' } } }, /^query\.filter\.name\.in: expected a non-empty array/],
    ['a lone surrogate in a value (a URIError in odata-query)', { filter: { name: 'a\ud800' } }, /^query\.filter\.name: expected well-formed Unicode/],
    ['a lone surrogate in an expand filter', { expand: { primarycontactid: { filter: { fullname: '\udc00' } } } }, /^query\.expand\.primarycontactid\.filter\.fullname: expected well-formed/],
    ['an invalid Date (a RangeError from toISOString)', { filter: { createdon: { gt: new Date('nope') } } }, /^query\.filter\.createdon\.gt: expected a valid Date/],
    ['a lambda under a path', { filter: { 'a/b': { any: { c: 1 } } } }, /^query\.filter\.a\/b\.any: expected any under a column name/],
    ['an expand key that is not a navigation name', { expand: { 'a),b(': true } }, /^query\.expand: expected navigation property names as keys/],
    ['an expand option at the top of an expand', { expand: { select: ['name'] } }, /options such as select go inside one/],
    ['an unknown expand option', { expand: { primarycontactid: { selectt: ['x'] } } }, /^query\.expand\.primarycontactid: expected options named/],
    ['a select item inside an expand', { expand: { primarycontactid: { select: ['x);$filter=(1 eq 1'] } } }, /^query\.expand\.primarycontactid\.select\[0\]: /],
    ['an orderBy inside an expand', { expand: { primarycontactid: { orderBy: 'x;$top=1' } } }, /^query\.expand\.primarycontactid\.orderBy: /],
    ['a skip inside an expand', { expand: { primarycontactid: { skip: 1 } } }, /no \$skip/],
    ['a string as an expand value', { expand: { primarycontactid: 'fullname' } }, /^query\.expand\.primarycontactid: expected true, or an object of options/],
    ['expand text that does not start with a navigation name', { expand: 'a),b(' }, /^query\.expand: expected navigation property names/],
    ['an orderBy column with an injected option', { orderBy: 'name&$top=1' }, /^query\.orderBy: /],
    ['an orderBy pair with an expression as column', { orderBy: [['name,createdon', 'asc']] }, /^query\.orderBy\[0\]: /],
  ])('refuses %s', (_, query, message) => {
    expect(refused(query).message).toMatch(message);
  });

  it('accepts column paths, lambda items, order-by lists and every expand form', () => {
    expect(decoded(buildQuery({ filter: { 'primarycontactid/fullname': 'x', primarycontactid: { emailaddress1: 'y' } } }).queryString).$filter).toBe(
      "primarycontactid/fullname eq 'x' and primarycontactid/emailaddress1 eq 'y'",
    );
    expect(decoded(buildQuery({ filter: { tags: { any: { '': { startswith: 'a' } } } } }).queryString).$filter).toBe("tags/any(tags:startswith(tags,'a'))");
    expect(decoded(buildQuery({ orderBy: 'name desc, createdon' }).queryString).$orderby).toBe('name desc, createdon');
    expect(decoded(buildQuery({ orderBy: ['primarycontactid/fullname asc'] }).queryString).$orderby).toBe('primarycontactid/fullname asc');
    expect(decoded(buildQuery({ expand: 'primarycontactid,parentaccountid($select=name)' }).queryString).$expand).toBe('primarycontactid,parentaccountid($select=name)');
    expect(decoded(buildQuery({ expand: ['primarycontactid', { parentaccountid: { select: ['name'], orderby: 'name' } }] }).queryString).$expand).toBe(
      'primarycontactid,parentaccountid($select=name;$orderby=name)',
    );
    expect(decoded(buildQuery({ expand: { primarycontactid: true, contact_customer_accounts: { top: 2, filter: ['a eq 1 or b eq 2', { c: 3 }] } } }).queryString).$expand).toBe(
      'primarycontactid,contact_customer_accounts($top=2;$filter=((a eq 1 or b eq 2) and (c eq 3)))',
    );
  });
});

describe('buildQuery: a query that cannot fit in a URL is refused before it is sent (issue 11, item 14)', () => {
  it('refuses a 1 MB filter value naming the option, with a short message', () => {
    const error = refused({ select: ['name'], filter: { name: 'x'.repeat(1_000_000) } });
    expect(error.message).toMatch(/^query\.filter: the query string alone is 1,000,\d{3} characters long, and Dataverse accepts at most 32,768/);
    expect(error.message).toContain('client.batch()');
    expect(error.message.length).toBeLessThan(800);
  });

  it('builds a query just under the limit', () => {
    const { queryString } = buildQuery({ filter: { name: 'x'.repeat(32_000) } });
    expect(queryString.length).toBeLessThan(32_768);
  });
});
