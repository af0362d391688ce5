import { compileFilter, parseFilter, type FilterRuntime, type ValueKind } from '../../../src/emulator/dataverse/filter';
import { DataverseHttpError } from '../../../src/emulator/dataverse/errors';

const kinds: Record<string, ValueKind> = {
  name: 'string',
  revenue: 'number',
  statecode: 'number',
  donotemail: 'boolean',
  accountid: 'guid',
  createdon: 'date',
  _primarycontactid_value: 'guid',
};
const scope = { qualifiedType: 'Microsoft.Dynamics.CRM.account', kindOf: (p: string[]) => (p.length === 1 ? kinds[p[0] as string] : undefined) };
const rt: FilterRuntime = { get: (row, path) => row[path[0] as string], userId: 'u1', now: new Date('2025-01-10T12:00:00Z') };
const rows = [
  { name: "O'Brien Ltd", revenue: 100, statecode: 0, donotemail: false, accountid: 'aaaaaaaa-0000-0000-0000-000000000001', createdon: '2024-01-01T00:00:00Z', _primarycontactid_value: null },
  { name: 'Zoë & Co #1 50%+?', revenue: 5000, statecode: 1, donotemail: true, accountid: 'aaaaaaaa-0000-0000-0000-000000000002', createdon: '2025-01-10T08:00:00Z', _primarycontactid_value: 'bbbbbbbb-0000-0000-0000-000000000001' },
  { name: 'contoso', revenue: null, statecode: 0, donotemail: false, accountid: 'aaaaaaaa-0000-0000-0000-000000000003', createdon: '2023-06-01T00:00:00Z', _primarycontactid_value: null },
];
const names = (filter: string, aliases?: Map<string, string>) => {
  const p = compileFilter(parseFilter(filter, aliases), scope);
  return rows.filter((r) => p(r, rt)).map((r) => r.name);
};
const errorOf = (filter: string): DataverseHttpError => {
  try {
    names(filter);
  } catch (e) {
    return e as DataverseHttpError;
  }
  throw new Error(`expected ${filter} to fail`);
};

describe('emulator $filter', () => {
  it('compares with eq/ne/gt/ge/lt/le and doubled quotes', () => {
    expect(names("name eq 'O''Brien Ltd'")).toEqual(["O'Brien Ltd"]);
    expect(names('revenue gt 100')).toEqual(['Zoë & Co #1 50%+?']);
    expect(names('revenue ge 100')).toHaveLength(2);
    expect(names('revenue lt 5000 and revenue le 100')).toEqual(["O'Brien Ltd"]);
    expect(names("name ne 'contoso'")).toHaveLength(2);
  });
  it('treats strings case- and accent-insensitively like the SQL collation', () => {
    expect(names("name eq 'CONTOSO'")).toEqual(['contoso']);
    expect(names("contains(name,'zoe')")).toEqual(['Zoë & Co #1 50%+?']);
    expect(names("startswith(name,'o''b')")).toEqual(["O'Brien Ltd"]);
    expect(names("endswith(name,'50%+?')")).toEqual(['Zoë & Co #1 50%+?']);
  });
  it('handles null, booleans, GUIDs, dates, not, or and parentheses', () => {
    expect(names('revenue eq null')).toEqual(['contoso']);
    expect(names('_primarycontactid_value ne null')).toEqual(['Zoë & Co #1 50%+?']);
    expect(names('donotemail eq true')).toEqual(['Zoë & Co #1 50%+?']);
    expect(names('accountid eq AAAAAAAA-0000-0000-0000-000000000003')).toEqual(['contoso']);
    expect(names('createdon ge 2024-01-01')).toHaveLength(2);
    expect(names('createdon lt 2024-01-01T00:00:00Z')).toEqual(['contoso']);
    expect(names("not (statecode eq 0) or (name eq 'contoso' and revenue eq null)")).toEqual(['Zoë & Co #1 50%+?', 'contoso']);
    expect(names("not contains(name,'o')")).toEqual([]);
    expect(names('revenue gt 1 or revenue lt 1')).toHaveLength(2); // null never compares
  });
  it('supports parameter aliases and Dataverse query functions', () => {
    expect(names('contains(@p1,@p2)', new Map([['@p1', 'name'], ['@p2', "'brien'"]]))).toEqual(["O'Brien Ltd"]);
    expect(names("Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['1','2'])")).toEqual(['Zoë & Co #1 50%+?']);
    expect(names('Microsoft.Dynamics.CRM.Between(PropertyName=\'revenue\',PropertyValues=["50","200"])')).toEqual(["O'Brien Ltd"]);
    expect(names("Microsoft.Dynamics.CRM.Today(PropertyName='createdon')")).toEqual(['Zoë & Co #1 50%+?']);
    expect(names("Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=400)")).toHaveLength(2);
  });
  it('rejects unknown properties, incompatible types and bad syntax with Dataverse errors', () => {
    const unknown = errorOf("nme eq 'x'");
    expect(unknown.status).toBe(400);
    expect(unknown.message).toBe("Could not find a property named 'nme' on type 'Microsoft.Dynamics.CRM.account'.");
    expect(errorOf('name eq 5').message).toMatch(/incompatible types.*'Edm.String' and 'Edm.Int32'/);
    expect(errorOf("accountid eq 'aaaaaaaa-0000-0000-0000-000000000003'").message).toMatch(/Edm.Guid/);
    expect(errorOf("name eq 'unterminated").status).toBe(400);
    expect(errorOf('(revenue eq 1').status).toBe(400);
    expect(errorOf('revenue eq').status).toBe(400);
    expect(errorOf("substringof('a',name)").message).toMatch(/unknown function/);
  });
});

