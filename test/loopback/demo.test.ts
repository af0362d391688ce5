/**
 * `npm run demo`: the whole tour as a user runs it (a child process through tsx, no configuration),
 * the read-only `--url` tour against an emulator standing in for a real environment, and the errors a
 * user can make. The typed models the tour compiles against (src/cli/demo/models) are written by
 * `npm run generate`; test/codegen/generated-up-to-date.test.ts keeps them current.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../src/cli/demo';
import type { DemoIO } from '../../src/cli/demo/output';
import { createProgressBar } from '../../src/cli/demo/progress';
import { EMULATOR_DEFAULTS, startEmulator, type Emulator } from '../../src/emulator';

const repo = path.resolve(__dirname, '../..');

function capture(): DemoIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (t: string) => (out += t), isTTY: false },
    stderr: { write: (t: string) => (err += t), isTTY: false },
    env: {},
    out: () => out,
    err: () => err,
  };
}

function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo (emulator tour)', () => {
  it('runs every step against its own emulator and exits 0', async () => {
    const { code, stdout, stderr } = await runScript(['--rows', '3000']);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/Emulator\s+https:\/\/127\.0\.0\.1:\d+ · 3,000 accounts, 3,000 contacts/);
    expect(stdout).toContain('identical to the committed generated/');
    expect(stdout).toMatch(/dynamics\.get\('api\/data\/v9\.2\/WhoAmI'\)\s+→\s+UserId [0-9a-f-]{36}/);
    // The typed list found O'Brien rows in München, each with its account expanded.
    const listed = stdout.split('\n').filter((l) => /O'Brien\s+.+\s+München\s+\S/.test(l));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((l) => !l.includes('(no account)'))).toBe(true);
    expect(stdout).toContain('3,000 distinct ids of 3,000 in the table: no row lost, none repeated');
    expect(stdout).toContain('change set → 204 204');
    expect(stdout).toContain('linked through $1');
    expect(stdout).toContain('records kept: 0, rolled back');
    expect(stdout).toMatch(/PreconditionFailedError \(HTTP 412/);
    expect(stdout).toContain('(unchanged)');
    expect(stdout).toMatch(/[1-9]\d* responses were 429/);
    expect(stdout).toContain('120 of 120 creates succeeded');
    expect(stdout).toContain('0 lost, 0 duplicated');
    expect(stdout).toMatch(/✓ 6 steps in/);
    // The progress bar went to stderr, as plain lines since stderr is not a terminal.
    expect(stderr).toMatch(/accounts .* 100% 3,000\/3,000/);
    expect(stderr).not.toContain('\x1b[');
    // The variables are named, but neither the client secret nor the password is printed.
    expect(stdout).toContain('DYNAMICS_CLIENT_SECRET');
    expect(stdout + stderr).not.toContain(EMULATOR_DEFAULTS.client.clientSecret);
    expect(stdout + stderr).not.toContain(EMULATOR_DEFAULTS.user.password);
  });
});

describe('dynamics-odata demo --url (read-only tour)', () => {
  let emulator: Emulator;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    emulator = await startEmulator({ seed: 600 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-url-'));
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, emulator.caPem);
    env = emulator.env(caFile);
  });

  afterAll(async () => {
    await emulator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads through the service, a typed list and paging, and writes nothing', async () => {
    emulator.resetCounters();
    const io = { ...capture(), env };
    const code = await run(['--url', emulator.url, '--max-rows', '450'], io);
    expect({ code, err: code === 0 ? '' : io.err() }).toEqual({ code: 0, err: '' });
    const out = io.out();
    expect(out).toContain(`the read-only tour against ${emulator.url}`);
    expect(out).toMatch(/Signed in\s+WhoAmI → UserId [0-9a-f-]{36}/);
    expect(out).toMatch(/dynamics\.get\('api\/data\/v9\.2\/accounts'.*→ .+ · .+ · .+/);
    // Pages of 1000: the first page holds all 600 rows, more than --max-rows, so paging stops there.
    expect(out).toContain('600 rows in 1 pages');
    expect(out).toContain('(stopped at --max-rows 450)');
    expect(out).toMatch(/✓ 3 steps in/);
    const writes = Object.keys(emulator.counters.apiRequests).filter((route) => !route.startsWith('GET '));
    expect(writes).toEqual([]);
    expect(emulator.counters.tokenRequestsTotal).toBe(2); // the typed client (password grant) and the drop-in service
  });

  it('pages through everything when --max-rows allows it', async () => {
    const io = { ...capture(), env };
    expect(await run(['--url', emulator.url], io)).toBe(0);
    expect(io.out()).toContain('600 distinct ids: none repeated');
  });

  it('names the missing variables, without printing any value', async () => {
    const io = { ...capture(), env: { DYNAMICS_CLIENT_SECRET: 'hunter2-secret-value' } };
    expect(await run(['--url', emulator.url], io)).toBe(2);
    expect(io.err()).toMatch(/DYNAMICS_CLIENT_ID|AZURE_CLIENT_ID/);
    expect(io.err()).toMatch(/DYNAMICS_TOKEN_URL|AZURE_TENANT_ID/);
    expect(io.err() + io.out()).not.toContain('hunter2-secret-value');
  });
});

describe('dynamics-odata demo: command line', () => {
  it.each([
    [['--rows', 'many'], /--rows must be an integer/],
    [['--url', 'http://contoso.crm.dynamics.com'], /--url must be an https URL/],
    [['--url', 'not a url'], /--url must be an environment URL/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const io = capture();
    expect(await run(argv, io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).toContain('usage: dynamics-odata demo');
  });

  it('--help prints the usage and exits 0', async () => {
    const io = capture();
    expect(await run(['--help'], io)).toBe(0);
    expect(io.out()).toContain('--url URL');
  });
});

describe('the progress bar', () => {
  it('redraws one line on a terminal and ends it with a newline', () => {
    let text = '';
    const bar = createProgressBar({ write: (t: string) => (text += t), isTTY: true, columns: 80 }, 'rows', 200);
    bar.update(100);
    bar.done();
    expect(text.startsWith('\r\x1b[2K')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toMatch(/rows █+░* +50% 100\/200/);
  });

  it('prints a few plain lines elsewhere, and a running count when the total is unknown', () => {
    let text = '';
    const bar = createProgressBar({ write: (t: string) => (text += t) }, 'rows', 1000);
    for (let i = 1; i <= 1000; i++) bar.update(i);
    bar.done();
    expect(text).not.toContain('\x1b');
    expect(text.trim().split('\n')).toHaveLength(5); // 0 %, 25 %, 50 %, 75 % and the end
    let open = '';
    const unknown = createProgressBar({ write: (t: string) => (open += t) }, 'rows');
    unknown.update(12345);
    unknown.done();
    expect(open).toMatch(/^ {2}rows 12,345 rows · [\d.]+ s\n$/);
  });
});
