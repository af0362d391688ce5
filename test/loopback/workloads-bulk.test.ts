/**
 * Bulk messages (issue 14, item 1) against the emulator over HTTPS with the real MSAL and transport:
 * ids in input order, chunking, one request per chunk against service protection, atomic standard
 * tables, partial success on elastic tables, the refusals, the `$batch` fallback, progress and abort.
 */
import { randomUUID } from 'node:crypto';
import type { Emulator } from '../../src/emulator';
import type { DynamicsClient } from '../../src/client/DynamicsClient';
import { BulkOperationError, DynamicsError, ErrorCode } from '../../src/errors';
import { startWorkloadEmulator, workloadClient } from '../helpers/workloads';

let emulator: Emulator;
let client: DynamicsClient;

beforeAll(async () => {
  emulator = await startWorkloadEmulator();
  client = workloadClient(emulator);
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

const routeCount = (key: string) => emulator.counters.apiRequests[key] ?? 0;

describe('createMultiple', () => {
  it('creates every record in chunks and gives the ids in input order', async () => {
    const tag = randomUUID();
    const rows = Array.from({ length: 250 }, (_, i) => ({ name: `bulk ${tag} ${i}` }));
    const before = routeCount('POST /accounts');
    const progress: number[] = [];
    const ids = await client.createMultiple('accounts', rows, { chunkSize: 100, onProgress: (p) => progress.push(p.recordsDone) });
    expect(ids).toHaveLength(250);
    expect(routeCount('POST /accounts') - before).toBe(3);
    // Each id is the row created from the record at the same index.
    const stored = new Map(emulator.store.rows('accounts').map((r) => [r['accountid'] as string, r['name']]));
    ids.forEach((id, i) => expect(stored.get(id)).toBe(`bulk ${tag} ${i}`));
    expect(progress.sort((a, b) => a - b).at(-1)).toBe(250);
    expect(progress).toHaveLength(3);
  });

  it('uses the client-chosen ids with clientIds, and keeps ids the caller gave', async () => {
    const mine = randomUUID();
    const ids = await client.createMultiple('accounts', [{ name: 'a' }, { name: 'b', accountid: mine } as never], { clientIds: true });
    expect(ids[1]).toBe(mine);
    expect(emulator.store.rows('accounts').some((r) => r['accountid'] === ids[0])).toBe(true);
  });

  it('cuts chunks by encoded size too, under the payload limit', async () => {
    const big = 'x'.repeat(4000);
    const rows = Array.from({ length: 20 }, (_, i) => ({ name: `size ${i}`, description: big }));
    const before = routeCount('POST /accounts');
    await client.createMultiple('accounts', rows, { maxPayloadBytes: 20_000 });
    // Each record is about 4.1 kB encoded: four fit in 20,000 bytes, so 20 records make 5 requests.
    expect(routeCount('POST /accounts') - before).toBe(5);
  });

  it('a standard table is all-or-nothing per chunk: the error names the chunk, its records and what landed', async () => {
    const tag = randomUUID();
    const rows = Array.from({ length: 30 }, (_, i) => ({ name: `atomic ${tag} ${i}`, ...(i === 25 ? { creditlimit: 'not a number' } : {}) }));
    const err = (await client.createMultiple('accounts', rows as never, { chunkSize: 10, concurrency: 1 }).catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect(err.code).toBe(ErrorCode.bulkChunkFailed);
    expect(err.chunks.map((c) => c.status)).toEqual(['succeeded', 'succeeded', 'failed']);
    expect(err.message).toContain('chunk 2 (records 20–29) failed');
    expect(err.status).toBe(400);
    expect(err.pendingIndexes()).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(err.ids?.slice(0, 20).every((id) => typeof id === 'string')).toBe(true);
    // Nothing of the failed chunk was stored.
    const names = emulator.store.rows('accounts').map((r) => r['name']);
    expect(names.filter((n) => typeof n === 'string' && n.startsWith(`atomic ${tag}`))).toHaveLength(20);
  });

  it('refuses a record that cannot be sent before anything is sent', async () => {
    const before = routeCount('POST /accounts');
    const cyclic: Record<string, unknown> = { name: 'cycle' };
    cyclic['self'] = cyclic;
    await expect(client.createMultiple('accounts', [{ name: 'ok' }, cyclic as never])).rejects.toMatchObject({ code: ErrorCode.invalidArgument });
    await expect(client.createMultiple('accounts', [{ name: 'x' }], { logicalName: 'not valid!' })).rejects.toThrow(/options\.logicalName/);
    await expect(client.createMultiple('accounts', [{ name: 'x', '@odata.type': 'Microsoft.Dynamics.CRM.contact' } as never])).rejects.toThrow(/@odata\.type/);
    await expect(client.createMultiple('accounts', [{ name: 'x' }], { chunkSize: 0 })).rejects.toThrow(/options\.chunkSize/);
    expect(routeCount('POST /accounts')).toBe(before);
  });

  it('without a model or logicalName says how to provide @odata.type', async () => {
    const bare = workloadClient(emulator, { model: {} });
    try {
      await expect(bare.createMultiple('accounts', [{ name: 'x' }])).rejects.toThrow(/logicalName.*model/);
      expect(await bare.createMultiple('accounts', [{ name: 'x' }], { logicalName: 'account' })).toHaveLength(1);
    } finally {
      bare.close();
    }
  });

  it('an abort stops sending chunks; the error says which landed', async () => {
    const controller = new AbortController();
    const rows = Array.from({ length: 50 }, (_, i) => ({ name: `abort ${i}` }));
    const err = (await client
      .createMultiple('accounts', rows, { chunkSize: 10, concurrency: 1, abortSignal: controller.signal, onProgress: (p) => p.chunksDone === 2 && controller.abort() })
      .catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect(err.code).toBe(ErrorCode.aborted);
    expect(err.chunks.map((c) => c.status)).toEqual(['succeeded', 'succeeded', 'not_sent', 'not_sent', 'not_sent']);
  });
});

describe('updateMultiple and upsertMultiple', () => {
  it('updates by primary key; upserts by alternate key through @odata.id, creating what is missing', async () => {
    const ids = await client.createMultiple('accounts', [{ name: 'u1' }, { name: 'u2' }]);
    await client.updateMultiple('accounts', ids.map((accountid, i) => ({ accountid, name: `updated ${i}` })));
    for (const [i, id] of ids.entries()) expect((await client.retrieve('accounts', id, { select: ['name'] })).name).toBe(`updated ${i}`);

    const n1 = `UPS-${randomUUID()}`;
    await client.create('accounts', { name: 'before', accountnumber: n1 });
    const n2 = `UPS-${randomUUID()}`;
    await client.upsertMultiple('accounts', [
      { '@odata.id': `accounts(accountnumber='${n1}')`, name: 'after' },
      { '@odata.id': `accounts(accountnumber='${n2}')`, name: 'new' },
    ]);
    expect((await client.retrieve('accounts', { accountnumber: n1 }, { select: ['name'] })).name).toBe('after');
    expect((await client.retrieve('accounts', { accountnumber: n2 }, { select: ['name'] })).name).toBe('new');
  });

  it('updateMultiple of a missing row fails the chunk with the service error', async () => {
    const err = (await client.updateMultiple('accounts', [{ accountid: randomUUID(), name: 'ghost' }]).catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect((err.cause as DynamicsError).code).toBe('0x80040217');
  });
});

describe('tables without the message', () => {
  it('says so clearly, and fallback: batch sends the same records as $batch change sets', async () => {
    emulator.store.setBulkMessagesSupported('contacts', false);
    try {
      const rows = Array.from({ length: 12 }, (_, i) => ({ lastname: `fallback ${i}` }));
      const err = (await client.createMultiple('contacts', rows).catch((e: unknown) => e)) as BulkOperationError;
      expect(err).toBeInstanceOf(BulkOperationError);
      expect(err.code).toBe(ErrorCode.bulkNotSupported);
      expect(err.message).toMatch(/does not support CreateMultiple.*fallback: 'batch'/);

      const batches = routeCount('POST /$batch');
      const ids = await client.createMultiple('contacts', rows, { fallback: 'batch', chunkSize: 5 });
      expect(routeCount('POST /$batch') - batches).toBe(3);
      const stored = new Map(emulator.store.rows('contacts').map((r) => [r['contactid'] as string, r['lastname']]));
      ids.forEach((id, i) => expect(stored.get(id)).toBe(`fallback ${i}`));
    } finally {
      emulator.store.setBulkMessagesSupported('contacts', true);
    }
  });

  it('deleteMultiple on a standard table is refused before sending, pointing to delete, $batch or BulkDelete', async () => {
    const before = emulator.counters.apiRequestsTotal;
    await expect(client.deleteMultiple('accounts', [randomUUID()])).rejects.toThrow(/delete\(\).*batch\(\).*BulkDelete/);
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });
});

describe('service protection', () => {
  it('each chunk counts as one request: 1,000 records in 1 request fit a budget of 3', async () => {
    const fresh = await startWorkloadEmulator({ serviceProtection: { maxRequests: 3, windowInMs: 60_000 } });
    const c = workloadClient(fresh);
    try {
      const ids = await c.createMultiple('accounts', Array.from({ length: 1000 }, (_, i) => ({ name: `sp ${i}` })));
      expect(ids).toHaveLength(1000);
      expect(fresh.store.count('accounts')).toBe(1000);
    } finally {
      c.close();
      await fresh.close();
    }
  });
});

describe('bulk: a per-call option refused before sending', () => {
  it('is a failed chunk (nothing applied), not an unknown outcome', async () => {
    const before = emulator.counters.apiRequestsTotal;
    const err = await client.createMultiple('accounts', [{ name: `refused ${randomUUID()}` }], { headers: { 'bad header': 'x' } } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BulkOperationError);
    const bulk = err as BulkOperationError;
    expect({ unknown: bulk.unknownIndexes(), pending: bulk.pendingIndexes() }).toEqual({ unknown: [], pending: [0] });
    expect(bulk.message).toMatch(/options\.headers/);
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });
});
