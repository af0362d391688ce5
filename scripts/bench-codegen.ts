/**
 * `npm run bench:codegen`: the code generator on the real 4.2 MB `$metadata` (423 entity types)
 * and on a document 5× larger (entity types and entity sets cloned under new names).
 *
 * For each document, in separate processes so peak memory is per step:
 * - full generation (`generate()`: read, model, emit, write): wall time and peak RSS;
 * - `tsc --noEmit` over the whole output (strict): wall time and peak RSS;
 * - `tsc --noEmit` over a file importing 3 entities: wall time and files loaded.
 * Prints a markdown table and the JSON. Bars (issue 6): generation < 5 s and < 500 MB; full
 * tsc < 60 s; 3-entity usage < 5 s; growth linear in the document size.
 *
 *   npm run bench:codegen [-- --runs 3] [-- --doc <file>]
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repoRoot = path.resolve(__dirname, '..');
const defaultDoc = path.resolve(repoRoot, '../shared/fixtures/real/metadata-v9.0-onprem-bcgov-lcrb.xml');
const TSC = path.join(repoRoot, 'node_modules/typescript/bin/tsc');

interface ChildResult {
  wallMs: number;
  stdout: string;
  stderr: string;
  maxRssMb: number;
}

/** Runs node with a preload that reports the child's peak RSS on exit. */
function runNode(args: string[], hookDir: string): Promise<ChildResult> {
  const hook = path.join(hookDir, 'rss-hook.cjs');
  if (!fs.existsSync(hook)) fs.writeFileSync(hook, "process.on('exit', () => process.stderr.write('\\nBENCH_MAXRSS_KB ' + process.resourceUsage().maxRSS + '\\n'));\n");
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-r', hook, ...args], { maxBuffer: 256 * 1024 * 1024, cwd: repoRoot }, (err, stdout, stderr) => {
      const wallMs = performance.now() - start;
      const rss = Number(/BENCH_MAXRSS_KB (\d+)/.exec(stderr)?.[1] ?? 0) / 1024;
      if (err && !/error TS/.test(stdout)) reject(new Error(`${args.join(' ')} failed: ${stderr || stdout}`));
      else resolve({ wallMs, stdout, stderr, maxRssMb: rss });
    });
  });
}

/** Clone every entity type and entity set `factor - 1` times under `<name>_cN`. */
export function synthesize(xml: string, factor: number): string {
  const entityTypes = xml.match(/<EntityType\b[^>]*?(?:\/>|>[\s\S]*?<\/EntityType>)/g) ?? [];
  const entitySets = xml.match(/<EntitySet\b[^>]*?(?:\/>|>[\s\S]*?<\/EntitySet>)/g) ?? [];
  const typeClones: string[] = [];
  const setClones: string[] = [];
  for (let i = 1; i < factor; i++) {
    for (const t of entityTypes) typeClones.push(t.replace(/^<EntityType Name="([^"]+)"/, `<EntityType Name="$1_c${i}"`));
    for (const s of entitySets) setClones.push(s.replace(/^<EntitySet Name="([^"]+)" EntityType="([^"]+)"/, `<EntitySet Name="$1_c${i}" EntityType="$2_c${i}"`));
  }
  const containerAt = xml.indexOf('<EntityContainer');
  const withTypes = xml.slice(0, containerAt) + typeClones.join('') + xml.slice(containerAt);
  const endAt = withTypes.lastIndexOf('</EntityContainer>');
  return withTypes.slice(0, endAt) + setClones.join('') + withTypes.slice(endAt);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  document: string;
  sizeMb: number;
  entityTypes: number;
  generateWallS: number;
  generateInProcessS: number;
  generatePeakRssMb: number;
  files: number;
  outputMb: number;
  tscFullWallS: number;
  tscFullPeakRssMb: number;
  tscUsage3WallS: number;
  tscUsage3Files: number;
  tscUsage3GeneratedFiles: number;
}

