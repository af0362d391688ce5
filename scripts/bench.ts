/**
 * `npm run bench [-- --quick] [--only overhead,burst,paging,fetchxml,creates,codegen,workloads,fleet] [--out DIR]`
 *
 * Side-by-side measurements against the emulator on loopback, in one run:
 * - per-request overhead: DynamicsClient and DynamicsService against raw axios with a fixed token
 *   (and node https, the floor) and against dynamics-web-api, interleaved rounds, medians of wall
 *   time and of the client process's CPU;
 * - cold-start burst: token requests for 200 concurrent calls, ours against the @edirect/dynamics flow;
 * - paging 100,000 rows: throughput, CPU and peak RSS, each contender (node https following nextLink
 *   the floor) in its own process;
 * - FetchXML: 100,000 rows through fetchXml() against dynamics-web-api's fetchAll (scripts/bench/fetchxml.ts);
 * - 1,000 creates: sequential, parallel at the dop hint, `$batch` of 100 and one `$batch` of 1,000;
 * - code generation on the real 4.2 MB `$metadata`;
 * - workloads: bulk creates under latency, a 200 MB file up and down, a change-tracking sync (scripts/bench/workloads.ts);
 * - many instances: four processes as one user against a service budget, alone and sharing `redisThrottle` (scripts/bench/fleet.ts);
 * - the performance targets (ours against dynamics-web-api and node https), met or missed.
 *
 * Honest by construction: every answer is checked, and a section in which any contender failed a
 * call (or created the wrong number of rows) is reported as FAILED, without its table, and the run
 * exits non-zero.
 *
 * The emulator runs in this process; every contender runs in a child process of its own
 * (scripts/bench/worker.ts), so its CPU, memory, JIT and garbage collection are its own; where rounds
 * are interleaved, the processes take turns (runTurns). Writes `bench-results/bench.{json,md}` (the latest run) and a copy named `bench-<time>.*`
 * and prints the markdown.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator, type Emulator } from './bench/emulator';
import { benchFetchXml, fetchXmlTable, type FetchXmlResult } from './bench/fetchxml';
import { benchFleet, FLEET_SIZES, fleetTable, type FleetResult } from './bench/fleet';
import { describeMachine, machineLine, waitForQuiet, type MachineInfo } from './bench/machine';
import { int, max, mb, median, min, ms, pairedRatio, ratio } from './bench/stats';
import { benchWorkloads, WORKLOADS_FULL, WORKLOADS_QUICK, workloadsTable, type WorkloadsResult } from './bench/workloads';
import type { BurstContender, CreateContender, CreateMode, CreateRoundResult, OverheadContender, OverheadRuns, PagingContender, Target, Task, WorkerMessage } from './bench/worker';

const repo = path.resolve(__dirname, '..');
const SECTIONS = ['overhead', 'burst', 'paging', 'fetchxml', 'creates', 'codegen', 'workloads', 'fleet'] as const;
type Section = (typeof SECTIONS)[number];

interface Sizes {
  /** `warmup`: requests per contender before the measured rounds, so that V8 has compiled the hot path. */
  overhead: { requests: number; concurrency: number; rounds: number; warmup: number };
  burst: { burst: number; steady: number; runs: number };
  paging: { rows: number; runs: number; maxPageSize: number };
  /** Rows are the paging section's (the emulator is seeded once). */
  fetchxml: { runs: number };
  /**
   * `warmup` (creates one at a time or in parallel) and `warmupBatches` (`$batch` modes): what each
   * contender does before its measured runs, so that they measure the compiled code and not V8
   * compiling it. Measured: after 300 sequential creates, a client's next 1,000 took 800 ms of CPU;
   * the CPU per create settled only after about 3,000 (the same for both clients).

   */
  creates: { count: number; batchSize: number; bigBatchSize: number; runs: number; batchRuns: number; warmup: number; warmupBatches: number; latencyInMs: number; latencyCount: number };
  codegen: { runs: number };
}

const FULL: Sizes = {
  // 5,000 GETs a round (about 0.6 s per contender): with 1,000 (0.1 s), a single round's ratio to
  // the peer ranged from 0.79 to 3.10 in one run; with 5,000, from 0.83 to 1.66.
  overhead: { requests: 5000, concurrency: 8, rounds: 15, warmup: 3000 },
  burst: { burst: 200, steady: 1000, runs: 3 },
  paging: { rows: 100_000, runs: 5, maxPageSize: 5000 },
  fetchxml: { runs: 3 },
  creates: { count: 1000, batchSize: 100, bigBatchSize: 1000, runs: 15, batchRuns: 25, warmup: 3000, warmupBatches: 10, latencyInMs: 20, latencyCount: 1000 },
  codegen: { runs: 3 },
};

const QUICK: Sizes = {
  overhead: { requests: 60, concurrency: 8, rounds: 2, warmup: 30 },
  burst: { burst: 20, steady: 20, runs: 1 },
  paging: { rows: 3000, runs: 1, maxPageSize: 1000 },
  fetchxml: { runs: 1 },
  creates: { count: 60, batchSize: 20, bigBatchSize: 60, runs: 1, batchRuns: 1, warmup: 20, warmupBatches: 1, latencyInMs: 0, latencyCount: 0 },
  codegen: { runs: 1 },
};

const REAL_METADATA = path.resolve(repo, '../shared/fixtures/real/metadata-v9.0-onprem-bcgov-lcrb.xml');

