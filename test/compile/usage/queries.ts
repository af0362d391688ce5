/*
 * Type tests of issue 13 over the committed generated/ folder: typed filters (values by Edm type,
 * query functions on the columns they apply to, any/all), FetchXML and $apply. Checked by
 * test/compile/generated.test.ts with `tsc --noEmit`: every `@ts-expect-error` must be an error and
 * every `expectTypeOf` must hold. Never executed.
 */
import { expectTypeOf } from 'expect-type';
import { DynamicsClient } from '../../../src/client/DynamicsClient';
import { fetchXml } from '../../../src/odata/fetchxml';
import { guid } from '../../../src/odata/query';
import type { Schema } from '../../../generated/schema';

const fx = fetchXml<Schema>();

declare const client: DynamicsClient<Schema>;
declare const untyped: DynamicsClient;
const id = '00000000-0000-0000-0000-000000000001';

export async function typedFilters(): Promise<void> {
  // Values by column type.
  client.list('accounts', { filter: { revenue: 1000, name: 'Contoso', creditonhold: false, accountcategorycode: 1 } });
  client.list('accounts', { filter: { revenue: { gt: 1000, le: 2000 }, createdon: { ge: new Date(), lt: '2024-05-01T00:00:00Z' } } });
  client.list('contacts', { filter: { _parentcustomerid_value: id } });
  client.list('contacts', { filter: { _parentcustomerid_value: guid(id) } });
  client.list('accounts', { filter: { revenue: null } });
  // @ts-expect-error a string is not a value of a numeric column
  client.list('accounts', { filter: { revenue: 'abc' } });
  // @ts-expect-error nor under an operator
  client.list('accounts', { filter: { revenue: { gt: '1000' } } });
  // @ts-expect-error not a value of the accountcategorycode option set (1 | 2)
  client.list('accounts', { filter: { accountcategorycode: 3 } });
  // @ts-expect-error a number is not a value of a text column
  client.list('accounts', { filter: { name: 42 } });
  // @ts-expect-error a Date is not a value of a text column (the model says Edm.String)
  client.list('accounts', { filter: { name: new Date() } });
  // @ts-expect-error a boolean column takes true or false
  client.list('accounts', { filter: { creditonhold: 'yes' } });
  // @ts-expect-error misspelled column
  client.list('accounts', { filter: { revnue: 1 } });
  await client.count('accounts', { revenue: { gt: 0 } });
  // @ts-expect-error count() types its filter the same way
  await client.count('accounts', { revenue: 'x' });

  // Query functions, only on the columns they apply to.
  client.list('accounts', { filter: { createdon: { lastXDays: 7 }, statecode: { in: [0, 1] }, numberofemployees: { between: [10, 20] } } });
  client.list('accounts', { filter: { createdon: { thisMonth: true }, _ownerid_value: { equalUserId: true }, accountid: { under: id } } });
  client.list('accounts', { filter: { createdon: { inFiscalPeriodAndYear: [1, 2024] }, modifiedon: { on: new Date() } } });
  // @ts-expect-error a date function on a numeric column
  client.list('accounts', { filter: { revenue: { lastXDays: 7 } } });
  // @ts-expect-error a user function on a text column
  client.list('accounts', { filter: { name: { equalUserId: true } } });
  // @ts-expect-error lastXDays takes a number of days
  client.list('accounts', { filter: { createdon: { lastXDays: '7' } } });
  // @ts-expect-error the values of `in` are values of the column
  client.list('accounts', { filter: { statecode: { in: ['0'] } } });
  // @ts-expect-error string functions only on text
  client.list('accounts', { filter: { revenue: { contains: '1' } } });

  // any / all over collection-valued navigation properties, typed by the related table.
  client.list('accounts', { filter: { contact_customer_accounts: { any: { lastname: 'Ng', createdon: { lastXDays: 30 } } } } });
  client.list('accounts', { filter: { contact_customer_accounts: { all: { statecode: 0 } } } });
  // @ts-expect-error the body is typed by contact: a number is not a lastname
  client.list('accounts', { filter: { contact_customer_accounts: { any: { lastname: 1 } } } });
  // Paths through single-valued navigation properties, typed by the related table.
  client.list('contacts', { filter: { parentcustomerid_account: { numberofemployees: { gt: 10 } } } });
  // @ts-expect-error numberofemployees of the account is a number
  client.list('contacts', { filter: { parentcustomerid_account: { numberofemployees: 'ten' } } });

  // Without a schema, anything goes.
  untyped.list('accounts', { filter: { revenue: 'abc', anything: { lastXDays: 1 } } });
  expectTypeOf(guid(id)).toEqualTypeOf<{ type: 'guid'; value: string }>();
}

