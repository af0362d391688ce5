/**
 * `npm run bench -- --quick`: proves the benchmark harness works end to end (emulator, a child
 * process per contender, every section, JSON and markdown written). Sizes are tiny and no timing is
 * asserted: speed is what the benchmark itself reports.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '../..');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench -- --quick', () => {
  let out: string;

  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  });

  afterAll(() => {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('runs every section and writes a markdown table and JSON', async () => {
    const { code, stdout, stderr } = await run(['--quick', '--out', out]);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });

    const results = JSON.parse(fs.readFileSync(path.join(out, 'bench.json'), 'utf8'));
    expect(results.mode).toBe('quick');
    expect(results.errors).toEqual({});
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);

    const { overhead, burst, paging, creates, codegen, fleet } = results.sections;
    expect(Object.keys(overhead.medianMs).sort()).toEqual(['axios', 'axios-lean', 'client', 'dwa', 'https', 'service']);
    for (const value of Object.values(overhead.medianMs)) expect(value).toBeGreaterThan(0);
    // Client CPU per request, from the worker's process.cpuUsage(): every contender spends some.
    expect(Object.keys(overhead.medianCpuUsPerRequest).sort()).toEqual(['axios', 'axios-lean', 'client', 'dwa', 'https', 'service']);
    for (const value of Object.values(overhead.medianCpuUsPerRequest)) expect(value).toBeGreaterThan(0);

    // What the burst proves does not depend on speed: one token for ours, one per call for the published flow.
    for (const run of burst.runs.client) expect([run.burstTokenRequests, run.steadyTokenRequests, run.failures]).toEqual([1, 0, 0]);
    for (const run of burst.runs.service) expect([run.burstTokenRequests, run.steadyTokenRequests, run.failures]).toEqual([1, 0, 0]);
    for (const run of burst.runs.edirect) {
      expect(run.burstTokenRequests).toBe(burst.burst);
      expect(run.steadyTokenRequests).toBe(burst.steady);
    }

    expect(Object.keys(paging.runs).sort()).toEqual(['axios', 'client', 'dwa', 'https']);
    for (const contender of ['https', 'client', 'dwa', 'axios']) {
      for (const run of paging.runs[contender]) {
        expect(run.rows).toBe(paging.rows);
        expect(run.peakRssKb).toBeGreaterThan(0);
        expect(run.cpuUs).toBeGreaterThan(0);
      }
    }
    // Issue 13: the FetchXML row, each contender reading every row once (the bench checks checksums).
    const { fetchxml } = results.sections;
    for (const contender of ['client', 'dwa']) {
      expect(fetchxml.runs[contender]).toHaveLength(1);
      for (const run of fetchxml.runs[contender]) expect([run.rows, run.peakRssKb > 0]).toEqual([fetchxml.rows, true]);
    }
    expect(stdout).toContain('### FetchXML');

    // Sequential, parallel, $batch of batchSize and one $batch of bigBatchSize, for both clients.
    expect(Object.keys(creates.runs).sort()).toEqual(
      ['client', 'dwa'].flatMap((c) => [`${c}/batch-${creates.batchSize}`, `${c}/batch-${creates.bigBatchSize}`, `${c}/parallel`, `${c}/sequential`]).sort(),
    );
    for (const [key, runs] of Object.entries(creates.runs) as Array<[string, Array<{ created: number; failures: number }>]>) {
      for (const run of runs) expect({ key, created: run.created, failures: run.failures }).toEqual({ key, created: creates.count, failures: 0 });
    }
    expect(codegen.skipped).toBeUndefined();
    expect(codegen.runs[0].files).toBeGreaterThan(400);

    // The fleet section ran both modes and every row came out exactly once (no speed asserted).
    expect(fleet.skipped).toBeUndefined();
    expect(fleet.runs.map((r: { mode: string }) => r.mode).sort()).toEqual(['alone', 'shared']);
    const expectedRows = fleet.sizes.workers * fleet.sizes.rowsPerWorker;
    for (const run of fleet.runs) expect([run.rows, run.distinct, run.failures]).toEqual([expectedRows, expectedRows, 0]);

    const md = fs.readFileSync(path.join(out, 'bench.md'), 'utf8');
    expect(stdout).toBe(md);
    for (const heading of ['Targets', 'Per-request overhead', 'Token requests', 'Paging', 'creates', 'Code generation', 'Many instances']) expect(md).toContain(heading);
    // median ms | µs per request | client CPU µs per request | vs https | vs dynamics-web-api | CPU vs dynamics-web-api
    expect(md).toMatch(/\| \*\*DynamicsClient\*\* `retrieve` \| [\d.]+ \| [\d,]+ \| [\d,]+ \| [\d.]+× \| [\d.]+× \| [\d.]+× \|/);
    // Every target has a ratio and a verdict, by wall time and by CPU.
    // The ratio is the median of the per-round ratios, with the lowest and highest round in brackets.
    expect(md).toMatch(/\| `retrieve` ≤ 1\.0× dynamics-web-api \| [\d.]+×(?: \([\d.]+–[\d.]+\))? \| (met|\*\*missed\*\*) \| [\d.]+×(?: \([\d.]+–[\d.]+\))? \| (met|\*\*missed\*\*) \|/);
    expect(md).not.toContain('FAILED');
    expect(fs.readdirSync(out).filter((f) => /^bench-.*\.(json|md)$/.test(f))).toHaveLength(2);

    // The workloads section (issue 14) checks its own work and fails rather than report a short run.
    const { workloads } = results.sections;
    expect(workloads.creates.createMultiple.wallMs.length).toBeGreaterThan(0);
    expect(workloads.sync.fullRows).toBe(workloads.sizes.sync.rows);
    expect(md).toContain('A ' + workloads.sizes.file.megabytes + ' MB file up and down');
    // Generous: every section runs in its own child processes, and a busy 2-core machine (CI runs two
    // jest workers) can take several times the ~30 s an idle one needs. Speed is the bench's business.
  }, 300_000);

  it('reports a section whose contender fails as FAILED, without its rows, and exits non-zero', async () => {
    const failed = path.join(out, 'sabotaged');
    const { code, stdout } = await run(['--quick', '--only', 'overhead,creates', '--sabotage', 'dwa', '--out', failed]);
    expect(code).toBe(1);
    const results = JSON.parse(fs.readFileSync(path.join(failed, 'bench.json'), 'utf8'));
    expect(Object.keys(results.sections)).toEqual([]);
    expect(results.errors.overhead).toMatch(/dwa/);
    expect(results.errors.creates).toMatch(/dwa\/sequential: \d+ failed/);
    expect(stdout).toContain('### overhead: FAILED');
    expect(stdout).toContain('### creates: FAILED');
    // No table, hence no row of the contender that failed and no target computed from it.
    expect(stdout).not.toContain('dynamics-web-api `retrieve`');
    expect(stdout).not.toContain('### Targets');
  }, 240_000);
});