interface Args {
  quick: boolean;
  only: Section[];
  out: string;
  metadata: string;
  /** A contender whose calls are made to fail, to prove that the bench reports FAILED and exits non-zero. */
  sabotage?: string;
  /** Only print the markdown of an earlier run, from its JSON (measures nothing). */
  render?: string;
}

function usage(): string {
  return [
    'usage: npm run bench -- [--quick] [--only overhead,burst,paging,fetchxml,creates,codegen,workloads,fleet] [--out DIR] [--metadata FILE] [--sabotage CONTENDER]',
    '',
    '  --quick      small sizes, one run each: proves the harness works, numbers are not meaningful',
    '  --only       run only these sections (comma-separated); fleet needs redis-server',
    '  --out        where to write the JSON and markdown (default: bench-results/)',
    '  --metadata   $metadata file for the code generation section (default: the real 4.2 MB v9.0 document)',
    '  --sabotage   make one contender\'s calls fail (dwa, client, https, …): the harness\'s own test that a failed row is never reported',
    '  --render     print the markdown of an earlier run from its bench-*.json, measuring nothing (after a change to the tables)',
  ].join('\n');
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: [...SECTIONS], out: path.join(repo, 'bench-results'), metadata: REAL_METADATA };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value\n\n${usage()}`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--only') {
      const list = value().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.filter((s) => !(SECTIONS as readonly string[]).includes(s));
      if (bad.length > 0 || list.length === 0) throw new Error(`--only: unknown section(s) ${bad.join(', ') || '(none given)'}; expected some of ${SECTIONS.join(', ')}`);
      args.only = list as Section[];
    } else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--metadata') args.metadata = path.resolve(value());
    else if (a === '--sabotage') args.sabotage = value();
    else if (a === '--render') args.render = path.resolve(value());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n\n${usage()}`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// Running a task in a child process

interface Harness {
  emulator: Emulator;
  target: Target;
  scratch: string;
  sabotage?: string;
}

let taskCounter = 0;

/** Forks the worker for one task; `onPhase` lets the caller read the emulator's counters mid-task. */
function runTask<T>(h: Harness, task: Task, onPhase?: (name: string) => void): Promise<T> {
  const file = path.join(h.scratch, `task-${++taskCounter}.json`);
  fs.writeFileSync(file, JSON.stringify(task));
  return new Promise<T>((resolve, reject) => {
    const child = fork(path.join(__dirname, 'bench', 'worker.ts'), [file], {
      cwd: repo,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: h.target.caFile },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'phase') {
        onPhase?.(m.name);
        child.send({ type: 'ack' });
      } else if (m.type === 'result') {
        settled = true;
        resolve(m.result as T);
      } else if (m.type === 'error') {
        settled = true;
        reject(new Error(`${task.kind} task failed in the worker:\n${m.message}`));
      }
    });
    child.on('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`${task.kind} worker exited with code ${code} before reporting`));
      settled = true;
    });
  });
}

/**
 * Runs one driven task per contender, each in its own process, taking turns: the warm-ups one after
 * another, then `rounds` rounds in which every process measures once, the order rotating every round.
 * Each contender thus has its own heap, JIT and garbage collector (one client's garbage is not
 * collected in the other's round, and node's own http code is not made polymorphic by another
 * client's requests), and only one process works at a time, so the machine's drift still hits all
 * alike. Resolves with each task's result, in the order given.
 */
function runTurns<T>(h: Harness, tasks: Task[], rounds: number): Promise<T[]> {
  type Worker = { child: ChildProcess; waiting?: () => void; requested: boolean; result?: T };
  return new Promise<T[]>((resolve, reject) => {
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      for (const w of workers) w.child.kill();
      reject(error);
    };
    // The worker has asked for a turn (or ended its last one): whoever waits for it goes on.
    const arrived = (w: Worker): void => {
      const go = w.waiting;
      w.waiting = undefined;
      go?.();
    };
    const workers: Worker[] = tasks.map((task) => {
      const file = path.join(h.scratch, `task-${++taskCounter}.json`);
      fs.writeFileSync(file, JSON.stringify({ ...task, driven: true }));
      const child = fork(path.join(__dirname, 'bench', 'worker.ts'), [file], {
        cwd: repo,
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, NODE_EXTRA_CA_CERTS: h.target.caFile },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const w: Worker = { child, requested: false };
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'turn') {
          w.requested = true;
          arrived(w);
        } else if (m.type === 'result') {
          w.result = m.result as T;
          arrived(w);
        } else if (m.type === 'error') fail(new Error(`${task.kind} task failed in the worker:\n${m.message}`));
      });
      child.on('error', (err) => fail(err));
      child.on('exit', (code) => {
        if (w.result === undefined) fail(new Error(`${task.kind} worker exited with code ${code} before reporting`));
      });
      return w;
    });
    // Resolves when the worker has asked for its next turn (or sent its result).
    const ready = (w: Worker): Promise<void> => (w.requested || w.result !== undefined ? Promise.resolve() : new Promise((go) => (w.waiting = go)));
    const take = async (w: Worker): Promise<void> => {
      await ready(w);
      if (failed) return;
      if (!w.requested) throw new Error('a worker ended before its turn');
      w.requested = false;
      w.child.send({ type: 'ack' });
      // Its turn ends when it asks for the next one or reports.
      await ready(w);
    };
    (async () => {
      for (const w of workers) await take(w);
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < workers.length; i++) await take(workers[(i + round) % workers.length]);
      }
      for (const w of workers) await ready(w);
      if (!failed) resolve(workers.map((w) => w.result as T));
    })().catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
  });
}