async function benchDocument(label: string, xmlFile: string, runs: number, work: string): Promise<Row> {
  const out = path.join(work, `out-${label.replace(/[^a-z0-9]+/gi, '-')}`);
  const gen: ChildResult[] = [];
  let inProcess: number[] = [];
  let entityTypes = 0;
  for (let r = 0; r < runs; r++) {
    fs.rmSync(out, { recursive: true, force: true });
    // `--import tsx` keeps the worker in this one process (the tsx CLI would spawn another), so its peak RSS is the generator's.
    const res = await runNode(['--import', 'tsx', __filename, '--worker', xmlFile, out], work);
    gen.push(res);
    const report = JSON.parse(/BENCH_RESULT (.*)/.exec(res.stdout)?.[1] ?? '{}') as { ms: number; entityTypes: number };
    inProcess.push(report.ms);
    entityTypes = report.entityTypes;
  }
  inProcess = inProcess.map((ms) => ms / 1000);
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.ts'));
  const outputBytes = files.reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0);

  const tsconfig = (include: object): string => {
    const p = path.join(work, `tsconfig-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(
      p,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'Node16',
          moduleResolution: 'Node16',
          skipLibCheck: true,
          types: [],
          baseUrl: repoRoot,
          paths: { zod: [path.join(repoRoot, 'node_modules/zod')] },
        },
        ...include,
      }),
    );
    return p;
  };
  const full: ChildResult[] = [];
  for (let r = 0; r < runs; r++) full.push(await runNode([TSC, '-p', tsconfig({ include: [`${out}/*.ts`] })], work));
  if (/error TS/.test(full[0]!.stdout)) throw new Error(`generated output of ${label} does not compile:\n${full[0]!.stdout.slice(0, 2000)}`);

  const usage = path.join(out, 'usage3.ts');
  fs.writeFileSync(
    usage,
    "import type { AccountCreate } from './account';\nimport { ContactSchema } from './contact';\nimport { systemuserMeta } from './systemuser';\n" +
      "const input: AccountCreate = { name: 'Contoso' };\nexport const used = [input, ContactSchema, systemuserMeta.entitySet];\n",
  );
  const usageRuns: ChildResult[] = [];
  for (let r = 0; r < runs; r++) usageRuns.push(await runNode([TSC, '-p', tsconfig({ files: [usage] }), '--listFiles'], work));
  const listed = usageRuns[0]!.stdout.split('\n').map((l) => l.trim()).filter((l) => l.endsWith('.ts'));
  fs.rmSync(usage);

  return {
    document: label,
    sizeMb: fs.statSync(xmlFile).size / 1e6,
    entityTypes,
    generateWallS: median(gen.map((g) => g.wallMs)) / 1000,
    generateInProcessS: median(inProcess),
    generatePeakRssMb: Math.max(...gen.map((g) => g.maxRssMb)),
    files: files.length,
    outputMb: outputBytes / 1e6,
    tscFullWallS: median(full.map((f) => f.wallMs)) / 1000,
    tscFullPeakRssMb: Math.max(...full.map((f) => f.maxRssMb)),
    tscUsage3WallS: median(usageRuns.map((u) => u.wallMs)) / 1000,
    tscUsage3Files: listed.length,
    tscUsage3GeneratedFiles: listed.filter((f) => path.dirname(path.resolve(f)) === path.resolve(out)).length - 1,
  };
}

async function worker(xmlFile: string, out: string): Promise<void> {
  const start = performance.now();
  const { generate } = await import('../src/codegen');
  const result = await generate({ metadata: xmlFile, out, sourceLabel: path.basename(xmlFile) });
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ ms: performance.now() - start, entityTypes: result.entityTypes })}\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') return worker(argv[1]!, argv[2]!);
  const runsAt = argv.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 1;
  const docAt = argv.indexOf('--doc');
  const doc = docAt >= 0 ? path.resolve(argv[docAt + 1]!) : defaultDoc;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-codegen-'));
  try {
    const xml = fs.readFileSync(doc, 'utf8');
    const big = path.join(work, 'synthesized-5x.xml');
    fs.writeFileSync(big, synthesize(xml, 5));
    process.stderr.write(`bench:codegen on ${os.cpus().length} CPUs, node ${process.version}, ${runs} run(s) per step (median wall, max RSS)\n`);
    const rows: Row[] = [];
    for (const [label, file] of [
      [path.basename(doc), doc],
      ['synthesized 5x', big],
    ] as const) {
      process.stderr.write(`  ${label}...\n`);
      rows.push(await benchDocument(label, file, runs, work));
    }
    const f = (n: number, d = 2): string => n.toFixed(d);
    const lines = [
      '| document | MB | entity types | generate wall s (process / in-process) | generate peak RSS MB | files | output MB | tsc full s | tsc full peak RSS MB | tsc 3-entity usage s | files loaded (generated) |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.document} | ${f(r.sizeMb, 1)} | ${r.entityTypes} | ${f(r.generateWallS)} / ${f(r.generateInProcessS)} | ${f(r.generatePeakRssMb, 0)} | ${r.files} | ${f(r.outputMb, 1)} | ${f(r.tscFullWallS)} | ${f(r.tscFullPeakRssMb, 0)} | ${f(r.tscUsage3WallS)} | ${r.tscUsage3Files} (${r.tscUsage3GeneratedFiles}) |`,
      ),
    ];
    const [a, b] = rows;
    if (a && b) {
      lines.push('', `Growth for ${f(b.sizeMb / a.sizeMb, 1)}× the input: generation ${f(b.generateInProcessS / a.generateInProcessS, 1)}×, tsc full ${f(b.tscFullWallS / a.tscFullWallS, 1)}×, 3-entity usage ${f(b.tscUsage3WallS / a.tscUsage3WallS, 1)}×.`);
    }
    process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify({ cpus: os.cpus().length, node: process.version, runs, rows }, null, 2)}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