export async function fetchXmlTypes(): Promise<void> {
  const query = fx('account')
    .select('name', 'revenue', 'primarycontactid')
    .select({ created: 'createdon' })
    .where({ statecode: 0, revenue: { gt: 1000 }, or: [{ name: { like: 'C%' } }, { address1_city: 'Lisbon' }] })
    .link('contact', { from: 'parentcustomerid', to: 'accountid', alias: 'c', type: 'outer' }, (c) => c.select('fullname', 'birthdate'))
    .orderBy('name', 'desc');
  for await (const row of client.fetchXml('accounts', query)) {
    expectTypeOf(row.name).toEqualTypeOf<string | undefined>();
    expectTypeOf(row.revenue).toEqualTypeOf<number | undefined>();
    expectTypeOf(row._primarycontactid_value).toEqualTypeOf<string | undefined>();
    expectTypeOf(row.created).toEqualTypeOf<string | undefined>();
    expectTypeOf(row['c.fullname']).toEqualTypeOf<string | undefined>();
    expectTypeOf(row.accountid).toEqualTypeOf<string>();
    // @ts-expect-error not selected
    void row.accountnumber;
    // @ts-expect-error linked columns are named alias.column
    void row.fullname;
  }
  // @ts-expect-error misspelled attribute
  fx('account').select('nmae');
  // @ts-expect-error lookups are selected by their logical name, not _x_value
  fx('account').select('_primarycontactid_value');
  // @ts-expect-error not a table of the schema
  fx('acount');
  // @ts-expect-error the link's `from` is an attribute of the linked table
  fx('account').link('contact', { from: 'nope', to: 'accountid' });
  // @ts-expect-error a number column takes numbers in conditions
  fx('account').where({ revenue: 'lots' });
  // @ts-expect-error the query is on account, not contact
  client.fetchXml('contacts', fx('account').select('name'));

  const totals = fx('account').groupBy({ city: 'address1_city', month: ['createdon', 'month'] }).aggregate({ total: ['revenue', 'sum'], n: ['accountid', 'count'], top: ['revenue', 'max'] });
  for await (const row of client.fetchXml('accounts', totals)) {
    expectTypeOf(row.city).toEqualTypeOf<string | undefined>();
    expectTypeOf(row.month).toEqualTypeOf<number | undefined>();
    expectTypeOf(row.total).toEqualTypeOf<number>();
    expectTypeOf(row.top).toEqualTypeOf<number>();
    // @ts-expect-error aggregate rows carry no primary key
    void row.accountid;
  }
  // @ts-expect-error not an aggregate function
  fx('account').aggregate({ x: ['revenue', 'median'] });

  // FetchXML text: rows typed by the caller.
  for await (const row of client.fetchXml<{ name?: string }>('accounts', "<fetch><entity name='account'><attribute name='name'/></entity></fetch>")) {
    expectTypeOf(row.name).toEqualTypeOf<string | undefined>();
  }
  // Without a schema the builder still works, loosely typed.
  for await (const row of untyped.fetchXml('accounts', fetchXml('account').select('anything'))) void row;
}

export async function aggregateTypes(): Promise<void> {
  const rows = await client.aggregate('accounts', {
    filter: { statecode: 0 },
    groupBy: ['statuscode', 'primarycontactid/fullname'],
    aggregate: { total: { sum: 'revenue' }, n: { count: true }, newest: { max: 'createdon' } },
  });
  const row = rows[0]!;
  expectTypeOf(row.statuscode).toEqualTypeOf<1 | 2 | undefined>();
  expectTypeOf(row.contact_fullname).toEqualTypeOf<string | undefined>();
  expectTypeOf(row.total).toEqualTypeOf<number>();
  expectTypeOf(row.newest).toEqualTypeOf<string>();
  // @ts-expect-error not grouped by
  void row.name;
  // @ts-expect-error not a column of account
  await client.aggregate('accounts', { groupBy: ['nmae'] });
  // @ts-expect-error the navigation path's column must be a column of the related table
  await client.aggregate('accounts', { groupBy: ['primarycontactid/nmae'] });
  // @ts-expect-error sum takes a column of the table
  await client.aggregate('accounts', { aggregate: { total: { sum: 'revenu' } } });
  // @ts-expect-error the filter is typed like list()'s
  await client.aggregate('accounts', { filter: { revenue: 'x' }, aggregate: { n: { count: true } } });
}
