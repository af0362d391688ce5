/**
 * The FetchXML section of `npm run bench`: 100,000 rows through `DynamicsClient.fetchXml()` against
 * dynamics-web-api's `fetchAll`, each in its own process (scripts/bench/fetchxml-worker.ts),
 * interleaved over several runs, medians of wall time and peak RSS. A contender that reads a row
 * count or checksum other than expected fails the section (loudly) instead of reporting a number.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FetchXmlContender, FetchXmlRun, FetchXmlTask } from './fetchxml-worker';
import { int, mb, median, ms } from './stats';
import type { Target } from './worker';

export interface FetchXmlSizes {
  rows: number;
  runs: number;
}

export interface FetchXmlResult {
  rows: number;
  columns: string[];
  idleRssKb: number;
  runs: Record<string, FetchXmlRun[]>;
}

const LABELS: Record<Exclude<FetchXmlContender, 'idle'>, string> = {
  client: '**DynamicsClient** `fetchXml()` (`for await`, paging cookie, two pages in memory at most)',
  dwa: 'dynamics-web-api `fetchAll` (fixed token)',
};

let counter = 0;

function runWorker(target: Target, scratch: string, task: Omit<FetchXmlTask, 'target'>): Promise<FetchXmlRun> {
  const file = path.join(scratch, `fetchxml-task-${++counter}.json`);
  fs.writeFileSync(file, JSON.stringify({ ...task, target }));
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'fetchxml-worker.ts'), [file], {
      cwd: path.resolve(__dirname, '../..'),
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: target.caFile },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    child.on('message', (m: { type: string; result?: FetchXmlRun; message?: string }) => {
      settled = true;
      if (m.type === 'result') resolve(m.result as FetchXmlRun);
      else reject(new Error(`fetchxml ${task.contender} failed in the worker:\n${m.message}`));
    });
    child.on('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`fetchxml ${task.contender} worker exited with code ${code} before reporting`));
      settled = true;
    });
  });
}

/** Runs the section against an emulator seeded with `sizes.rows` accounts (`A000000`…). */
export async function benchFetchXml(h: { target: Target; scratch: string }, sizes: FetchXmlSizes): Promise<FetchXmlResult> {
  const columns = ['name', 'accountnumber', 'address1_city', 'emailaddress1', 'revenue', 'createdon'];
  const fetchXml = `<fetch><entity name='account'>${columns.map((c) => `<attribute name='${c}'/>`).join('')}</entity></fetch>`;
  const n = sizes.rows;
  // The seeded accounts are numbered A000001…: each of 1…n once gives these sums.
  const expected = { sum: (n * (n + 1)) / 2, sumOfSquares: (n * (n + 1) * (2 * n + 1)) / 6 };
  const contenders: Array<Exclude<FetchXmlContender, 'idle'>> = ['client', 'dwa'];
  const runs: Record<string, FetchXmlRun[]> = { client: [], dwa: [] };
  const idle = await runWorker(h.target, h.scratch, { contender: 'idle', fetchXml });
  for (let run = 0; run < sizes.runs; run++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + run) % contenders.length] as Exclude<FetchXmlContender, 'idle'>;
      const result = await runWorker(h.target, h.scratch, { contender, fetchXml });
      if (result.rows !== n || result.sum !== expected.sum || result.sumOfSquares !== expected.sumOfSquares) {
        throw new Error(`fetchxml: ${contender} read ${result.rows} rows (checksums ${result.sum}/${result.sumOfSquares}), expected ${n} rows each once (${expected.sum}/${expected.sumOfSquares})`);
      }
      (runs[contender] as FetchXmlRun[]).push(result);
    }
  }
  return { rows: n, columns, idleRssKb: idle.peakRssKb, runs };
}

export function fetchXmlTable(r: FetchXmlResult): string {
  const lines = [
    `### FetchXML: ${int(r.rows)} rows (${r.columns.length} columns, pages of 5,000 with the paging cookie), each contender in its own process, median of ${r.runs.client?.length ?? 0} run(s)`,
    '',
    '| contender | rows read (each once) | wall time | rows/s | peak RSS | peak RSS over an idle worker |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [key, label] of Object.entries(LABELS)) {
    const runs = r.runs[key];
    if (!runs?.length) continue;
    const m = median(runs.map((x) => x.ms));
    const peak = median(runs.map((x) => x.peakRssKb));
    lines.push(`| ${label} | ${int(runs[0]!.rows)} | ${ms(m)} | ${int((runs[0]!.rows / m) * 1000)} | ${mb(peak)} | ${mb(peak - r.idleRssKb)} |`);
  }
  lines.push('', `An idle worker (tsx, our library and dynamics-web-api loaded) peaks at ${mb(r.idleRssKb)}. Goal: at least dynamics-web-api's throughput at a flat fraction of its memory (it holds every row until the last page).`);
  return lines.join('\n');
}
