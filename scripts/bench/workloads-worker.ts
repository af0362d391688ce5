/**
 * One workload task of `scripts/bench/workloads.ts` in its own process, so that its peak RSS is the
 * client's and not the emulator's. The task arrives as a JSON file path in argv; the result leaves as
 * an IPC message `{ type: 'result', result }` (or `{ type: 'error', message }`).
 */
import { readFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** Our client from the compiled `dist/` (what users install); `src/` when run by hand without a build. */
const distEntry = path.resolve(__dirname, '../../dist/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DynamicsClient } = require(existsSync(distEntry) ? distEntry : '../../src') as typeof import('../../src');
type DynamicsClient = import('../../src').DynamicsClient;

export interface WorkloadTarget {
  url: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
}

export type CreatesMode = 'createMultiple' | 'batch' | 'parallel';

export type WorkloadTask =
  | { kind: 'creates'; target: WorkloadTarget; mode: CreatesMode; count: number; tag: string }
  | { kind: 'upload'; target: WorkloadTarget; file: string; id: string }
  | { kind: 'download'; target: WorkloadTarget; out: string; id: string; size: number }
  | { kind: 'sync'; target: WorkloadTarget; rows: number; changes: number }
  | { kind: 'idle'; target: WorkloadTarget };

/** Wall time and memory of one task: `baseRssKb` is the resident memory when the measured work starts, `maxRssKb` its sampled peak during it. */
export interface WorkloadResult {
  wallMs: number;
  baseRssKb: number;
  maxRssKb: number;
  /** What the task did, for the table and for the orchestrator's checks. */
  done: Record<string, number>;
}

const MODEL = {
  accounts: { entitySet: 'accounts', logicalName: 'account', primaryKey: 'accountid', columns: {} },
  sample_documents: { entitySet: 'sample_documents', logicalName: 'sample_document', primaryKey: 'sample_documentid', columns: {} },
};

function newClient(t: WorkloadTarget): DynamicsClient {
  return new DynamicsClient({ url: t.url, ca: readFileSync(t.caFile, 'utf8'), auth: { tokenUrl: t.tokenUrl, clientId: t.clientId, clientSecret: t.clientSecret }, model: MODEL });
}

/**
 * Resident memory, sampled: `resourceUsage().maxRSS` cannot be used here, because Linux carries a
 * process's peak across `fork` + `exec` from the parent (the orchestrator, whose emulator holds the
 * 200 MB file and the 100,000 rows), so the child's peak would start at the parent's.
 */
class RssSampler {
  peakKb = 0;
  readonly #timer: NodeJS.Timeout;
  constructor() {
    this.sample();
    this.#timer = setInterval(() => this.sample(), 5);
  }
  sample(): number {
    const kb = Math.round(process.memoryUsage.rss() / 1024);
    if (kb > this.peakKb) this.peakKb = kb;
    return kb;
  }
  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    return this.peakKb;
  }
}

async function run(task: WorkloadTask): Promise<WorkloadResult> {
  const client = newClient(task.target);
  try {
    // A warm-up call: token, TLS session and the dop hint are in place before the clock starts.
    await client.callFunction('WhoAmI');
    const sampler = new RssSampler();
    const baseRssKb = sampler.sample();
    sampler.peakKb = baseRssKb;
    const t0 = performance.now();
    const done: Record<string, number> = {};
    switch (task.kind) {
      case 'idle':
        break;
      case 'creates': {
        const rows = Array.from({ length: task.count }, (_, i) => ({ name: `${task.tag} ${i}` }));
        if (task.mode === 'createMultiple') {
          done.created = (await client.createMultiple('accounts', rows)).length;
        } else if (task.mode === 'batch') {
          // Requests of 1,000 (the most one $batch may hold), all at once: the client keeps the dop hint in flight.
          const requests = Array.from({ length: Math.ceil(rows.length / 1000) }, (_, i) => rows.slice(i * 1000, (i + 1) * 1000));
          const answers = await Promise.all(requests.map((part) => client.batch(part.map((r) => ({ method: 'POST' as const, url: 'accounts', body: r })))));
          done.created = answers.flat().filter((r) => r.error === undefined).length;
        } else {
          // Parallel single creates: the client keeps the dop hint in flight; a pool a little wider keeps it full.
          let next = 0;
          let created = 0;
          const worker = async () => {
            while (next < rows.length) {
              const row = rows[next++] as { name: string };
              await client.create('accounts', row);
              created += 1;
            }
          };
          await Promise.all(Array.from({ length: 16 }, worker));
          done.created = created;
        }
        break;
      }
      case 'upload':
        await client.uploadFile('sample_documents', task.id, 'sample_file', task.file);
        done.bytes = Number((await import('node:fs')).statSync(task.file).size);
        break;
      case 'download': {
        const info = await client.downloadFile('sample_documents', task.id, 'sample_file', { path: task.out });
        done.bytes = info?.size ?? -1;
        break;
      }
      case 'sync': {
        let rows = 0;
        const full = client.changes('sample_documents', { select: ['sample_name'] as never });
        for await (const change of full) if (change.kind === 'upsert') rows += 1;
        done.fullMs = performance.now() - t0;
        done.fullRows = rows;
        // The changes, made through the client (not measured): updates, creates and deletes in equal parts.
        const ids: string[] = [];
        for await (const page of client.list('sample_documents', { select: ['sample_documentid'] as never, maxPageSize: 5000 }).byPage()) {
          for (const r of page) ids.push((r as Record<string, string>)['sample_documentid'] as string);
          if (ids.length >= task.changes) break;
        }
        const third = Math.floor(task.changes / 3);
        await client.updateMultiple('sample_documents', ids.slice(0, third).map((id) => ({ sample_documentid: id, sample_name: 'changed' })) as never);
        await client.createMultiple('sample_documents', Array.from({ length: third }, (_, i) => ({ sample_name: `new ${i}` })) as never);
        const deletes = ids.slice(third, task.changes - third);
        await client.batch(deletes.map((id) => ({ method: 'DELETE' as const, url: `sample_documents(${id})` })));
        const t1 = performance.now();
        let upserts = 0;
        let removed = 0;
        const delta = client.changes('sample_documents', { select: ['sample_name'] as never, deltaToken: full.deltaToken });
        for await (const change of delta) {
          if (change.kind === 'upsert') upserts += 1;
          else removed += 1;
        }
        done.deltaMs = performance.now() - t1;
        done.deltaUpserts = upserts;
        done.deltaDeletes = removed;
        done.expectedChanges = task.changes;
        if (delta.deltaToken === undefined) throw new Error('the delta sync ended without a token');
        break;
      }
    }
    const wallMs = performance.now() - t0;
    return { wallMs, baseRssKb, maxRssKb: sampler.stop(), done };
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('workloads-worker.ts: missing task file argument');
  const task = JSON.parse(readFileSync(file, 'utf8')) as WorkloadTask;
  try {
    const result = await run(task);
    process.send?.({ type: 'result', result });
  } catch (err) {
    process.send?.({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

if (require.main === module) {
  main().then(
    () => process.disconnect?.(),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
