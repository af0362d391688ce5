/**
 * DynamicsClient against the emulator over HTTPS, with the real MsalTokenProvider and axios:
 * CRUD round trips, alternate keys, every upsert mode, optimistic concurrency, relationships,
 * functions/actions, the request() escape hatch and validation.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsError, NotFoundError, PreconditionFailedError, ValidationError } from '../../src/errors';

let emulator: Emulator;
let client: DynamicsClient;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  client = new DynamicsClient({
    url: emulator.url,
    ca: emulator.caPem,
    auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
  });
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

describe('create / retrieve / update / delete', () => {
  it('round-trips a record; select narrows what comes back', async () => {
    const id = await client.create('accounts', { name: "O'Brien & Söhne #1", revenue: 1250.5, accountnumber: `CRUD-${randomUUID()}` });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const row = await client.retrieve('accounts', id, { select: ['name', 'revenue'] });
    expect(row.name).toBe("O'Brien & Söhne #1");
    expect(row.revenue).toBe(1250.5);
    expect(row['@odata.etag']).toMatch(/^W\/"/);
    expect(row).not.toHaveProperty('accountnumber');

    await client.update('accounts', id, { name: 'Renamed' });
    expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe('Renamed');

    await client.delete('accounts', id);
    await expect(client.retrieve('accounts', id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('create with returnRepresentation gives the record (201)', async () => {
    const row = await client.create('accounts', { name: 'Represented' }, { returnRepresentation: true, select: ['name'] });
    expect(row.name).toBe('Represented');
    // Dataverse returns the primary key even when it is not selected; the type only promises what was selected.
    expect(typeof Reflect.get(row, 'accountid')).toBe('string');
  });

  it('addresses records by alternate key, with escaping', async () => {
    const accountnumber = `AK O'Hara é ${randomUUID().slice(0, 8)}`;
    const id = await client.create('accounts', { name: 'Alt key', accountnumber });
    const row = await client.retrieve('accounts', { accountnumber }, { select: ['name', 'accountid'] });
    expect(row.accountid).toBe(id);
    await client.update('accounts', { accountnumber }, { name: 'Alt key 2' });
    expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe('Alt key 2');
  });

  it('rejects key values Dataverse forbids before sending anything', async () => {
    const before = emulator.counters.apiRequestsTotal;
    await expect(client.retrieve('accounts', { accountnumber: 'a/b' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.retrieve('accounts', 'not-a-guid')).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });

  it('update never creates: a missing record is NotFoundError and no row appears', async () => {
    const rows = emulator.store.count('accounts');
    await expect(client.update('accounts', randomUUID(), { name: 'ghost' })).rejects.toBeInstanceOf(NotFoundError);
    expect(emulator.store.count('accounts')).toBe(rows);
  });
});

describe('upsert modes', () => {
  it('upsert creates, then updates, the same record', async () => {
    const id = randomUUID();
    const rows = emulator.store.count('accounts');
    expect(await client.upsert('accounts', id, { name: 'Upsert 1' })).toBe(id);
    expect(emulator.store.count('accounts')).toBe(rows + 1);
    await client.upsert('accounts', id, { name: 'Upsert 2' });
    expect(emulator.store.count('accounts')).toBe(rows + 1);
    expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe('Upsert 2');
  });

  it('createOnly creates a new record and refuses an existing one with PreconditionFailedError', async () => {
    const id = randomUUID();
    await client.upsert('accounts', id, { name: 'Create only' }, { mode: 'createOnly' });
    const error = await client.upsert('accounts', id, { name: 'Overwrite?' }, { mode: 'createOnly' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect((error as DynamicsError).status).toBe(412);
    expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe('Create only');
  });

  it('updateOnly updates an existing record and refuses a missing one with NotFoundError', async () => {
    const id = await client.create('accounts', { name: 'Update only' });
    await client.upsert('accounts', id, { name: 'Updated only' }, { mode: 'updateOnly' });
    expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe('Updated only');
    const rows = emulator.store.count('accounts');
    await expect(client.upsert('accounts', randomUUID(), { name: 'nope' }, { mode: 'updateOnly' })).rejects.toBeInstanceOf(NotFoundError);
    expect(emulator.store.count('accounts')).toBe(rows);
  });

  it('upserts by alternate key', async () => {
    const accountnumber = `UPS-${randomUUID().slice(0, 8)}`;
    const id = await client.upsert('accounts', { accountnumber }, { name: 'By key' });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const again = await client.upsert('accounts', { accountnumber }, { name: 'By key 2' });
    expect(again).toBe(id);
    expect((await client.retrieve('accounts', { accountnumber }, { select: ['name'] })).name).toBe('By key 2');
  });
});

describe('optimistic concurrency', () => {
  it('a stale etag gives PreconditionFailedError on update and delete; a fresh one works', async () => {
    const id = await client.create('accounts', { name: 'v1' });
    const first = await client.retrieve('accounts', id, { select: ['name'] });
    const etag = first['@odata.etag'] as string;
    await client.update('accounts', id, { name: 'v2' }, { ifMatch: etag });
    await expect(client.update('accounts', id, { name: 'v3' }, { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(client.delete('accounts', id, { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    const fresh = (await client.retrieve('accounts', id, { select: ['name'] }))['@odata.etag'] as string;
    await client.delete('accounts', id, { ifMatch: fresh });
    await expect(client.retrieve('accounts', id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('relationships', () => {
  it('associate and disassociate through collection- and single-valued navigation properties', async () => {
    const account = await client.create('accounts', { name: 'Parent' });
    const contact = await client.create('contacts', { lastname: 'Child' });
    await client.associate('accounts', account, 'contact_customer_accounts', { entitySet: 'contacts', key: contact });
    const linked = await client.retrieve('contacts', contact, { select: ['_parentcustomerid_value'] });
    expect(linked._parentcustomerid_value).toBe(account);
    await client.disassociate('accounts', account, 'contact_customer_accounts', { entitySet: 'contacts', key: contact });
    expect((await client.retrieve('contacts', contact, { select: ['_parentcustomerid_value'] }))._parentcustomerid_value).toBeNull();

    await client.associate('accounts', account, 'primarycontactid', { entitySet: 'contacts', key: contact }, { singleValued: true });
    expect((await client.retrieve('accounts', account, { select: ['_primarycontactid_value'] }))._primarycontactid_value).toBe(contact);
    await client.disassociate('accounts', account, 'primarycontactid');
    expect((await client.retrieve('accounts', account, { select: ['_primarycontactid_value'] }))._primarycontactid_value).toBeNull();
  });

  it('@odata.bind on create and $expand on read', async () => {
    const contact = await client.create('contacts', { lastname: 'Bound' });
    const account = await client.create('accounts', { name: 'Binder', 'primarycontactid@odata.bind': `/contacts(${contact})` });
    const row = await client.retrieve('accounts', account, { select: ['name'], expand: { primarycontactid: { select: ['lastname'] } } });
    expect((row.primarycontactid as { lastname?: string }).lastname).toBe('Bound');
  });
});

describe('functions, actions and request()', () => {
  it('WhoAmI works', async () => {
    const who = await client.callFunction<{ UserId: string; BusinessUnitId: string }>('WhoAmI');
    expect(who.UserId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an action with parameters (204 → undefined)', async () => {
    await expect(client.callAction('PublishXml', { ParameterXml: '<importexportxml><entities><entity>account</entity></entities></importexportxml>' })).resolves.toBeUndefined();
  });

  it('request() sends through the same pipeline and returns status, headers and data', async () => {
    const res = await client.request<{ value: unknown[] }>('GET', 'accounts', undefined, { params: { $select: 'name', $top: 2 } });
    expect(res.status).toBe(200);
    expect(res.headers['odata-version']).toBe('4.0');
    expect(res.data.value.length).toBeLessThanOrEqual(2);
    const text = await client.request<string>('GET', 'accounts/$count', undefined, { responseType: 'text' });
    expect(Number(text.data)).toBe(emulator.store.count('accounts'));
    const abs = await client.request('GET', `${emulator.apiUrl}/WhoAmI`);
    expect(abs.status).toBe(200);
  });

  it('request() refuses another origin: the bearer token never leaves', async () => {
    const before = emulator.counters.apiRequestsTotal;
    await expect(client.request('GET', 'https://evil.example/api/data/v9.2/accounts')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.request('GET', `https://127.0.0.1:${emulator.port + 1}/api/data/v9.2/accounts`)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.request('GET', '//evil.example/x')).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });

  it('request() errors look like AxiosErrors for drop-in callers', async () => {
    const error = (await client.request('GET', `accounts(${randomUUID()})`).catch((e: unknown) => e)) as DynamicsError;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.response?.status).toBe(404);
    expect((error.response?.data as { error: { message: string } }).error.message).toMatch(/Does Not Exist/);
  });
});

describe('validate: true', () => {
  it('checks records against zod schemas before anything is sent', async () => {
    const AccountSchema = z.object({ name: z.string().max(160).optional(), revenue: z.number().nullable().optional() });
    const strict = new DynamicsClient({
      url: emulator.url,
      ca: emulator.caPem,
      auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
      validate: true,
      schemas: { accounts: AccountSchema },
    });
    try {
      const before = emulator.counters.apiRequestsTotal;
      const error = await strict.create('accounts', { name: 'x'.repeat(200) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0].path).toBe('name');
      await expect(strict.update('accounts', randomUUID(), { revenue: 'lots' as unknown as number })).rejects.toBeInstanceOf(ValidationError);
      expect(emulator.counters.apiRequestsTotal).toBe(before);
      await expect(strict.create('accounts', { name: 'fine' })).resolves.toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      strict.close();
    }
  });
});
