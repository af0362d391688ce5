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

describe('npm run bench -- --quick', () => {
  let out: string;

  beforeAll(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  });

  afterAll(() => {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('runs every section and writes a markdown table and JSON', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--out', out], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });

    const results = JSON.parse(fs.readFileSync(path.join(out, 'bench.json'), 'utf8'));
    expect(results.mode).toBe('quick');
    expect(results.errors).toEqual({});
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);

    const { overhead, burst, paging, creates, codegen, fleet } = results.sections;
    expect(Object.keys(overhead.medianMs).sort()).toEqual(['axios', 'axios-lean', 'client', 'dwa', 'https', 'service']);
    for (const value of Object.values(overhead.medianMs)) expect(value).toBeGreaterThan(0);

    // What the burst proves does not depend on speed: one token for ours, one per call for the published flow.
    for (const run of burst.runs.client) expect([run.burstTokenRequests, run.steadyTokenRequests, run.failures]).toEqual([1, 0, 0]);
    for (const run of burst.runs.service) expect([run.burstTokenRequests, run.steadyTokenRequests, run.failures]).toEqual([1, 0, 0]);
    for (const run of burst.runs.edirect) {
      expect(run.burstTokenRequests).toBe(burst.burst);
      expect(run.steadyTokenRequests).toBe(burst.steady);
    }

    for (const contender of ['client', 'dwa', 'axios']) {
      for (const run of paging.runs[contender]) {
        expect(run.rows).toBe(paging.rows);
        expect(run.peakRssKb).toBeGreaterThan(0);
      }
    }
    // Issue 13: the FetchXML row, each contender reading every row once (the bench checks checksums).
    const { fetchxml } = results.sections;
    for (const contender of ['client', 'dwa']) {
      expect(fetchxml.runs[contender]).toHaveLength(1);
      for (const run of fetchxml.runs[contender]) expect([run.rows, run.peakRssKb > 0]).toEqual([fetchxml.rows, true]);
    }
    expect(stdout).toContain('### FetchXML');

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
    for (const heading of ['Per-request overhead', 'Token requests', 'Paging', 'creates', 'Code generation', 'Many instances']) expect(md).toContain(heading);
    expect(md).toMatch(/\| \*\*DynamicsClient\*\* `retrieve` \| [\d.]+ \| [\d,]+ \| [\d.]+× \|/);
    expect(fs.readdirSync(out).filter((f) => /^bench-.*\.(json|md)$/.test(f))).toHaveLength(2);

    // The workloads section (issue 14) checks its own work and fails rather than report a short run.
    const { workloads } = results.sections;
    expect(workloads.creates.createMultiple.wallMs.length).toBeGreaterThan(0);
    expect(workloads.sync.fullRows).toBe(workloads.sizes.sync.rows);
    expect(md).toContain('A ' + workloads.sizes.file.megabytes + ' MB file up and down');
    // Generous: every section runs in its own child processes, and a busy 2-core machine (CI runs two
    // jest workers) can take several times the ~30 s an idle one needs. Speed is the bench's business.
  }, 300_000);
});
