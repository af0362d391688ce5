/**
 * `$batch` through DynamicsClient against the emulator: change sets roll back as a whole and every part
 * reports its own result, continue-on-error, stop-on-error, Content-ID references, atomic grouping,
 * and splitting beyond 1000 operations.
 */
import { randomUUID } from 'node:crypto';
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { BatchErrorCode } from '../../src/client/types';

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

const rowsWith = (prefix: string) => emulator.store.rows('accounts').filter((r) => String(r.accountnumber ?? '').startsWith(prefix));
/** A create that fails: the lookup it binds to does not exist. */
const badCreate = (accountnumber: string) => ({ method: 'POST' as const, url: 'accounts', body: { name: 'bad', accountnumber, 'primarycontactid@odata.bind': `/contacts(${randomUUID()})` } });

it('a failed change set rolls back as a whole; every part reports its own result', async () => {
  const p = `CS-${randomUUID().slice(0, 8)}-`;
  const results = await client.batch([
    {
      changeSet: [
        { method: 'POST', url: 'accounts', body: { name: 'one', accountnumber: `${p}1` } },
        badCreate(`${p}2`),
        { method: 'POST', url: 'accounts', body: { name: 'three', accountnumber: `${p}3` } },
      ],
    },
  ]);
  expect(results).toHaveLength(3);
  expect(rowsWith(p)).toHaveLength(0);
  const failed = results.filter((r) => r.error !== undefined && r.error.code !== BatchErrorCode.rolledBack);
  expect(failed[0].status).toBe(404);
  expect(failed[0].error?.message).toBeTruthy();
  // Every part failed in some way: no part claims success.
  expect(results.every((r) => r.error !== undefined)).toBe(true);
  // The service names the failing part by Content-ID: it carries the service's error, the others are rolled back.
  expect(failed).toHaveLength(1);
  expect(results[1]).toBe(failed[0]);
  expect(results[1].error?.code).toBe('0x80040217');
  expect(results[0].error?.code).toBe(BatchErrorCode.rolledBack);
  expect(results[2].error?.code).toBe(BatchErrorCode.rolledBack);
});

it('a successful change set with Content-ID references', async () => {
  const p = `REF-${randomUUID().slice(0, 8)}`;
  const results = await client.batch([
    {
      changeSet: [
        { method: 'POST', url: 'contacts', body: { lastname: p }, contentId: 'c' },
        { method: 'POST', url: 'accounts', body: { name: 'ref', accountnumber: p, 'primarycontactid@odata.bind': '$c' } },
      ],
    },
    { method: 'GET', url: `accounts?$select=name&$filter=accountnumber%20eq%20'${p}'` },
  ]);
  expect(results.map((r) => r.status)).toEqual([204, 204, 200]);
  const [contact, account] = results;
  expect(contact.entityId).toMatch(/^[0-9a-f-]{36}$/);
  const row = await client.retrieve('accounts', account.entityId as string, { select: ['_primarycontactid_value'] });
  expect(row._primarycontactid_value).toBe(contact.entityId);
  // The GET ran after the change set and sees the account.
  expect((results[2].body as { value: unknown[] }).value).toHaveLength(1);
});

it('stop on error (default): later parts are not executed', async () => {
  const p = `STOP-${randomUUID().slice(0, 8)}-`;
  const results = await client.batch([
    { method: 'POST', url: 'accounts', body: { name: 'ok', accountnumber: `${p}1` } },
    badCreate(`${p}2`),
    { method: 'POST', url: 'accounts', body: { name: 'never', accountnumber: `${p}3` } },
  ]);
  expect(results[0].status).toBe(204);
  expect(results[1].error?.status).toBeGreaterThanOrEqual(400);
  expect(results[2]).toMatchObject({ status: 0, error: { code: BatchErrorCode.notExecuted } });
  expect(rowsWith(p).map((r) => r.accountnumber)).toEqual([`${p}1`]);
});

it('continueOnError runs every part', async () => {
  const p = `COE-${randomUUID().slice(0, 8)}-`;
  const results = await client.batch(
    [{ method: 'POST', url: 'accounts', body: { name: 'ok', accountnumber: `${p}1` } }, badCreate(`${p}2`), { method: 'POST', url: 'accounts', body: { name: 'ok', accountnumber: `${p}3` } }],
    { continueOnError: true },
  );
  expect(results.map((r) => r.error === undefined)).toEqual([true, false, true]);
  expect(rowsWith(p)).toHaveLength(2);
});

it('atomic puts every write in one change set and keeps results in the given order', async () => {
  const p = `AT-${randomUUID().slice(0, 8)}-`;
  const results = await client.batch(
    [
      { method: 'GET', url: 'WhoAmI' },
      { method: 'POST', url: 'accounts', body: { name: 'a', accountnumber: `${p}1` } },
      { method: 'GET', url: 'WhoAmI' },
      badCreate(`${p}2`),
    ],
    { atomic: true },
  );
  expect(results).toHaveLength(4);
  expect(results[0].status).toBe(200);
  expect((results[0].body as { UserId?: string }).UserId).toMatch(/^[0-9a-f-]{36}$/);
  // Both writes went into one change set: the bad one fails with the service's error, the good one is rolled back with it.
  expect(results[3].error?.code).toBe('0x80040217');
  expect(results[1].error?.code).toBe(BatchErrorCode.rolledBack);
  // The second GET comes after the failed change set and the batch stops on error: it never ran.
  expect(results[2]).toMatchObject({ status: 0, error: { code: BatchErrorCode.notExecuted } });
  expect(rowsWith(p)).toHaveLength(0);
});

it('more than 1000 operations are split across requests, one result each', async () => {
  const p = `SPLIT-${randomUUID().slice(0, 8)}-`;
  emulator.resetCounters();
  const ops = Array.from({ length: 1203 }, (_, i) => ({ method: 'POST' as const, url: 'accounts', body: { name: `s${i}`, accountnumber: `${p}${i}` } }));
  const results = await client.batch(ops, { continueOnError: true });
  expect(results).toHaveLength(1203);
  expect(results.every((r) => r.status === 204 && r.entityId !== undefined)).toBe(true);
  expect(new Set(results.map((r) => r.entityId)).size).toBe(1203);
  expect(rowsWith(p)).toHaveLength(1203);
  expect(emulator.counters.apiRequests['POST /$batch']).toBe(2);
}, 60_000);

it('atomic with more than 1000 operations is refused before sending', async () => {
  const ops = Array.from({ length: 1001 }, () => ({ method: 'POST' as const, url: 'accounts', body: { name: 'x' } }));
  await expect(client.batch(ops, { atomic: true })).rejects.toMatchObject({ code: 'invalid_argument' });
});
