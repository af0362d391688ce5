/**
 * Elastic tables (issue 14, item 4) and the per-request options (item 5) against the emulator:
 * partition keys in keys and options, session tokens carried from writes to reads, immutable
 * partitions, whole-row upserts, bulk messages with partial success, DeleteMultiple.
 */
import { randomUUID } from 'node:crypto';
import type { Emulator } from '../../src/emulator';
import type { DynamicsClient } from '../../src/client/DynamicsClient';
import { BulkOperationError, ErrorCode, NotFoundError } from '../../src/errors';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamicsService } from '../../src/compat';
import { startWorkloadEmulator, workloadClient } from '../helpers/workloads';

let emulator: Emulator;
let client: DynamicsClient;
const SET = 'sample_sensordatas';

beforeAll(async () => {
  emulator = await startWorkloadEmulator();
  client = workloadClient(emulator);
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

describe('partition keys', () => {
  it('addresses a row by id and partitionid in the key, and scopes reads and deletes with partitionId', async () => {
    const id = randomUUID();
    await client.upsert(SET, id, { partitionid: 'device-1', sample_name: 'first', sample_value: 1 } as never, { mode: 'createOnly' });
    const byKey = await client.retrieve(SET, { sample_sensordataid: id, partitionid: 'device-1' } as never, { select: ['sample_name'] as never });
    expect(byKey['sample_name' as never]).toBe('first');
    expect((await client.retrieve(SET, id, { partitionId: 'device-1', select: ['sample_value'] as never }))['sample_value' as never]).toBe(1);
    await expect(client.retrieve(SET, id, { partitionId: 'device-2' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.delete(SET, id, { partitionId: 'device-2' })).rejects.toBeInstanceOf(NotFoundError);
    await client.delete(SET, id, { partitionId: 'device-1' });
    await expect(client.retrieve(SET, id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('partitionId scopes a list to one partition, across pages', async () => {
    await client.createMultiple(SET, Array.from({ length: 30 }, (_, i) => ({ partitionid: i % 3 === 0 ? 'scope-a' : 'scope-b', sample_value: i })) as never);
    const pages: number[] = [];
    const values: number[] = [];
    for await (const page of client.list(SET, { select: ['sample_value', 'partitionid'] as never, partitionId: 'scope-a', maxPageSize: 4 }).byPage()) {
      pages.push(page.length);
      for (const r of page) {
        expect(r['partitionid' as never]).toBe('scope-a');
        values.push(r['sample_value' as never] as number);
      }
    }
    expect(pages).toEqual([4, 4, 2]);
    expect(values.sort((a, b) => a - b)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
  });

  it('refuses partitionId on a write (the service ignores it there) before sending', async () => {
    await expect(client.update(SET, randomUUID(), { sample_value: 2 } as never, { partitionId: 'p' })).rejects.toThrow(/options\.partitionId.*partitionid/);
  });

  it('a partition never changes, and an upsert replaces the whole row', async () => {
    const id = randomUUID();
    await client.upsert(SET, id, { partitionid: 'p1', sample_name: 'n', sample_value: 5 } as never);
    await expect(client.upsert(SET, id, { partitionid: 'p2' } as never)).rejects.toMatchObject({ status: 400 });
    await client.upsert(SET, id, { sample_value: 6 } as never);
    const row = await client.retrieve(SET, id, { select: ['sample_name', 'sample_value', 'partitionid'] as never });
    expect(row).toMatchObject({ sample_name: null, sample_value: 6, partitionid: 'p1' });
    // update() sends If-Match: *, which keeps the other columns.
    await client.update(SET, id, { sample_name: 'kept' } as never);
    expect(await client.retrieve(SET, id, { select: ['sample_name', 'sample_value'] as never })).toMatchObject({ sample_name: 'kept', sample_value: 6 });
  });
});

describe('session tokens', () => {
  it('a write answers x-ms-session-token; the client sends it on later reads as MSCRM.SessionToken', async () => {
    const id = randomUUID();
    const res = await client.request('PATCH', `${SET}(${id})`, { partitionid: 'st', sample_value: 1 });
    const token = res.headers['x-ms-session-token'];
    expect(token).toMatch(/^\d+:\d+#\d+#7=-1$/);
    // The emulator is always consistent, so the header's arrival is checked through a hostile copy of
    // the request: see workloads-hostile.test.ts. Here the write-then-read works end to end.
    expect((await client.retrieve(SET, id, { select: ['sample_value'] as never }))['sample_value' as never]).toBe(1);
  });
});

describe('bulk messages on an elastic table', () => {
  it('creates in chunks of 100 by default, updates, and deletes with DeleteMultiple', async () => {
    const before = emulator.counters.apiRequests[`POST /${SET}`] ?? 0;
    const rows = Array.from({ length: 250 }, (_, i) => ({ partitionid: `dev-${i % 5}`, sample_value: i }));
    const ids = await client.createMultiple(SET, rows as never);
    expect((emulator.counters.apiRequests[`POST /${SET}`] ?? 0) - before).toBe(3);
    await client.updateMultiple(SET, ids.map((id, i) => ({ sample_sensordataid: id, partitionid: `dev-${i % 5}`, sample_value: -i })) as never);
    expect(emulator.store.rows(SET).find((r) => r['sample_sensordataid'] === ids[7])?.['sample_value']).toBe(-7);
    await client.deleteMultiple(SET, ids.map((id, i) => ({ sample_sensordataid: id, partitionid: `dev-${i % 5}` })) as never);
    expect(emulator.store.rows(SET).filter((r) => ids.includes(r['sample_sensordataid'] as string))).toHaveLength(0);
  });

  it('partial success: the records that failed are listed by input index, the others landed', async () => {
    const existing = randomUUID();
    await client.upsert(SET, existing, { partitionid: 'px', sample_value: 0 } as never);
    const rows = [
      { sample_sensordataid: randomUUID(), partitionid: 'px', sample_value: 1 },
      { sample_sensordataid: existing, partitionid: 'px', sample_value: 2 },
      { sample_sensordataid: randomUUID(), partitionid: 'px', sample_value: 3 },
    ];
    const err = (await client.createMultiple(SET, rows as never).catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect(err.code).toBe(ErrorCode.bulkChunkFailed);
    expect(err.chunks[0]?.status).toBe('partial');
    expect(err.failedRecords).toEqual([{ index: 1, id: existing, status: 412 }]);
    expect(err.pendingIndexes()).toEqual([1]);
    const stored = emulator.store.rows(SET).map((r) => r['sample_sensordataid']);
    expect(stored).toEqual(expect.arrayContaining([rows[0]?.sample_sensordataid, rows[2]?.sample_sensordataid]));
  });
});

describe('time to live (ttlinseconds)', () => {
  const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
  const exists = async (id: string): Promise<boolean> =>
    client.retrieve(SET, id, { select: ['sample_value'] as never }).then(
      () => true,
      (e: unknown) => {
        if (e instanceof NotFoundError) return false;
        throw e;
      },
    );

  it('deletes a row once ttlinseconds have passed since its last write, and only that row', async () => {
    const [short, kept, extended] = [randomUUID(), randomUUID(), randomUUID()];
    await client.upsert(SET, short, { partitionid: 'ttl', sample_value: 1, ttlinseconds: 1 } as never, { mode: 'createOnly' });
    await client.upsert(SET, kept, { partitionid: 'ttl', sample_value: 2 } as never, { mode: 'createOnly' });
    await client.upsert(SET, extended, { partitionid: 'ttl', sample_value: 3, ttlinseconds: 1 } as never, { mode: 'createOnly' });
    const written = Date.now();
    expect(await exists(short)).toBe(true);

    // An update is a write: the extended row's second starts again.
    await sleepUntil(written + 600);
    await client.update(SET, { sample_sensordataid: extended, partitionid: 'ttl' } as never, { sample_value: 4 } as never);
    const updated = Date.now();

    await sleepUntil(written + 1_100);
    expect(await exists(short)).toBe(false);
    expect(await exists(extended)).toBe(true);
    const listed = [];
    for await (const row of client.list(SET, { select: ['sample_value'] as never, partitionId: 'ttl' })) listed.push(row['sample_value' as never]);
    expect(listed.sort()).toEqual([2, 4]);

    await sleepUntil(updated + 1_100);
    expect(await exists(extended)).toBe(false);
    expect(await exists(kept)).toBe(true);
    expect(emulator.store.rows(SET).filter((r) => r['partitionid'] === 'ttl').map((r) => r['sample_value'])).toEqual([2]);
  });
});

describe('FetchXML on an elastic table', () => {
  const query = (extra = ''): string =>
    `<fetch><entity name='sample_sensordata'><attribute name='sample_value'/>${extra}<filter><condition attribute='partitionid' operator='eq' value='fx-page'/></filter><order attribute='sample_value'/></entity></fetch>`;

  beforeAll(async () => {
    await client.createMultiple(SET, Array.from({ length: 1_200 }, (_, i) => ({ partitionid: 'fx-page', sample_value: i })) as never);
  });

  it('serves pages of 500 rows by default and at most, whatever count asks, and every row once', async () => {
    const walk = async (maxPageSize?: number): Promise<{ sizes: number[]; values: number[] }> => {
      const sizes: number[] = [];
      const values: number[] = [];
      for await (const page of client.fetchXml(SET, query()).byPage(maxPageSize === undefined ? undefined : { maxPageSize })) {
        sizes.push(page.length);
        for (const row of page) values.push(row['sample_value' as never] as number);
      }
      return { sizes, values };
    };
    const everyRow = Array.from({ length: 1_200 }, (_, i) => i);
    expect(await walk()).toEqual({ sizes: [500, 500, 200], values: everyRow });
    expect(await walk(5_000)).toEqual({ sizes: [500, 500, 200], values: everyRow });
    expect((await walk(300)).sizes).toEqual([300, 300, 300, 300]);
  });

  it('refuses any link-entity but an outer one with 0x80048d0b; an outer one runs', async () => {
    const link = (type: string) => `<link-entity name='systemuser' from='systemuserid' to='createdby' link-type='${type}' alias='u'><attribute name='fullname'/></link-entity>`;
    for (const type of ['inner', 'exists', 'in']) {
      const error = await (async () => {
        for await (const row of client.fetchXml(SET, query(link(type)))) void row;
      })().catch((e: unknown) => e);
      expect({ type, error }).toMatchObject({ type, error: { status: 400, code: '0x80048d0b', message: expect.stringMatching(/Link entities are not supported/) } });
    }
    let rows = 0;
    for await (const row of client.fetchXml(SET, query(link('outer')))) {
      expect(row).toHaveProperty(['u.fullname']);
      rows++;
    }
    expect(rows).toBe(1_200);
  });
});

describe('per-request options reach the service', () => {
  it('bypass flags, duplicate detection, solution and correlation id become headers; the id is carried on errors', async () => {
    const err = (await client
      .retrieve('accounts', randomUUID(), {
        bypassCustomPluginExecution: true,
        bypassBusinessLogicExecution: ['CustomSync', 'CustomAsync'],
        suppressDuplicateDetection: false,
        solutionUniqueName: 'MySolution',
        correlationId: 'corr-123',
      })
      .catch((e: unknown) => e)) as NotFoundError;
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.clientRequestId).toBe('corr-123');
    expect(JSON.stringify(err)).toContain('corr-123');
  });

  it('bad values name the option', async () => {
    await expect(client.retrieve('accounts', randomUUID(), { bypassBusinessLogicExecution: 'Everything' as never })).rejects.toThrow(/options\.bypassBusinessLogicExecution/);
    await expect(client.retrieve('accounts', randomUUID(), { correlationId: 'a\r\nb' })).rejects.toThrow(/options\.correlationId/);
    await expect(client.retrieve('accounts', randomUUID(), { solutionUniqueName: "x'; drop" })).rejects.toThrow(/options\.solutionUniqueName/);
    await expect(client.retrieve('accounts', randomUUID(), { suppressDuplicateDetection: 'yes' as never })).rejects.toThrow(/options\.suppressDuplicateDetection/);
  });
});

describe('DynamicsService', () => {
  it('takes the same options as headers; its errors carry the correlation id', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'workloads-svc-'));
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, emulator.caPem);
    const service = new DynamicsService({ env: { ...emulator.env(caFile), DYNAMICS_ENABLED: 'true' } });
    try {
      const err = (await service
        .get(`api/data/v9.2/accounts(${randomUUID()})`, { headers: { 'MSCRM.BypassCustomPluginExecution': 'true', 'x-ms-client-request-id': 'svc-42' } })
        .catch((e: unknown) => e)) as NotFoundError;
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.clientRequestId).toBe('svc-42');
    } finally {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
