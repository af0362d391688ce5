/**
 * `npm run profile [-- --only retrieve,service,create,batch,paging,dwa-retrieve,dwa-create,dwa-batch] [--top 15] [--scale 1] [--batch-size 100] [--all 0] [--keep DIR] [--out FILE]`
 *
 * Where the client's CPU goes, per request. Each scenario runs in its own process under the V8
 * profiler (`node --cpu-prof`) against the emulator, which runs here so that its CPU is not in the
 * profile: `retrieve` (DynamicsClient, 8 in flight), `service` (DynamicsService.get, 8 in flight),
 * `create` (sequential creates), `batch` (`$batch` of 100 creates: encode, send, decode, match),
 * `paging` (`list()` over pages of 5,000); and, asked for by name, the peer's `dwa-retrieve`, `dwa-create`
 * and `dwa-batch` (dynamics-web-api doing the same), to compare like with like. For each, it prints the client's CPU per call
 * (`process.cpuUsage()`), the share of the busy CPU by owner (our code, axios, node's own
 * JavaScript, V8 natives, GC) and the top self-time functions of our code, as markdown.
 *
 * The library runs from `dist/` (what users install); `npm run profile` builds first.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator } from './bench/emulator';
import { allFunctionsTable, summarize, summaryTables, type CpuProfile } from './bench/cpuprofile';
import { fromDist, type Target } from './bench/library';
import { describeMachine, machineLine } from './bench/machine';
import type { ProfileMessage, ProfileResult, ProfileScenario, ProfileTask } from './bench/profile-worker';

const repo = path.resolve(__dirname, '..');
const SCENARIOS: readonly ProfileScenario[] = ['retrieve', 'service', 'create', 'batch', 'paging', 'dwa-retrieve', 'dwa-create', 'dwa-batch'];
/** What runs without `--only`: our scenarios; the peer's are asked for by name. */
const DEFAULT_SCENARIOS: readonly ProfileScenario[] = ['retrieve', 'service', 'create', 'batch', 'paging'];
/** µs between two samples of the V8 profiler. */
const SAMPLING_INTERVAL_US = 100;

const DESCRIPTIONS: Record<ProfileScenario, (task: ProfileTask) => string> = {
  retrieve: (t) => `DynamicsClient \`retrieve('accounts', id, { select: ['name'] })\`, ${t.calls.toLocaleString('en-US')} calls, ${t.concurrency} in flight`,
  service: (t) => `DynamicsService \`get(url)\`, ${t.calls.toLocaleString('en-US')} calls, ${t.concurrency} in flight`,
  create: (t) => `DynamicsClient \`create('accounts', record)\`, ${t.calls.toLocaleString('en-US')} calls one after another`,
  batch: (t) => `DynamicsClient \`batch()\` of ${t.batchSize} creates, ${t.calls.toLocaleString('en-US')} creates (encode, send, decode, match); per call = per create`,
  paging: (t) => `DynamicsClient \`list()\`, ${t.calls.toLocaleString('en-US')} rows in pages of ${t.maxPageSize.toLocaleString('en-US')} (6 columns); per call = per row`,
  'dwa-retrieve': (t) => `the peer, dynamics-web-api \`retrieve()\`, ${t.calls.toLocaleString('en-US')} calls, ${t.concurrency} in flight (a fixed token)`,
  'dwa-create': (t) => `the peer, dynamics-web-api \`create()\`, ${t.calls.toLocaleString('en-US')} calls one after another (a fixed token)`,
  'dwa-batch': (t) => `the peer, dynamics-web-api \`executeBatch()\` of ${t.batchSize} creates in one change set, ${t.calls.toLocaleString('en-US')} creates; per call = per create`,
};

interface Args {
  only: ProfileScenario[];
  top: number;
  all: number;
  scale: number;
  batchSize: number;
  keep?: string;
  out?: string;
}

