/**
 * Change tracking (issue 14, item 2) against the emulator: a full read ending with a token, then only
 * what changed (upserts first, then deletions), paging with byPage(), the refused query options,
 * and the typed error for an expired token.
 */
import { randomUUID } from 'node:crypto';
import type { Emulator } from '../../src/emulator';
import type { DynamicsClient } from '../../src/client/DynamicsClient';
import { DeltaTokenExpiredError, ErrorCode } from '../../src/errors';
import type { ChangeEntry } from '../../src/client/workloadTypes';
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

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('changes()', () => {
  it('reads the whole table first and ends with a token; then gives only what changed, deletions last', async () => {
    emulator.store.clear('sample_documents');
    const ids = await client.createMultiple('sample_documents', Array.from({ length: 5 }, (_, i) => ({ sample_name: `doc ${i}` })) as never);
    const full = client.changes('sample_documents', { select: ['sample_name'] as never });
    const first = await all(full);
    expect(first).toHaveLength(5);
    expect(first.every((c) => c.kind === 'upsert')).toBe(true);
    expect(full.deltaToken).toEqual(expect.any(String));

    // Nothing changed: no entries, and a token to keep.
    const quiet = client.changes('sample_documents', { select: ['sample_name'] as never, deltaToken: full.deltaToken });
    expect(await all(quiet)).toEqual([]);
    expect(quiet.deltaToken).toEqual(expect.any(String));

    await client.update('sample_documents', ids[1] as string, { sample_name: 'renamed' } as never);
    await client.delete('sample_documents', ids[3] as string);
    const created = await client.create('sample_documents', { sample_name: 'new' } as never);
    // Created and deleted between syncs: still reported as deleted (use-change-tracking… "Order and content").
    const ephemeral = await client.create('sample_documents', { sample_name: 'gone' } as never);
    await client.delete('sample_documents', ephemeral);

    const delta = client.changes('sample_documents', { select: ['sample_name'] as never, deltaToken: quiet.deltaToken });
    const changes = await all(delta);
    const kinds = changes.map((c) => c.kind);
    expect(kinds).toEqual(['upsert', 'upsert', 'delete', 'delete']);
    const upserts = changes.filter((c): c is Extract<ChangeEntry<Record<string, unknown>>, { kind: 'upsert' }> => c.kind === 'upsert').map((c) => c.record);
    expect(upserts.map((r) => r['sample_name'])).toEqual(['renamed', 'new']);
    expect(upserts[1]?.['sample_documentid']).toBe(created);
    expect(changes.filter((c) => c.kind === 'delete').map((c) => (c as { id: string }).id)).toEqual([ids[3], ephemeral]);
    expect(delta.deltaToken).not.toBe(quiet.deltaToken);
  });

  it('byPage() follows the service pages; the last page carries the token, earlier ones a continuation', async () => {
    emulator.store.clear('sample_documents');
    await client.createMultiple('sample_documents', Array.from({ length: 23 }, (_, i) => ({ sample_name: `p ${i}` })) as never);
    const pages = await all(client.changes('sample_documents', { select: ['sample_name'] as never, maxPageSize: 10 }).byPage());
    expect(pages.map((p) => p.length)).toEqual([10, 10, 3]);
    expect(pages.slice(0, 2).every((p) => typeof p.continuationToken === 'string' && p.deltaToken === undefined)).toBe(true);
    expect(pages[2]?.deltaToken).toEqual(expect.any(String));
    // A page can be resumed from its continuation token.
    const resumed = await all(client.changes('sample_documents', { select: ['sample_name'] as never, maxPageSize: 10 }).byPage({ continuationToken: pages[0]?.continuationToken }));
    expect(resumed.map((p) => p.length)).toEqual([10, 3]);
  });

  it('refuses $filter, $orderby, $expand and $top before anything is sent', async () => {
    const before = emulator.counters.apiRequestsTotal;
    for (const option of ['filter', 'orderBy', 'expand', 'top'] as const) {
      expect(() => client.changes('accounts', { [option]: option === 'top' ? 5 : 'name' } as never)).toThrow(new RegExp(`options\\.${option}`));
    }
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });

  it('the emulator refuses them too, with the documented message', async () => {
    const res = await client.request('GET', 'accounts?$select=name&$top=1', undefined, { prefer: ['odata.track-changes'] }).catch((e: unknown) => e);
    expect(res).toMatchObject({ status: 400, serviceMessage: 'The "top" query parameter isn\'t supported when Change Tracking is enabled.' });
  });

  it('an expired token is a DeltaTokenExpiredError that says to run a full sync', async () => {
    const sync = client.changes('accounts', { select: ['name'] });
    await all(sync);
    emulator.store.expireDeltaTokens();
    const err = await all(client.changes('accounts', { select: ['name'], deltaToken: sync.deltaToken })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaTokenExpiredError);
    expect(err).toMatchObject({ code: ErrorCode.deltaTokenExpired, status: 400 });
    expect((err as Error).message).toMatch(/full sync/);
    // A full sync works again afterwards.
    const again = client.changes('accounts', { select: ['name'] });
    await all(again);
    expect(again.deltaToken).toEqual(expect.any(String));
  });

  it('countChanges() gives the number of entries a delta sync would give, without reading them', async () => {
    emulator.store.clear('sample_documents');
    await client.createMultiple('sample_documents', Array.from({ length: 3 }, (_, i) => ({ sample_name: `count ${i}` })) as never);
    const full = client.changes('sample_documents', { select: ['sample_name'] as never });
    const rows = await all(full);
    const token = full.deltaToken as string;
    expect(await client.countChanges('sample_documents', token)).toBe(0);

    const before = emulator.counters.apiRequestsTotal;
    const first = rows[0] as Extract<ChangeEntry<Record<string, unknown>>, { kind: 'upsert' }>;
    await client.update('sample_documents', first.record['sample_documentid'] as string, { sample_name: 'changed' } as never);
    await client.create('sample_documents', { sample_name: 'added' } as never);
    const gone = await client.create('sample_documents', { sample_name: 'gone' } as never);
    await client.delete('sample_documents', gone);
    const counted = await client.countChanges('sample_documents', token);
    // One request, and as many as the sync then lists: the update, the row added, and the row created
    // and deleted in between, which is a deletion only.
    expect(emulator.counters.apiRequestsTotal - before).toBe(5);
    expect(counted).toBe(3);
    const listed = await all(client.changes('sample_documents', { select: ['sample_name'] as never, deltaToken: token }));
    expect(counted).toBe(listed.length);
    expect(listed.map((c) => c.kind)).toEqual(['upsert', 'upsert', 'delete']);

    // The ordinary $count is untouched: without a token it counts the rows.
    expect(await client.count('sample_documents' as never)).toBe(4);
  });

  it('countChanges() with an expired token is a DeltaTokenExpiredError; an empty token is refused before sending', async () => {
    const sync = client.changes('accounts', { select: ['name'] });
    await all(sync);
    emulator.store.expireDeltaTokens();
    const err = await client.countChanges('accounts', sync.deltaToken as string).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaTokenExpiredError);
    expect((err as Error).message).toMatch(/^countChanges\('accounts'\): the delta token has expired .*Run a full sync/);
    await expect(client.countChanges('accounts', '')).rejects.toMatchObject({ code: ErrorCode.invalidArgument });
  });

  it('a record deleted before any sync is not reported by a full read', async () => {
    const id = await client.create('accounts', { name: `pre ${randomUUID()}` });
    await client.delete('accounts', id);
    const changes = await all(client.changes('accounts', { select: ['name'] }));
    expect(changes.some((c) => c.kind === 'delete')).toBe(false);
  });
});