// ---------------------------------------------------------------------------------------------
// Sections

const OVERHEAD_LABELS: Record<OverheadContender, string> = {
  https: 'node `https` (floor)',
  axios: 'raw axios, keep-alive agent, fixed token (baseline)',
  'axios-lean': 'raw axios, keep-alive, `maxRedirects: 0`',
  client: '**DynamicsClient** `retrieve`',
  service: '**DynamicsService** `get`',
  dwa: 'dynamics-web-api `retrieve` (fixed token)',
};

interface OverheadResult {
  requests: number;
  concurrency: number;
  rounds: number;
  warmup: number;
  runsMs: Record<string, number[]>;
  medianMs: Record<string, number>;
  /** The worker's CPU (user + system) per round, µs, and its median per request. */
  cpuUs: Record<string, number[]>;
  medianCpuUsPerRequest: Record<string, number>;
}

async function benchOverhead(h: Harness, s: Sizes['overhead']): Promise<OverheadResult> {
  const ids = h.emulator.store
    .rows('accounts')
    .slice(0, s.requests)
    .map((r) => String(r.accountid));
  const contenders: OverheadContender[] = ['https', 'axios', 'axios-lean', 'client', 'service', 'dwa'];
  // Each contender in its own process, the processes taking turns round by round (runTurns).
  const each = await runTurns<OverheadRuns>(
    h,
    contenders.map((c): Task => ({ kind: 'overhead', target: h.target, ids, concurrency: s.concurrency, rounds: s.rounds, warmup: s.warmup, contenders: [c], sabotage: h.sabotage })),
    s.rounds,
  );
  const runs: OverheadRuns = { wallMs: Object.assign({}, ...each.map((e) => e.wallMs)), cpuUs: Object.assign({}, ...each.map((e) => e.cpuUs)) };
  const medianMs = Object.fromEntries(Object.entries(runs.wallMs).map(([k, v]) => [k, median(v)]));
  const medianCpuUsPerRequest = Object.fromEntries(Object.entries(runs.cpuUs).map(([k, v]) => [k, median(v) / ids.length]));
  return { requests: ids.length, concurrency: s.concurrency, rounds: s.rounds, warmup: s.warmup, runsMs: runs.wallMs, medianMs, cpuUs: runs.cpuUs, medianCpuUsPerRequest };
}

function overheadTable(r: OverheadResult): string {
  const lines = [
    `### Per-request overhead: ${int(r.requests)} × \`GET accounts(<id>)?$select=name\`, ${r.concurrency} in flight, keep-alive, median of ${r.rounds} interleaved rounds after ${int(r.warmup)} requests of warm-up each`,
    '',
    '| client | median (ms) | per request (µs) | client CPU per request (µs) | vs node `https` | vs dynamics-web-api | CPU vs dynamics-web-api |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [key, label] of Object.entries(OVERHEAD_LABELS)) {
    const m = r.medianMs[key];
    if (m === undefined) continue;
    const cpu = r.medianCpuUsPerRequest[key];
    lines.push(
      `| ${label} | ${m.toFixed(1)} | ${int((m * 1000) / r.requests)} | ${int(cpu)} | ${ratio(m, r.medianMs.https)} | ${ratio(m, r.medianMs.dwa)} | ${ratio(cpu, r.medianCpuUsPerRequest.dwa)} |`,
    );
  }
  lines.push(
    '',
    "The emulator serves from the same cores, so wall times include its work and whatever else the machine runs; the client CPU column is the worker process's own `process.cpuUsage()` per request (median over the rounds), which the machine's load hardly moves. Every answer is checked (a record with its name).",
  );
  return lines.join('\n');
}

const BURST_LABELS: Record<BurstContender, string> = {
  client: '**DynamicsClient** (MSAL, client credentials)',
  service: '**DynamicsService** (MSAL, password grant, the drop-in)',
  edirect: '`@edirect/dynamics` flow (password, then refresh grant per call)',
};

interface BurstRun {
  burstTokenRequests: number;
  steadyTokenRequests: number;
  burstByGrant: Record<string, number>;
  steadyByGrant: Record<string, number>;
  burstMs: number;
  steadyMs: number;
  failures: number;
}

interface BurstResult {
  burst: number;
  steady: number;
  runs: Record<string, BurstRun[]>;
}

async function benchBurst(h: Harness, s: Sizes['burst']): Promise<BurstResult> {
  const id = String(h.emulator.store.rows('accounts')[0].accountid);
  const contenders: BurstContender[] = ['client', 'service', 'edirect'];
  const runs: Record<string, BurstRun[]> = Object.fromEntries(contenders.map((c) => [c, []]));
  for (let run = 0; run < s.runs; run++) {
    for (const contender of contenders) {
      h.emulator.resetCounters();
      let burstTokens = 0;
      let burstByGrant: Record<string, number> = {};
      const result = await runTask<{ burstMs: number; steadyMs: number; failures: number }>(
        h,
        { kind: 'burst', target: h.target, contender, id, burst: s.burst, steady: s.steady },
        () => {
          burstTokens = h.emulator.counters.tokenRequestsTotal;
          burstByGrant = { ...h.emulator.counters.tokenRequests };
          h.emulator.resetCounters();
        },
      );
      runs[contender].push({
        burstTokenRequests: burstTokens,
        steadyTokenRequests: h.emulator.counters.tokenRequestsTotal,
        burstByGrant,
        steadyByGrant: { ...h.emulator.counters.tokenRequests },
        ...result,
      });
    }
  }
  const failed = Object.entries(runs).flatMap(([contender, list]) => list.filter((x) => x.failures > 0).map((x) => `${contender}: ${x.failures} failed calls`));
  if (failed.length > 0) throw new Error(`burst: calls failed, so the token counts do not describe working clients (${failed.join('; ')})`);
  return { burst: s.burst, steady: s.steady, runs };
}