function usage(): string {
  return [
    'usage: npm run profile -- [--only retrieve,service,create,batch,paging,dwa-retrieve,dwa-create,dwa-batch] [--top N] [--all N] [--scale X] [--batch-size N] [--keep DIR] [--out FILE]',
    '',
    '  --only    scenarios to profile (comma-separated; default: ours, without the dwa-* ones of the peer)',
    '  --top     functions of our code to list per scenario (default 15)',
    '  --all     also list the top N functions of any owner (axios, node, natives; default 0)',
    '  --scale   multiply the number of calls (default 1; 0.1 for a quick look)',
    '  --batch-size  operations per $batch in the batch scenarios (default 100; up to 1000)',
    '  --keep    keep the .cpuprofile files in DIR (open them in Chrome DevTools or speedscope)',
    '  --out     also write the markdown to FILE',
  ].join('\n');
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: [...DEFAULT_SCENARIOS], top: 15, all: 0, scale: 1, batchSize: 100 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value\n\n${usage()}`);
      return v;
    };
    const positive = (name: string, v: string, integer: boolean): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new Error(`${name}: expected a ${integer ? 'whole ' : ''}number ≥ 0, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === '--only') {
      const list = value().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
      if (bad.length > 0 || list.length === 0) throw new Error(`--only: unknown scenario(s) ${bad.join(', ') || '(none given)'}; expected some of ${SCENARIOS.join(', ')}`);
      args.only = list as ProfileScenario[];
    } else if (a === '--top') args.top = positive('--top', value(), true);
    else if (a === '--all') args.all = positive('--all', value(), true);
    else if (a === '--scale') {
      args.scale = positive('--scale', value(), false);
      if (args.scale === 0) throw new Error('--scale: expected a number > 0');
    } else if (a === '--batch-size') {
      args.batchSize = positive('--batch-size', value(), true);
      if (args.batchSize < 1 || args.batchSize > 1000) throw new Error('--batch-size: expected 1 to 1000 (the most operations a $batch may carry)');
    } else if (a === '--keep') args.keep = path.resolve(value());
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n\n${usage()}`);
  }
  return args;
}

/** Runs one scenario under `--cpu-prof`; resolves with its result and the profile it wrote. */
function profileOne(task: ProfileTask, dir: string, caFile: string): Promise<{ result: ProfileResult; profile: CpuProfile }> {
  fs.mkdirSync(dir, { recursive: true });
  const taskFile = path.join(dir, 'task.json');
  fs.writeFileSync(taskFile, JSON.stringify(task));
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'bench', 'profile-worker.ts'), [taskFile], {
      cwd: repo,
      // 100 µs between samples: a request costs a few hundred µs, the default 1 ms would see little of it.
      execArgv: ['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(SAMPLING_INTERVAL_US)],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ProfileResult | undefined;
    let failure: string | undefined;
    child.on('message', (m: ProfileMessage) => {
      if (m.type === 'result') result = m.result;
      else failure = m.message;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (failure !== undefined) return reject(new Error(`${task.scenario}: the worker failed:\n${failure}`));
      if (result === undefined || code !== 0) return reject(new Error(`${task.scenario}: the worker exited with code ${code} without a result`));
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's module
      // loader runs in a worker thread, which writes a profile of its own).
      const file = fs.readdirSync(dir).find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
      if (file === undefined) return reject(new Error(`${task.scenario}: no .cpuprofile was written in ${dir}`));
      resolve({ result, profile: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile });
    });
  });
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const log = (text: string): void => void process.stderr.write(`[profile] ${text}\n`);
  if (!fromDist) log('dist/ is missing: profiling the TypeScript sources through tsx (run `npm run build` for the numbers users get)');
  const machine = describeMachine();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dynamics-odata-profile-'));
  const seed = 20_000;
  log(`starting the emulator with ${seed.toLocaleString('en-US')} accounts…`);
  const emulator = await startEmulator({ seed, dopHint: 8, serviceProtection: { maxRequests: 1_000_000_000, maxConcurrent: 100_000 } });
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
  const ids = emulator.store
    .rows('accounts')
    .slice(0, 400)
    .map((r) => String(r.accountid));
  const scaled = (n: number, step = 1): number => Math.max(step, Math.round((n * args.scale) / step) * step);
  const calls: Record<ProfileScenario, number> = {
    retrieve: scaled(6000),
    service: scaled(6000),
    create: scaled(3000),
    batch: scaled(50 * args.batchSize, args.batchSize),
    paging: scaled(100_000, 5000),
    'dwa-retrieve': scaled(6000),
    'dwa-create': scaled(3000),
    'dwa-batch': scaled(50 * args.batchSize, args.batchSize),
  };
  const parts = [
    `## Profile: client CPU per call (\`npm run profile\`)`,
    '',
    `Run ${new Date().toISOString()} on ${machineLine(machine)}; library from ${fromDist ? '`dist/`' : '`src/` through tsx'}; V8 sampling every ${SAMPLING_INTERVAL_US} µs, each sample charged at most ${3 * SAMPLING_INTERVAL_US} µs (time spent descheduled on a loaded machine is not CPU); the emulator runs in another process.`,
  ];
  let failed = false;
  try {
    for (const scenario of args.only) {
      const task: ProfileTask = { scenario, target, ids, calls: calls[scenario], concurrency: 8, batchSize: args.batchSize, maxPageSize: 5000 };
      log(`${scenario}…`);
      try {
        const dir = args.keep !== undefined ? path.join(args.keep, scenario) : path.join(scratch, scenario);
        if (args.keep !== undefined) fs.rmSync(dir, { recursive: true, force: true });
        const { result, profile } = await profileOne(task, dir, caFile);
        if (result.failures > 0) throw new Error(`${scenario}: ${result.failures} of ${result.calls} calls failed; a profile of failures is not the one asked for`);
        // At most three sampling intervals per sample (see summarize): waiting to be scheduled is not CPU.
        const summary = summarize(profile, repo, result.fromUs, result.toUs, 3 * SAMPLING_INTERVAL_US);
        parts.push(
          '',
          `### ${scenario}: ${DESCRIPTIONS[scenario](task)}`,
          '',
          `Client process CPU (user + system): **${(result.cpuUs / result.calls).toFixed(1)} µs per call** (${(result.cpuUs / 1000).toFixed(0)} ms for ${result.calls.toLocaleString('en-US')}); wall ${result.wallMs.toFixed(0)} ms. Busy samples in the window: ${(summary.busyUs / 1000).toFixed(0)} ms.`,
          '',
          summaryTables(summary, result.calls, args.top, scenario.startsWith('dwa-') ? 'peer' : 'ours'),
        );
        if (args.all > 0) parts.push('', `Top ${args.all} functions of any owner:`, '', allFunctionsTable(summary, result.calls, args.all));
      } catch (error) {
        failed = true;
        parts.push('', `### ${scenario}: FAILED`, '', '```', error instanceof Error ? error.message : String(error), '```');
        log(`${scenario} FAILED`);
      }
    }
  } finally {
    await emulator.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const md = parts.join('\n') + '\n';
  process.stdout.write(md);
  if (args.out !== undefined) {
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, md);
  }
  if (args.keep !== undefined) log(`profiles kept in ${args.keep}/<scenario>/`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`profile: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
