/**
 * Dataverse's query functions in the object syntax (issue 13): each is written with Microsoft's
 * parameter names and types, string values are quoted, doubled and percent-encoded, and a value that
 * does not fit the function is refused naming where it sits.
 */
import { DynamicsError, ErrorCode } from '../../../src/errors';
import { QUERY_FUNCTIONS, queryFunctionText } from '../../../src/odata/queryFunctions';
import { buildQuery, type Filter } from '../../../src/odata/query';

const ID = '7A1C3B2E-0000-4000-8000-000000000001';

describe('queryFunctionText', () => {
  it.each([
    ['today', true, "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')"],
    ['lastXDays', 7, "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)"],
    ['olderThanXMonths', 2, "Microsoft.Dynamics.CRM.OlderThanXMonths(PropertyName='createdon',PropertyValue=2)"],
    ['on', '2024-05-01', "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-05-01')"],
    ['onOrAfter', new Date('2024-05-01T10:00:00Z'), "Microsoft.Dynamics.CRM.OnOrAfter(PropertyName='createdon',PropertyValue='2024-05-01')"],
    ['inFiscalPeriodAndYear', [2, 2024], "Microsoft.Dynamics.CRM.InFiscalPeriodAndYear(PropertyName='createdon',PropertyValue1=2,PropertyValue2=2024)"],
    ['between', [1, 10], "Microsoft.Dynamics.CRM.Between(PropertyName='createdon',PropertyValues=['1','10'])"],
    ['under', ID, `Microsoft.Dynamics.CRM.Under(PropertyName='createdon',PropertyValue='${ID.toLowerCase()}')`],
    ['in', ["O'Brien", 'a&b'], "Microsoft.Dynamics.CRM.In(PropertyName='createdon',PropertyValues=['O''Brien','a%26b'])"],
  ])('%s', (op, value, text) => {
    expect(queryFunctionText(op, 'createdon', value, 'f')).toBe(text);
  });

  it.each([
    ['today', 1],
    ['lastXDays', 1.5],
    ['lastXDays', '7'],
    ['on', 'yesterday'],
    ['under', 'not-a-guid'],
    ['in', []],
    ['between', [1]],
    ['inFiscalPeriodAndYear', [1, 'x']],
  ])('%s refuses %p', (op, value) => {
    expect(() => queryFunctionText(op, 'createdon', value, 'query.filter.createdon.x')).toThrow(DynamicsError);
    try {
      queryFunctionText(op, 'createdon', value, 'query.filter.createdon.x');
    } catch (error) {
      expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
      expect((error as DynamicsError).message).toMatch(/^query\.filter\.createdon\.x/);
    }
  });

  it('knows every function of the Web API reference, by its camel-case name', () => {
    for (const name of ['In', 'NotIn', 'Between', 'NotBetween', 'LastXDays', 'NextXDays', 'Today', 'Yesterday', 'ThisMonth', 'Under', 'UnderOrEqual', 'Above', 'EqualUserId', 'ContainValues', 'InFiscalYear']) {
      expect(QUERY_FUNCTIONS.get(name[0].toLowerCase() + name.slice(1))?.name).toBe(name);
    }
    expect(QUERY_FUNCTIONS.size).toBe(69);
  });
});

describe('buildQuery with query functions', () => {
  const filter = (f: Filter): string => decodeURIComponent(buildQuery({ filter: f }).queryString.slice('?$filter='.length));

  it('writes a function next to other conditions of the same column, joined with and', () => {
    expect(filter({ createdon: { lastXDays: 7, lt: new Date('2024-01-01T00:00:00Z') } })).toBe(
      "((createdon lt 2024-01-01T00:00:00.000Z) and (((Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)))))",
    );
  });

  it('refuses a function through a navigation path or inside any/all, which it cannot name', () => {
    expect(() => buildQuery({ filter: { primarycontactid: { createdon: { today: true } } } })).toThrow(/query\.filter\.primarycontactid\.createdon\.today: expected today on a column of the filtered table itself/);
    expect(() => buildQuery({ filter: { contact_customer_accounts: { any: { createdon: { today: true } } } } })).toThrow(/neither through a navigation path nor inside any\/all/);
  });

  it('writes `in` inside any/all as an or of equalities', () => {
    expect(filter({ contact_customer_accounts: { any: { statecode: { in: [0, 1] } } } })).toBe(
      'contact_customer_accounts/any(contact_customer_accounts:((contact_customer_accounts/statecode eq 0) or (contact_customer_accounts/statecode eq 1)))',
    );
  });

  it('with column types, coerces values to the column and refuses the wrong type', () => {
    const columns = { _parentcustomerid_value: 'Edm.Guid', birthdate: 'Edm.Date', createdon: 'Edm.DateTimeOffset', revenue: 'Edm.Decimal', name: 'Edm.String', donotemail: 'Edm.Boolean' };
    const typed = (f: Filter) => decodeURIComponent(buildQuery({ filter: f }, 'query', { columns }).queryString.slice('?$filter='.length));
    expect(typed({ _parentcustomerid_value: ID })).toBe(`_parentcustomerid_value eq ${ID.toLowerCase()}`);
    expect(typed({ _parentcustomerid_value: { in: [ID] } })).toBe(`((Microsoft.Dynamics.CRM.In(PropertyName='_parentcustomerid_value',PropertyValues=['${ID.toLowerCase()}'])))`);
    expect(typed({ birthdate: new Date('1990-02-03T12:00:00Z') })).toBe('birthdate eq 1990-02-03');
    expect(typed({ createdon: { ge: '2024-01-01T00:00:00+02:00' } })).toBe('createdon ge 2024-01-01T00:00:00+02:00');
    expect(typed({ name: "O'Brien" })).toBe("name eq 'O''Brien'");
    // A column the model does not know is left as it was.
    expect(typed({ unknowncolumn: ID })).toBe(`unknowncolumn eq '${ID}'`);
    expect(() => typed({ revenue: '12' })).toThrow(/query\.filter\.revenue: expected a number \(the model gives revenue the type Edm\.Decimal\), got "12"/);
    expect(() => typed({ name: 42 })).toThrow(/expected a string/);
    expect(() => typed({ donotemail: 'yes' })).toThrow(/expected true or false/);
    expect(() => typed({ createdon: 'last tuesday' })).toThrow(/expected a Date or an ISO 8601 date and time/);
    expect(() => typed({ _parentcustomerid_value: { eq: 'x' } })).toThrow(/query\.filter\._parentcustomerid_value\.eq: expected a GUID/);
    // Without column types a GUID string stays a quoted string.
    expect(filter({ _parentcustomerid_value: ID })).toBe(`_parentcustomerid_value eq '${ID}'`);
  });
});