function grants(byGrant: Record<string, number>): string {
  const parts = Object.entries(byGrant)
    .filter(([, n]) => n > 0)
    .map(([g, n]) => `${n} ${g}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function burstTable(r: BurstResult): string {
  const lines = [
    `### Token requests: a cold burst of ${r.burst} concurrent calls, then ${int(r.steady)} calls one after another`,
    '',
    `| token flow | token requests for the burst | token requests for the next ${int(r.steady)} calls | burst wall time | failed calls |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const [key, label] of Object.entries(BURST_LABELS)) {
    const runs = r.runs[key];
    if (!runs?.length) continue;
    const last = runs[runs.length - 1];
    lines.push(
      `| ${label} | ${int(median(runs.map((x) => x.burstTokenRequests)))}${grants(last.burstByGrant)} | ${int(median(runs.map((x) => x.steadyTokenRequests)))}${grants(last.steadyByGrant)} | ${ms(median(runs.map((x) => x.burstMs)))} | ${int(max(runs.map((x) => x.failures)))} |`,
    );
  }
  lines.push('', 'Counted by the emulator\'s Entra ID. Goal: 1 token request for the burst, 0 afterwards while the token is valid.');
  return lines.join('\n');
}

const PAGING_LABELS: Record<PagingContender, string> = {
  https: 'node `https` following `@odata.nextLink` (floor, fixed token)',
  client: '**DynamicsClient** `list()` (`for await`, one page in memory)',
  dwa: 'dynamics-web-api `retrieveAll` (fixed token)',
  axios: 'raw axios following `@odata.nextLink` (fixed token)',
};

interface PagingRun {
  rows: number;
  ms: number;
  cpuUs: number;
  peakRssKb: number;
  startRssKb: number;
}

interface PagingResult {
  rows: number;
  maxPageSize: number;
  columns: string[];
  idleRssKb: number;
  runs: Record<string, PagingRun[]>;
}

async function benchPaging(h: Harness, s: Sizes['paging']): Promise<PagingResult> {
  const columns = ['name', 'accountnumber', 'address1_city', 'emailaddress1', 'revenue', 'createdon'];
  const contenders: PagingContender[] = ['https', 'client', 'dwa', 'axios'];
  const runs: Record<string, PagingRun[]> = Object.fromEntries(contenders.map((c) => [c, []]));
  const idle = await runTask<{ peakRssKb: number }>(h, { kind: 'idle' });
  for (let run = 0; run < s.runs; run++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + run) % contenders.length];
      const result = await runTask<PagingRun>(h, { kind: 'paging', target: h.target, contender, columns, maxPageSize: s.maxPageSize });
      if (result.rows !== s.rows) throw new Error(`paging: ${contender} read ${result.rows} rows, expected ${s.rows}`);
      runs[contender].push(result);
    }
  }
  return { rows: s.rows, maxPageSize: s.maxPageSize, columns, idleRssKb: idle.peakRssKb, runs };
}

/** Rows per second of the median run. */
function rowsPerSecond(runs: PagingRun[] | undefined): number | undefined {
  if (!runs?.length) return undefined;
  return (runs[0].rows / median(runs.map((x) => x.ms))) * 1000;
}

function pagingTable(r: PagingResult): string {
  const lines = [
    `### Paging ${int(r.rows)} rows (${r.columns.length} columns, pages of ${int(r.maxPageSize)}), each contender in its own process after one unmeasured walk, median of ${r.runs.client?.length ?? 0} run(s), interleaved`,
    '',
    '| contender | rows read | wall time | rows/s | rows/s vs node `https` | client CPU per 1,000 rows | peak RSS | peak RSS over an idle worker |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const floor = rowsPerSecond(r.runs.https);
  for (const [key, label] of Object.entries(PAGING_LABELS)) {
    const runs = r.runs[key];
    if (!runs?.length) continue;
    const m = median(runs.map((x) => x.ms));
    const peak = median(runs.map((x) => x.peakRssKb));
    const cpuPerThousand = median(runs.map((x) => x.cpuUs)) / (runs[0].rows / 1000) / 1000;
    lines.push(`| ${label} | ${int(runs[0].rows)} | ${ms(m)} | ${int(rowsPerSecond(runs))} | ${ratio(rowsPerSecond(runs), floor)} | ${cpuPerThousand.toFixed(1)} ms | ${mb(peak)} | ${mb(peak - r.idleRssKb)} |`);
  }
  lines.push('', `An idle worker (tsx, our library, axios and dynamics-web-api loaded) peaks at ${mb(r.idleRssKb)}; peak RSS is \`process.resourceUsage().maxRSS\`.`);
  return lines.join('\n');
}

interface CreateRun {
  ms: number;
  /** The worker's CPU (user + system), µs. */
  cpuUs: number;
  failures: number;
  requests: number;
  created: number;
}

interface CreatesResult {
  count: number;
  batchSize: number;
  bigBatchSize: number;
  warmup: number;
  warmupBatches: number;
  dopHint: number;
  runs: Record<string, CreateRun[]>;
  latencyInMs: number;
  latencyCount: number;
  latencyRuns: Record<string, CreateRun[]>;
}

/** Row key of a combination: `client/sequential`, `dwa/batch-100`. */
function createKey(contender: CreateContender, mode: CreateMode, batchSize: number): string {
  return mode === 'batch' ? `${contender}/batch-${batchSize}` : `${contender}/${mode}`;
}

function createLabel(key: string, r: Pick<CreatesResult, 'batchSize' | 'bigBatchSize'>): string {
  const [contender, mode] = key.split('/');
  const who = contender === 'client' ? '**DynamicsClient**' : 'dynamics-web-api';
  if (mode === 'sequential') return `${who} sequential`;
  if (mode === 'parallel') return contender === 'client' ? `${who} parallel (the client keeps \`x-ms-dop-hint\` in flight)` : `${who} parallel (a pool at the dop hint)`;
  const size = Number(mode.slice('batch-'.length));
  const requests = size === r.batchSize ? `\`$batch\` of ${int(size)}, one request after another` : `one \`$batch\` of ${int(size)}`;
  return `${who} ${requests}`;
}

async function benchCreates(h: Harness, s: Sizes['creates'], dopHint: number): Promise<CreatesResult> {
  const modes: Array<[CreateMode, number]> = [
    ['sequential', s.batchSize],
    ['parallel', s.batchSize],
    ['batch', s.batchSize],
    ['batch', s.bigBatchSize],
  ];
  const contenders: CreateContender[] = ['client', 'dwa'];
  /** Counts the rows each run created, by the `<tag>|<contender>|<round>|` prefix of their names (see createName). */
  const rowsByRun = (tag: string): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const row of h.emulator.store.rows('accounts')) {
      const name = row.name;
      if (typeof name !== 'string' || !name.startsWith(`${tag}|`)) continue;
      const run = name.slice(0, name.lastIndexOf('|'));
      counts.set(run, (counts.get(run) ?? 0) + 1);
    }
    return counts;
  };
  const once = async (mode: CreateMode, batchSize: number, count: number, rounds: number, who: CreateContender[], tag: string, warmup: number): Promise<Record<string, CreateRun[]>> => {
    // Each contender in its own process, the processes taking turns round by round (runTurns).
    const each = await runTurns<Record<string, CreateRoundResult[]>>(
      h,
      who.map((c): Task => ({ kind: 'creates', target: h.target, contenders: [c], mode, count, rounds, warmup, batchSize, concurrency: dopHint, tag, sabotage: h.sabotage })),
      rounds,
    );
    const runs: Record<string, CreateRoundResult[]> = Object.assign({}, ...each);
    const created = rowsByRun(tag);
    return Object.fromEntries(
      Object.entries(runs).map(([contender, list]) => [contender, list.map((run, round) => ({ ...run, created: created.get(`${tag}|${contender}|${round}`) ?? 0 }))]),
    );
  };
  const runs: Record<string, CreateRun[]> = {};
  for (const [mode, batchSize] of modes) {
    const tag = `bench ${mode} ${batchSize} ${Date.now()}`;
    // A round of a `$batch` mode is short (one or ten requests), so one pause of the machine moves it
    // a lot: more rounds, for a median that such a pause does not decide.
    const rounds = mode === 'batch' ? s.batchRuns : s.runs;
    const result = await once(mode, batchSize, s.count, rounds, contenders, tag, mode === 'batch' ? batchSize * s.warmupBatches : s.warmup);
    for (const contender of contenders) runs[createKey(contender, mode, batchSize)] = result[contender];
  }
  const latencyRuns: Record<string, CreateRun[]> = {};
  if (s.latencyInMs > 0 && s.latencyCount > 0) {
    h.emulator.setLatency(s.latencyInMs);
    try {
      for (const mode of ['sequential', 'parallel'] as const) {
        // A short warm-up (sockets, token): with 20 ms per response, the client's CPU is not what this measures.
        const result = await once(mode, s.batchSize, s.latencyCount, 1, ['client'], `bench latency ${mode} ${Date.now()}`, Math.min(100, s.latencyCount));
        latencyRuns[`client/${mode}`] = result.client;
      }
    } finally {
      h.emulator.setLatency(0);
    }
  }
  // A row whose contender failed would compare a broken run with a working one: the section fails instead.
  const broken: string[] = [];
  for (const [key, list] of Object.entries(runs)) for (const x of list) if (x.failures > 0 || x.created !== s.count) broken.push(`${key}: ${x.failures} failed, ${x.created} rows created`);
  for (const [key, list] of Object.entries(latencyRuns)) for (const x of list) if (x.failures > 0 || x.created !== s.latencyCount) broken.push(`${key} (latency): ${x.failures} failed, ${x.created} rows created`);
  if (broken.length > 0) throw new Error(`creates: some runs did not create every row (${broken.join('; ')})`);
  return { count: s.count, batchSize: s.batchSize, bigBatchSize: s.bigBatchSize, warmup: s.warmup, warmupBatches: s.warmupBatches, dopHint, runs, latencyInMs: s.latencyInMs, latencyCount: s.latencyCount, latencyRuns };
}

