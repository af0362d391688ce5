/**
 * Issue 13, item 1: filters that send the right literal, against the emulator over HTTPS with the
 * real MSAL and axios. The contacts of an account by `_parentcustomerid_value` fail without the model
 * (Dataverse's 400, whose message now names the fix), work with `guid()`, and work unwrapped once the
 * generated `model` is given to the client; a value of the wrong type is refused before anything is
 * sent; Dataverse's query functions and `any`/`all` in the object syntax select the rows they name.
 */
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { guid, type FilterQuery } from '../../src';
import { model, type Schema } from '../../generated';

let emulator: Emulator;
let plain: DynamicsClient<Schema>;
let modelled: DynamicsClient<Schema>;
let accountId: string;
let otherAccountId: string;
const contactIds: string[] = [];

function options() {
  return { url: emulator.url, ca: emulator.caPem, auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret } };
}

function catching(f: () => unknown): DynamicsError {
  try {
    f();
  } catch (error) {
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

async function rows<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of iterable) out.push(row);
  return out;
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  plain = new DynamicsClient<Schema>(options());
  modelled = new DynamicsClient<Schema>({ ...options(), model });
  accountId = await plain.create('accounts', { name: 'Typed filters parent', numberofemployees: 15 });
  otherAccountId = await plain.create('accounts', { name: 'Typed filters child', numberofemployees: 40, 'parentaccountid@odata.bind': `/accounts(${accountId})` });
  await plain.create('accounts', { name: 'Typed filters grandchild', numberofemployees: 5, 'parentaccountid@odata.bind': `/accounts(${otherAccountId})` });
  for (const lastname of ['Ng', 'Okafor', 'Silva']) {
    contactIds.push(await plain.create('contacts', { lastname, 'parentcustomerid_account@odata.bind': `/accounts(${accountId})` }));
  }
  await plain.create('contacts', { lastname: 'Elsewhere', 'parentcustomerid_account@odata.bind': `/accounts(${otherAccountId})` });
}, 60_000);

afterAll(async () => {
  plain?.close();
  modelled?.close();
  await emulator?.close();
});

