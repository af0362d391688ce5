/*
 * Type tests over the committed generated/ folder with the real DynamicsClient typings. Checked by
 * test/compile/generated.test.ts with `tsc --noEmit`: every `@ts-expect-error` must be an error and
 * every `expectTypeOf` must hold. Never executed.
 */
import { expectTypeOf } from 'expect-type';
import type { z } from 'zod';
import { DynamicsClient } from '../../../src/client/DynamicsClient';
import type { Schema } from '../../../generated/schema';
import { AccountAccountCategoryCode, AccountModel, AccountSchema, accountMeta, type Account, type AccountCreate, type AccountEntitySet, type AccountUpdate } from '../../../generated/account';
import type { ContactEntitySet } from '../../../generated/contact';
import { WhoAmI, type OperationCaller, type WhoAmIResult } from '../../../generated/operations';

declare const client: DynamicsClient<Schema>;
const id = '00000000-0000-0000-0000-000000000001';

export async function reads(): Promise<void> {
  const account = await client.retrieve('accounts', id, { select: ['name', 'revenue', 'accountcategorycode', '_primarycontactid_value'] });
  expectTypeOf(account.name).toEqualTypeOf<string | null>();
  expectTypeOf(account.revenue).toEqualTypeOf<number | null>();
  expectTypeOf(account.accountcategorycode).toEqualTypeOf<AccountAccountCategoryCode | null>();
  expectTypeOf(account.accountcategorycode).toEqualTypeOf<1 | 2 | null>();
  expectTypeOf(account._primarycontactid_value).toEqualTypeOf<string | null>();
  // @ts-expect-error a column that was not selected is not on the result
  void account.accountnumber;

  // @ts-expect-error misspelled column in select
  await client.retrieve('accounts', id, { select: ['nmae'] });

  for await (const contact of client.list('contacts', { select: ['fullname', 'emailaddress1'] })) {
    expectTypeOf(contact.fullname).toEqualTypeOf<string | null>();
    // @ts-expect-error not selected
    void contact.firstname;
  }

  const full = await client.retrieve('accounts', id);
  expectTypeOf(full.accountid).toEqualTypeOf<string>();
  expectTypeOf(full['@odata.etag']).toEqualTypeOf<string | undefined>();

  // @ts-expect-error not an entity set of the schema
  await client.retrieve('acounts', id);
}

export async function writes(): Promise<void> {
  await client.create('accounts', {
    name: 'Contoso',
    revenue: 1000.5,
    accountcategorycode: AccountAccountCategoryCode.PreferredCustomer,
    'primarycontactid@odata.bind': `/contacts(${id})`,
    'parentaccountid@odata.bind': '/accounts(accountnumber=\'A1\')',
  });
  // @ts-expect-error wrong value type in a create input
  await client.create('accounts', { name: 42 });
  // @ts-expect-error bind to the wrong entity set
  await client.create('accounts', { 'primarycontactid@odata.bind': `/accounts(${id})` });
  // @ts-expect-error read-only column in a create input
  await client.create('accounts', { createdon: '2024-01-01T00:00:00Z' });
  // @ts-expect-error lookups are set through binds, not _x_value
  await client.create('accounts', { _primarycontactid_value: id });
  // @ts-expect-error not a value of the option set
  await client.create('accounts', { accountcategorycode: 3 });

  await client.update('accounts', id, { name: 'Fabrikam', 'primarycontactid@odata.bind': null });
  // @ts-expect-error the primary key is create-only
  await client.update('accounts', id, { accountid: id });
}

export async function operations(): Promise<void> {
  const who = await WhoAmI(client);
  expectTypeOf(who).toEqualTypeOf<WhoAmIResult>();
  expectTypeOf(who.UserId).toEqualTypeOf<string | null>();
  expectTypeOf(client).toMatchTypeOf<OperationCaller>();
}

export function shapes(): void {
  expectTypeOf<z.infer<typeof AccountSchema>>().toMatchTypeOf<Account>();
  expectTypeOf(accountMeta.entitySet).toEqualTypeOf<'accounts'>();
  expectTypeOf(accountMeta.key).toEqualTypeOf<readonly ['accountid']>();
  expectTypeOf<AccountEntitySet['accounts']>().toEqualTypeOf<{ read: Account; create: AccountCreate; update: AccountUpdate; model: typeof AccountModel }>();
}

/** A schema of just the tables used: what keeps the checker from loading every entity file. */
export async function narrowSchema(small: DynamicsClient<AccountEntitySet & ContactEntitySet>): Promise<void> {
  const a = await small.retrieve('accounts', id, { select: ['name'] });
  expectTypeOf(a.name).toEqualTypeOf<string | null>();
  // @ts-expect-error leads is not in this schema
  await small.retrieve('leads', id);
}