function createsTable(r: CreatesResult): string {
  const lines = [
    `### ${int(r.count)} creates (\`POST accounts\`), loopback, no added latency; each client in its own process, the processes taking turns, warmed up (${int(r.warmup)} creates each for single creates, ${r.warmupBatches} batches for \`$batch\`), median of ${r.runs['client/sequential']?.length ?? 0} interleaved rounds (${r.runs[`client/batch-${r.batchSize}`]?.length ?? 0} for \`$batch\`); dop hint ${r.dopHint}`,
    '',
    '| contender and mode | wall time | creates/s | client CPU per create (µs) | vs dynamics-web-api | HTTP requests | rows created |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const row = (key: string, label: string, runs: CreateRun[], count: number, peer?: CreateRun[]) => {
    const m = median(runs.map((x) => x.ms));
    const created = runs.map((x) => x.created);
    const createdText = min(created) === max(created) ? int(created[0]) : `${int(min(created))}–${int(max(created))}`;
    const cpu = median(runs.map((x) => x.cpuUs)) / count;
    const vs = peer === undefined ? '' : ratio(m, median(peer.map((x) => x.ms)));
    lines.push(`| ${label} | ${ms(m)} | ${int((count / m) * 1000)} | ${int(cpu)} | ${vs} | ${int(median(runs.map((x) => x.requests)))} | ${createdText} of ${int(count)} |`);
  };
  const keys = Object.keys(r.runs).sort((a, b) => (a.startsWith('client') === b.startsWith('client') ? 0 : a.startsWith('client') ? -1 : 1));
  for (const key of keys) row(key, createLabel(key, r), r.runs[key], r.count, key.startsWith('client/') ? r.runs[key.replace('client/', 'dwa/')] : undefined);
  if (Object.keys(r.latencyRuns).length > 0) {
    lines.push('', `With ${r.latencyInMs} ms added to every response by the emulator (closer to a real environment), ${int(r.latencyCount)} creates, one run:`, '');
    lines.push('| contender and mode | wall time | creates/s | client CPU per create (µs) | vs dynamics-web-api | HTTP requests | rows created |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const [key, runs] of Object.entries(r.latencyRuns)) row(key, createLabel(key, r), runs, r.latencyCount);
  }
  lines.push(
    '',
    'Every `$batch` request is one change set (`atomic: true` for ours, the default of dynamics-web-api), so the server does the same work for both and the difference is each client\'s encoding, sending, decoding and matching. On loopback a create costs the emulator almost nothing, so these rows measure client CPU; on Dataverse each create takes 20–200 ms and the parts of a `$batch` run one after another on the server, so parallel single requests at the dop hint are usually fastest (api-limits.md).',
  );
  return lines.join('\n');
}

interface CodegenRun {
  ms: number;
  files: number;
  bytes: number;
  peakRssKb: number;
}

interface CodegenResult {
  metadata: string;
  metadataBytes: number;
  runs: CodegenRun[];
  skipped?: string;
}

async function benchCodegen(h: Harness, s: Sizes['codegen'], metadata: string): Promise<CodegenResult> {
  const label = path.relative(repo, metadata);
  if (!fs.existsSync(metadata)) return { metadata: label, metadataBytes: 0, runs: [], skipped: `${metadata} not found` };
  if (!fs.existsSync(path.join(repo, 'src/codegen/index.ts'))) return { metadata: label, metadataBytes: 0, runs: [], skipped: 'src/codegen/index.ts (generate) is not there yet' };
  const runs: CodegenRun[] = [];
  for (let run = 0; run < s.runs; run++) {
    const out = fs.mkdtempSync(path.join(h.scratch, 'codegen-'));
    runs.push(await runTask<CodegenRun>(h, { kind: 'codegen', metadata, out }));
    fs.rmSync(out, { recursive: true, force: true });
  }
  return { metadata: label, metadataBytes: fs.statSync(metadata).size, runs };
}

function codegenTable(r: CodegenResult): string {
  if (r.skipped) return `### Code generation\n\nSkipped: ${r.skipped}.`;
  const m = median(r.runs.map((x) => x.ms));
  return [
    `### Code generation from \`${path.basename(r.metadata)}\` (${(r.metadataBytes / 1e6).toFixed(1)} MB), own process, median of ${r.runs.length} run(s)`,
    '',
    '| generator | files | output | wall time | peak RSS |',
    '|---|---:|---:|---:|---:|',
    `| **dynamics-odata** \`generate()\` | ${int(r.runs[0].files)} | ${(r.runs[0].bytes / 1e6).toFixed(1)} MB | ${ms(m)} | ${mb(median(r.runs.map((x) => x.peakRssKb)))} |`,
    '| odata2ts 0.34 (measured once on the same kind of machine, for reference, not re-run) | — | — | crashed after 74 s | 740 MB |',
    '',
    'Goal: under 5 s and 500 MB. Type-checking the output is measured by `npm run bench:codegen`.',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

/** Versions of what was compared, read from the installed packages. */
function versions(): Record<string, string> {
  const read = (pkg: string) => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(repo, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  return {
    'dynamics-odata': (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version,
    axios: read('axios'),
    'dynamics-web-api': read('dynamics-web-api'),
    '@azure/msal-node': read('@azure/msal-node'),
  };
}

interface Results {
  date: string;
  versions: Record<string, string>;
  mode: 'full' | 'quick';
  machine: MachineInfo;
  durationMs: number;
  sections: Partial<{ overhead: OverheadResult; burst: BurstResult; paging: PagingResult; fetchxml: FetchXmlResult; creates: CreatesResult; codegen: CodegenResult; workloads: WorkloadsResult; fleet: FleetResult }>;
  errors: Partial<Record<Section, string>>;
}

/** A ratio of the targets table: the median of the per-round ratios and their range (see pairedRatio). */
interface TargetRatio {
  median: number;
  low: number;
  high: number;
}

/** One line of the targets table: what was asked, the ratio by wall time and by client CPU. */
interface TargetCheck {
  target: string;
  wall: TargetRatio | undefined;
  cpu: TargetRatio | undefined;
  /** The ratio must be at most this (or at least, for `atLeast`). */
  limit: number;
  atLeast?: boolean;
}

function targetChecks(s: Results['sections']): TargetCheck[] {
  const checks: TargetCheck[] = [];
  // Ours against theirs, round by round: the rounds are interleaved, so round i of both ran side by side.
  const paired = (ours: readonly number[] | undefined, theirs: readonly number[] | undefined): TargetRatio | undefined => {
    if (ours === undefined || theirs === undefined) return undefined;
    const r = pairedRatio(ours, theirs);
    return r.rounds > 0 ? r : undefined;
  };
  const o = s.overhead;
  if (o) {
    const w = o.runsMs;
    const c = o.cpuUs;
    checks.push({ target: '`retrieve` ≤ 1.0× dynamics-web-api', wall: paired(w.client, w.dwa), cpu: paired(c.client, c.dwa), limit: 1 });
    checks.push({ target: '`retrieve` ≤ 1.3× node `https`', wall: paired(w.client, w.https), cpu: paired(c.client, c.https), limit: 1.3 });
    checks.push({ target: '`DynamicsService.get` ≤ 1.0× dynamics-web-api', wall: paired(w.service, w.dwa), cpu: paired(c.service, c.dwa), limit: 1 });
  }
  const cr = s.creates;
  if (cr) {
    const pair = (key: string) => {
      const ours = cr.runs[`client/${key}`];
      const theirs = cr.runs[`dwa/${key}`];
      return {
        wall: paired(ours?.map((x) => x.ms), theirs?.map((x) => x.ms)),
        cpu: paired(ours?.map((x) => x.cpuUs), theirs?.map((x) => x.cpuUs)),
      };
    };
    checks.push({ target: 'sequential creates ≤ dynamics-web-api', ...pair('sequential'), limit: 1 });
    checks.push({ target: `\`$batch\` of ${int(cr.bigBatchSize)} creates ≤ dynamics-web-api`, ...pair(`batch-${cr.bigBatchSize}`), limit: 1 });
    checks.push({ target: `\`$batch\` of ${int(cr.batchSize)} × ${int(cr.count / cr.batchSize)} ≤ dynamics-web-api`, ...pair(`batch-${cr.batchSize}`), limit: 1 });
  }
  const p = s.paging;
  if (p) {
    // Rows per second, ours over node https's: the runs are interleaved (run i of every contender
    // one after another), so run i of both compares the same moment. Each run is a process of its own.
    const ms = (key: string, of: (x: PagingRun) => number): number[] | undefined => p.runs[key]?.map(of);
    checks.push({
      target: `paging ${int(p.rows)} rows ≥ 0.9× the rows/s of node \`https\``,
      wall: paired(ms('https', (x) => x.ms), ms('client', (x) => x.ms)),
      cpu: paired(ms('https', (x) => x.cpuUs), ms('client', (x) => x.cpuUs)),
      limit: 0.9,
      atLeast: true,
    });
  }
  return checks;
}

function targetsTable(s: Results['sections']): string | undefined {
  const checks = targetChecks(s);
  if (checks.length === 0) return undefined;
  const shown = (c: TargetCheck, x: TargetRatio | undefined): string => {
    if (x === undefined || !Number.isFinite(x.median)) return 'n/a';
    // Two decimals, or three when two would print the limit itself: "1.00× missed" says nothing.
    const digits = x.median !== c.limit && x.median.toFixed(2) === c.limit.toFixed(2) ? 3 : 2;
    return x.low === x.high ? `${x.median.toFixed(digits)}×` : `${x.median.toFixed(digits)}× (${x.low.toFixed(2)}–${x.high.toFixed(2)})`;
  };
  const met = (c: TargetCheck, x: TargetRatio | undefined): string => {
    if (x === undefined || !Number.isFinite(x.median)) return 'n/a';
    return (c.atLeast ? x.median >= c.limit : x.median <= c.limit) ? 'met' : '**missed**';
  };
  const lines = ['### Targets', '', '| target | by wall time | | by client CPU | |', '|---|---:|---|---:|---|'];
  for (const c of checks) lines.push(`| ${c.target} | ${shown(c, c.wall)} | ${met(c, c.wall)} | ${shown(c, c.cpu)} | ${met(c, c.cpu)} |`);
  lines.push(
    '',
    "Ratios of ours to the other contender (for paging: our rows/s over theirs): the median over the interleaved rounds of the ratio within each round, with the lowest and highest round in brackets. Wall times on a shared machine move with its load; client CPU is what each client's process spent.",
  );
  return lines.join('\n');
}

function markdown(r: Results): string {
  const parts = [
    `## Benchmarks (${r.mode}${r.mode === 'quick' ? ': tiny sizes, not meaningful' : ''})`,
    '',
    `Run ${r.date} on ${machineLine(r.machine)}; total ${ms(r.durationMs)}. Reproduce with \`npm run bench\`.`,
    `Versions: ${Object.entries(r.versions).map(([name, v]) => `${name} ${v}`).join(', ')}.`,
  ];
  const s = r.sections;
  const targets = targetsTable(s);
  if (targets !== undefined) parts.push('', targets);
  if (s.overhead) parts.push('', overheadTable(s.overhead));
  if (s.burst) parts.push('', burstTable(s.burst));
  if (s.paging) parts.push('', pagingTable(s.paging));
  if (s.fetchxml) parts.push('', fetchXmlTable(s.fetchxml));
  if (s.creates) parts.push('', createsTable(s.creates));
  if (s.codegen) parts.push('', codegenTable(s.codegen));
  if (s.workloads) parts.push('', workloadsTable(s.workloads));
  if (s.fleet) parts.push('', fleetTable(s.fleet));
  for (const [section, message] of Object.entries(r.errors)) parts.push('', `### ${section}: FAILED`, '', '```', message, '```');
  return parts.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.render !== undefined) {
    process.stdout.write(markdown(JSON.parse(fs.readFileSync(args.render, 'utf8')) as Results));
    return 0;
  }
  const sizes = args.quick ? QUICK : FULL;
  const log = (text: string) => process.stderr.write(`[bench] ${text}\n`);
  // A full run waits (up to a minute) for whatever ran before it to finish: it would be measured too.
  const busyAtStart = args.quick ? undefined : await waitForQuiet(25, 60_000, log);
  const started = performance.now();
  const machine = { ...describeMachine(), ...(busyAtStart === undefined ? {} : { busyPercentAtStart: busyAtStart }) };
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dynamics-odata-bench-'));
  const dopHint = 8;
  log(`${args.quick ? 'quick' : 'full'} run on ${machineLine(machine)}`);
  const needsRows = args.only.some((s) => s !== 'codegen' && s !== 'workloads' && s !== 'fleet');
  log(needsRows ? `starting the emulator with ${int(sizes.paging.rows)} accounts…` : 'starting the emulator…');
  // Service protection is the subject of the demo and of the fleet section only, not of the other measurements.
  const UNLIMITED = { maxRequests: 1_000_000_000, windowInMs: 300_000, maxConcurrent: 100_000 };
  const emulator = await startEmulator({ seed: needsRows ? sizes.paging.rows : 0, dopHint, serviceProtection: UNLIMITED });
  const caFile = path.join(scratch, 'emulator-ca.pem');
  fs.writeFileSync(caFile, emulator.caPem);
  const target: Target = {
    url: emulator.url,
    apiUrl: emulator.apiUrl,
    tokenUrl: emulator.tokenUrl,
    clientId: emulator.client.clientId,
    clientSecret: emulator.client.clientSecret,
    username: emulator.user.username,
    password: emulator.user.password,
    caFile,
  };
  const h: Harness = { emulator, target, scratch, sabotage: args.sabotage };
  const results: Results = { date: new Date().toISOString(), versions: versions(), mode: args.quick ? 'quick' : 'full', machine, durationMs: 0, sections: {}, errors: {} };
  try {
    for (const section of args.only) {
      log(`${section}…`);
      const t0 = performance.now();
      try {
        if (section === 'overhead') results.sections.overhead = await benchOverhead(h, sizes.overhead);
        else if (section === 'burst') results.sections.burst = await benchBurst(h, sizes.burst);
        else if (section === 'paging') results.sections.paging = await benchPaging(h, sizes.paging);
        else if (section === 'fetchxml') results.sections.fetchxml = await benchFetchXml(h, { rows: sizes.paging.rows, runs: sizes.fetchxml.runs });
        else if (section === 'creates') results.sections.creates = await benchCreates(h, sizes.creates, dopHint);
        else if (section === 'workloads') results.sections.workloads = await benchWorkloads(args.quick ? WORKLOADS_QUICK : WORKLOADS_FULL, log);
        else if (section === 'fleet') results.sections.fleet = await benchFleet(emulator, caFile, FLEET_SIZES[args.quick ? 'quick' : 'full'], UNLIMITED, log);
        else results.sections.codegen = await benchCodegen(h, sizes.codegen, args.metadata);
        log(`${section} done in ${ms(performance.now() - t0)}`);
      } catch (err) {
        results.errors[section] = err instanceof Error ? err.message : String(err);
        log(`${section} FAILED: ${results.errors[section]}`);
      }
    }
  } finally {
    await emulator.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  results.durationMs = performance.now() - started;
  const md = markdown(results);
  fs.mkdirSync(args.out, { recursive: true });
  const stamp = results.date.replace(/[:.]/g, '-');
  for (const name of [`bench-${stamp}`, 'bench']) {
    fs.writeFileSync(path.join(args.out, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(args.out, `${name}.md`), md);
  }
  process.stdout.write(md);
  log(`written to ${path.relative(process.cwd(), args.out) || '.'}/bench-${stamp}.{json,md} and bench.{json,md}`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
