/**
 * Reading a V8 CPU profile (`node --cpu-prof`) for `npm run profile`: self time per function inside a
 * time window, grouped by who owns the code (this library, axios, node's own JavaScript, V8 natives,
 * the garbage collector), as markdown tables.
 *
 * Format: https://chromedevtools.github.io/devtools-protocol/tot/Profiler/#type-Profile (nodes with a
 * callFrame; `samples[i]` is the node on top of the stack at sample i, `timeDeltas[i]` the µs since
 * the previous sample). `startTime`/`endTime` are on the same monotonic clock as
 * `process.hrtime.bigint()`, so a worker can report the window it measured in that clock.
 */
import * as path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Who a function belongs to. */
export type Owner = 'ours' | 'peer' | 'axios' | 'node' | 'native' | 'gc' | 'msal' | 'harness' | 'other';

export const OWNER_LABELS: Record<Owner, string> = {
  ours: 'dynamics-odata (dist/)',
  peer: 'dynamics-web-api (the peer, in its scenarios)',
  axios: 'axios',
  node: "node's own JavaScript (node:http, _http_*, streams, tls, timers)",
  native: 'V8 and native code ((program), JSON.parse, regexps, builtins)',
  gc: 'garbage collector',
  msal: '@azure/msal-node',
  harness: 'the profiling loop itself (scripts/)',
  other: 'other packages',
};

export interface FunctionCost {
  name: string;
  where: string;
  owner: Owner;
  selfUs: number;
}

export interface ProfileSummary {
  /** µs of samples in the window that were not idle. */
  busyUs: number;
  byOwner: Record<Owner, number>;
  functions: FunctionCost[];
}

function ownerOf(frame: CallFrame, repo: string): Owner {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    return 'native';
  }
  if (url.startsWith('node:')) return 'node';
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  if (file.includes(`${path.sep}node_modules${path.sep}`)) {
    if (file.includes(`${path.sep}node_modules${path.sep}axios${path.sep}`)) return 'axios';
    if (file.includes(`${path.sep}@azure${path.sep}msal-`)) return 'msal';
    if (file.includes(`${path.sep}node_modules${path.sep}dynamics-web-api${path.sep}`)) return 'peer';
    return 'other';
  }
  if (file.startsWith(path.join(repo, 'dist') + path.sep) || file.startsWith(path.join(repo, 'src') + path.sep)) return 'ours';
  if (file.startsWith(path.join(repo, 'scripts') + path.sep)) return 'harness';
  return 'other';
}

function whereOf(frame: CallFrame, repo: string): string {
  if (frame.url === '') return '';
  const file = frame.url.startsWith('file://') ? decodeURIComponent(new URL(frame.url).pathname) : frame.url;
  const shown = file.startsWith(repo + path.sep) ? path.relative(repo, file) : file.replace(/^.*node_modules[\\/]/, '');
  return `${shown}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function for the samples between `fromUs` and `toUs` (profile clock, µs); the whole
 * profile when they are undefined. `(idle)` samples are left out: they are time spent waiting.
 *
 * A sample is charged the time since the previous one, but at most `maxChargeUs`: on a loaded machine
 * the process is descheduled for tens of milliseconds at a time, and the next sample (usually a
 * socket write, where the process yields to the kernel) would otherwise take all of that waiting for
 * CPU time it spent.
 */
export function summarize(profile: CpuProfile, repo: string, fromUs?: number, toUs?: number, maxChargeUs = Infinity): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (fromUs !== undefined && t < fromUs) continue;
    if (toUs !== undefined && t > toUs) break;
    // The delta is the time since the previous sample: it is billed to the function on top now.
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + Math.min(delta, maxChargeUs));
  }
  const costs = new Map<string, FunctionCost>();
  const byOwner = { ours: 0, peer: 0, axios: 0, node: 0, native: 0, gc: 0, msal: 0, harness: 0, other: 0 } as Record<Owner, number>;
  let busyUs = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === '(idle)') continue;
    const owner = ownerOf(frame, repo);
    const where = whereOf(frame, repo);
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\u0000${where}\u0000${frame.columnNumber}`;
    const cost = costs.get(key) ?? { name, where, owner, selfUs: 0 };
    cost.selfUs += us;
    costs.set(key, cost);
    byOwner[owner] += us;
    busyUs += us;
  }
  const functions = [...costs.values()].sort((a, b) => b.selfUs - a.selfUs);
  return { busyUs, byOwner, functions };
}

const pct = (part: number, whole: number): string => (whole > 0 ? `${((part / whole) * 100).toFixed(1)} %` : 'n/a');
const msText = (us: number): string => (us / 1000).toFixed(1);

/**
 * Markdown: the share of each owner, then the `top` functions of this library by self time, each
 * with its cost per call (`calls` operations in the window).
 */
export function summaryTables(summary: ProfileSummary, calls: number, top: number, of: 'ours' | 'peer' = 'ours'): string {
  const lines = ['| code | self time (ms) | share of busy CPU | µs per call |', '|---|---:|---:|---:|'];
  for (const owner of Object.keys(OWNER_LABELS) as Owner[]) {
    const us = summary.byOwner[owner];
    if (us === 0) continue;
    lines.push(`| ${OWNER_LABELS[owner]} | ${msText(us)} | ${pct(us, summary.busyUs)} | ${(us / calls).toFixed(1)} |`);
  }
  lines.push(`| **all (busy, not idle)** | **${msText(summary.busyUs)}** | 100 % | **${(summary.busyUs / calls).toFixed(1)}** |`);
  lines.push('', `Top ${top} functions of ${of === 'ours' ? 'dynamics-odata' : 'dynamics-web-api'} by self time:`, '', '| # | function | where | self (ms) | share of busy CPU | µs per call |', '|---:|---|---|---:|---:|---:|');
  const ours = summary.functions.filter((f) => f.owner === of).slice(0, top);
  ours.forEach((f, i) => lines.push(`| ${i + 1} | \`${f.name}\` | ${f.where} | ${msText(f.selfUs)} | ${pct(f.selfUs, summary.busyUs)} | ${(f.selfUs / calls).toFixed(2)} |`));
  if (ours.length === 0) lines.push(`| – | (no samples in ${of === 'ours' ? 'our' : "the peer's"} code) | | | | |`);
  return lines.join('\n');
}

/** The `top` functions of any owner, for reading what axios and node cost (printed with `--all`). */
export function allFunctionsTable(summary: ProfileSummary, calls: number, top: number): string {
  const lines = ['| # | function | owner | where | self (ms) | share of busy CPU | µs per call |', '|---:|---|---|---|---:|---:|---:|'];
  summary.functions
    .slice(0, top)
    .forEach((f, i) => lines.push(`| ${i + 1} | \`${f.name}\` | ${f.owner} | ${f.where} | ${msText(f.selfUs)} | ${pct(f.selfUs, summary.busyUs)} | ${(f.selfUs / calls).toFixed(2)} |`));
  return lines.join('\n');
}