describe('the contacts of an account, by _parentcustomerid_value', () => {
  it('without the model a plain string is quoted: Dataverse answers 400, and the message says how to fix it', async () => {
    const error = await rows(plain.list('contacts', { select: ['lastname'], filter: { _parentcustomerid_value: accountId } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DynamicsError);
    const message = (error as DynamicsError).message;
    expect((error as DynamicsError).status).toBe(400);
    expect(message).toMatch(/incompatible types.*'Edm\.Guid' and 'Edm\.String'/);
    expect(message).toContain('guid(id)');
    expect(message).toContain('model');
  });

  it('with guid() it is sent unquoted and finds exactly that account\'s contacts', async () => {
    const found = await rows(plain.list('contacts', { select: ['lastname'], filter: { _parentcustomerid_value: guid(accountId) } }));
    expect(found.map((c) => c.lastname).sort()).toEqual(['Ng', 'Okafor', 'Silva']);
  });

  it('with the generated model wired in, the plain string is written as a GUID (no wrapper)', async () => {
    const found = await rows(modelled.list('contacts', { select: ['lastname', 'contactid'], filter: { _parentcustomerid_value: accountId } }));
    expect(found.map((c) => c.contactid).sort()).toEqual([...contactIds].sort());
    // count() reads the same model.
    expect(await modelled.count('contacts', { _parentcustomerid_value: accountId.toUpperCase() })).toBe(3);
  });

  it('with the model a value of the wrong type is refused before anything is sent, naming the column and its type', async () => {
    const before = emulator.counters.apiRequests['GET /accounts'] ?? 0;
    // list() checks its query when called, before the first iteration sends anything.
    const error = catching(() => modelled.list('accounts', { filter: { revenue: 'abc' } as never }));
    expect(error).toBeInstanceOf(DynamicsError);
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/query\.filter\.revenue: expected a number \(the model gives revenue the type Edm\.Decimal\)/);
    const notGuid = (await modelled.count('contacts', { _parentcustomerid_value: 'not-a-guid' }).catch((e: unknown) => e)) as DynamicsError;
    expect(notGuid.code).toBe(ErrorCode.invalidArgument);
    expect(notGuid.message).toContain('filter._parentcustomerid_value');
    expect(emulator.counters.apiRequests['GET /accounts'] ?? 0).toBe(before);
  });
});

describe("Dataverse's query functions in the object syntax", () => {
  const names = async (filter: FilterQuery<Schema['accounts']['read'], Schema['accounts']['model'], Schema>): Promise<string[]> =>
    (await rows(modelled.list('accounts', { select: ['name'], filter: { and: [{ name: { startswith: 'Typed filters' } }, filter] } }))).map((a) => a.name ?? '').sort();

  it('in / notIn / between / notBetween', async () => {
    expect(await names({ numberofemployees: { in: [15, 40] } })).toEqual(['Typed filters child', 'Typed filters parent']);
    expect(await names({ numberofemployees: { notIn: [15, 40] } })).toEqual(['Typed filters grandchild']);
    expect(await names({ numberofemployees: { between: [10, 20] } })).toEqual(['Typed filters parent']);
    expect(await names({ numberofemployees: { notBetween: [10, 20] } })).toEqual(['Typed filters child', 'Typed filters grandchild']);
  });

  it('date functions: rows created just now are in the last day and this month, and not older than a day', async () => {
    expect(await names({ createdon: { lastXDays: 1 } })).toHaveLength(3);
    expect(await names({ createdon: { thisMonth: true } })).toHaveLength(3);
    expect(await names({ createdon: { today: true } })).toHaveLength(3);
    expect(await names({ createdon: { olderThanXDays: 1 } })).toEqual([]);
    expect(await names({ createdon: { nextXDays: 3 } })).toEqual([]);
  });

  it('user and hierarchy functions', async () => {
    expect(await names({ _ownerid_value: { equalUserId: true } })).toHaveLength(3);
    expect(await names({ _ownerid_value: { notEqualUserId: true } })).toEqual([]);
    expect(await names({ accountid: { under: accountId } })).toEqual(['Typed filters child', 'Typed filters grandchild']);
    expect(await names({ accountid: { underOrEqual: otherAccountId } })).toEqual(['Typed filters child', 'Typed filters grandchild']);
    expect(await names({ accountid: { above: otherAccountId } })).toEqual(['Typed filters parent']);
    expect(await names({ accountid: { notUnder: accountId } })).toEqual(['Typed filters parent']);
  });

  it('a column list inside a navigation path becomes an or of equalities (no query function can name it)', async () => {
    const found = await rows(modelled.list('contacts', { select: ['lastname'], filter: { parentcustomerid_account: { numberofemployees: { in: [40] } } } }));
    expect(found.map((c) => c.lastname)).toEqual(['Elsewhere']);
  });
});

describe('any / all over collection-valued navigation properties', () => {
  it('finds the accounts with (or whose every) related contact matches', async () => {
    const anyNg = await rows(modelled.list('accounts', { select: ['name'], filter: { contact_customer_accounts: { any: { lastname: 'Ng' } } } }));
    expect(anyNg.map((a) => a.name)).toEqual(['Typed filters parent']);
    const allElsewhere = await rows(
      modelled.list('accounts', { select: ['name'], filter: { name: { startswith: 'Typed filters' }, contact_customer_accounts: { all: { lastname: 'Elsewhere' } } } }),
    );
    // `all` over no related row holds (OData: true for an empty collection): the grandchild has no contact.
    expect(allElsewhere.map((a) => a.name).sort()).toEqual(['Typed filters child', 'Typed filters grandchild']);
  });
});
