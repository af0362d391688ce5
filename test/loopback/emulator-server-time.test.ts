/**
 * The emulator's server time (operationTimeInMs, bulkRecordTimeInMs), through the real client: a
 * request costs one operation, a `$batch` the sum of its parts (Dataverse runs them one after another,
 * "no improved efficiency per operation", execute-batch-operations-using-web-api.md), a bulk message
 * a share per record (bulk-operations.md). The time is execution time for service protection, which
 * is how it is observed here: lower bounds only, since a timer never fires early.
 */
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';

let emulator: Emulator;
let client: DynamicsClient;

const executionTime = (): number => emulator.serviceProtectionUsage().reduce((sum, u) => sum + u.executionTimeInMs, 0);
const requests = (): number => emulator.serviceProtectionUsage().reduce((sum, u) => sum + u.requests, 0);

/** The execution time and request count one call adds. */
async function cost(call: () => Promise<unknown>): Promise<{ ms: number; requests: number }> {
  const [ms0, r0] = [executionTime(), requests()];
  await call();
  return { ms: executionTime() - ms0, requests: requests() - r0 };
}

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  client = new DynamicsClient({
    url: emulator.url,
    ca: emulator.caPem,
    auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
    model: { accounts: { entitySet: 'accounts', logicalName: 'account', primaryKey: 'accountid', columns: {} } },
  });
  // The token and the first connection, before any server time is set.
  await client.count('accounts');
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

afterEach(() => emulator.setOperationTime(0, 0));

it('a request costs one operation; a $batch the sum of its parts, in one request', async () => {
  const [id] = await client.createMultiple('accounts', [{ name: 'server time' }]);
  emulator.setOperationTime(40, 0);
  const single = await cost(() => client.retrieve('accounts', id as string, { select: ['name'] }));
  expect(single.requests).toBe(1);
  expect(single.ms).toBeGreaterThanOrEqual(40);

  const gets = Array.from({ length: 6 }, () => ({ method: 'GET' as const, url: `accounts(${id})?$select=name` }));
  const batch = await cost(() => client.batch(gets));
  expect(batch.requests).toBe(1);
  expect(batch.ms).toBeGreaterThanOrEqual(6 * 40);
});

it('a bulk message costs its records at the bulk share, far below as many single operations', async () => {
  emulator.setOperationTime(40, 1);
  const records = Array.from({ length: 300 }, (_, i) => ({ name: `bulk ${i}` }));
  const bulk = await cost(() => client.createMultiple('accounts', records));
  expect(bulk.requests).toBe(1);
  expect(bulk.ms).toBeGreaterThanOrEqual(300);
  // 300 single operations would be 12 s; the bulk share is 0.3 s. Generous for a loaded machine.
  expect(bulk.ms).toBeLessThan(6000);
});

it('by default a bulk record costs 491/9,200 of an operation, the ratio Microsoft measured', async () => {
  emulator.setOperationTime(92);
  const records = Array.from({ length: 100 }, (_, i) => ({ name: `default share ${i}` }));
  const bulk = await cost(() => client.createMultiple('accounts', records));
  // 100 × 92 × 491 / 9,200 = 491 ms.
  expect(bulk.ms).toBeGreaterThanOrEqual(490);
  expect(bulk.ms).toBeLessThan(100 * 92);
});

it('refuses a server time that is not a duration, naming the option', async () => {
  await expect(startEmulator({ operationTimeInMs: -1 })).rejects.toThrow(/EmulatorOptions\.operationTimeInMs must be an integer between 0 and 2147483647, got -1/);
  await expect(startEmulator({ bulkRecordTimeInMs: Number.NaN })).rejects.toThrow(/EmulatorOptions\.bulkRecordTimeInMs must be a number of milliseconds/);
  expect(() => emulator.setOperationTime(2 ** 31)).toThrow(/operationTimeInMs/);
  expect(() => emulator.setOperationTime(1, -0.5)).toThrow(/bulkRecordTimeInMs/);
});