describe('emulator $filter nesting', () => {
  const recursion = (filter: string, aliases?: Map<string, string>): string => {
    try {
      names(filter, aliases);
    } catch (e) {
      expect(e).toBeInstanceOf(DataverseHttpError);
      return `${(e as DataverseHttpError).status} ${(e as DataverseHttpError).message}`;
    }
    return 'no error';
  };

  it('refuses nesting past 100 levels with ODataLib\'s 400, and accepts 100', () => {
    expect(recursion(`${'('.repeat(101)}statecode eq 1${')'.repeat(101)}`)).toBe('400 The recursion limit has been exceeded.');
    expect(names(`${'('.repeat(100)}statecode eq 1${')'.repeat(100)}`)).toEqual(['Zoë & Co #1 50%+?']);
    expect(recursion(`${'not '.repeat(101)}donotemail`)).toBe('400 The recursion limit has been exceeded.');
    expect(names(`${'not '.repeat(100)}donotemail`)).toEqual(['Zoë & Co #1 50%+?']);
  });

  it('counts an alias value\'s nesting with the filter that uses it', () => {
    const deep = `${'('.repeat(60)}name${')'.repeat(60)}`;
    expect(recursion(`${'('.repeat(60)}contains(@p, 'o')${')'.repeat(60)}`, new Map([['@p', deep]]))).toBe('400 The recursion limit has been exceeded.');
  });

  it('compiles and evaluates a 50,000-term `or` chain as a list (no stack per term)', () => {
    const terms = Array.from({ length: 50_000 }, (_, i) => `revenue eq ${i + 10_000}`);
    terms.push('revenue eq 5000');
    expect(names(terms.join(' or '))).toEqual(['Zoë & Co #1 50%+?']);
    const all = Array.from({ length: 50_000 }, () => 'statecode eq 0');
    expect(names(all.join(' and '))).toEqual(["O'Brien Ltd", 'contoso']);
  });

  it('keeps the order and meaning of mixed chains', () => {
    expect(names("statecode eq 1 or name eq 'contoso' and revenue eq null or revenue eq 100")).toEqual(["O'Brien Ltd", 'Zoë & Co #1 50%+?', 'contoso']);
    expect(names("(statecode eq 1 or name eq 'contoso') and revenue ne null")).toEqual(['Zoë & Co #1 50%+?']);
  });
});
