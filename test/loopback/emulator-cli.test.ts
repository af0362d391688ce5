/**
 * `dynamics-odata emulator` as a user runs it (`npm run emulator` = tsx scripts/emulator.ts): prints
 * the DYNAMICS_* variables, writes the CA, serves a token request, and stops cleanly on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamicsService } from '../../src/compat';
import { httpsRequest } from '../helpers/emulator';

const repo = resolve(__dirname, '../..');
const script = join(repo, 'scripts/emulator.ts');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(args: string[]): Run {
  // `node --import tsx` is what `tsx` does, without npx's extra process between us and the signal.
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Waits until the child has printed DYNAMICS_ENABLED (the last variable) or exited. */
async function variables(run: Run): Promise<Record<string, string>> {
  await new Promise<void>((res, rej) => {
    const check = (): void => {
      if (/^DYNAMICS_ENABLED=.*\n/m.test(run.stdout())) res();
    };
    run.child.stdout?.on('data', check);
    void run.exit.then(() => rej(new Error(`emulator exited early: ${run.stderr()}`)));
    check();
  });
  return Object.fromEntries(
    run
      .stdout()
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

let dir: string;
const running: Run[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'emulator-cli-'));
});

afterAll(() => {
  for (const run of running) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('prints the variables, serves a v1 token request with them, and stops on SIGTERM', async () => {
  const caFile = join(dir, 'nested', 'ca.pem');
  const run = launch(['--port', '0', '--ca-file', caFile]);
  running.push(run);
  const vars = await variables(run);
  expect(Object.keys(vars)).toEqual([
    'DYNAMICS_TOKEN_URL',
    'DYNAMICS_CLIENT_ID',
    'DYNAMICS_CLIENT_SECRET',
    'DYNAMICS_USER_NAME',
    'DYNAMICS_PASSWORD',
    'DYNAMICS_RESOURCE',
    'DYNAMICS_CA_FILE',
    'DYNAMICS_ENABLED',
  ]);
  // Exactly `true`: the drop-in DynamicsService is disabled by anything else.
  expect(vars.DYNAMICS_ENABLED).toBe('true');
  expect(vars.DYNAMICS_TOKEN_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/oauth2\/token$/);
  expect(vars.DYNAMICS_CA_FILE).toBe(caFile);
  const caPem = readFileSync(caFile, 'utf8');
  expect(caPem).toContain('BEGIN CERTIFICATE');

  const tokenUrl = new URL(vars.DYNAMICS_TOKEN_URL);
  const res = await httpsRequest(
    { url: tokenUrl.origin, caPem },
    {
      method: 'POST',
      path: tokenUrl.pathname,
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: vars.DYNAMICS_CLIENT_ID,
        client_secret: vars.DYNAMICS_CLIENT_SECRET,
        username: vars.DYNAMICS_USER_NAME,
        password: vars.DYNAMICS_PASSWORD,
        resource: vars.DYNAMICS_RESOURCE,
      }),
    },
  );
  expect(res.status).toBe(200);
  const body = res.json as { access_token: string; refresh_token: string; resource: string };
  expect(body.resource).toBe(vars.DYNAMICS_RESOURCE);
  expect(JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString())).toMatchObject({ aud: vars.DYNAMICS_RESOURCE });

  // The printed lines alone are a working configuration of the drop-in service (no DYNAMICS_ENABLED added by hand).
  const service = new DynamicsService({ env: vars });
  try {
    await expect(service.get('api/data/v9.2/WhoAmI()')).resolves.toMatchObject({ UserId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  } finally {
    await service.close();
  }

  run.child.kill('SIGTERM');
  expect(await run.exit).toEqual({ code: 0, signal: null });
  expect(run.stderr()).toContain('SIGTERM received');
  // The server is gone.
  await expect(httpsRequest({ url: tokenUrl.origin, caPem }, { path: '/' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  // A CA file the user named is kept.
  expect(existsSync(caFile)).toBe(true);
  // The emulator's own secret and password are printed by design, once each on their variable's line;
  // the tokens it issued, and the service's, never are.
  const printed = run.stdout() + run.stderr();
  expect(printed.split(vars.DYNAMICS_CLIENT_SECRET)).toHaveLength(2);
  expect(printed.split(vars.DYNAMICS_PASSWORD)).toHaveLength(2);
  expect(run.stderr()).not.toContain(vars.DYNAMICS_CLIENT_SECRET);
  expect(body.refresh_token).toEqual(expect.any(String));
  for (const token of [body.access_token, body.refresh_token]) expect(printed).not.toContain(token);
  expect(printed).not.toMatch(/eyJ[\w-]+\.eyJ/);
});

it('writes the CA to a temporary file named after the port by default, and removes it on SIGINT', async () => {
  const run = launch(['--port', '0']);
  running.push(run);
  const vars = await variables(run);
  const port = new URL(vars.DYNAMICS_RESOURCE).port;
  expect(vars.DYNAMICS_CA_FILE).toBe(join(tmpdir(), `dynamics-odata-emulator-${port}-ca.pem`));
  expect(existsSync(vars.DYNAMICS_CA_FILE)).toBe(true);
  run.child.kill('SIGINT');
  expect((await run.exit).code).toBe(0);
  expect(existsSync(vars.DYNAMICS_CA_FILE)).toBe(false);
});

it('--refresh-token-reuse allow lets a redeemed refresh token be used again; the default rejects it', async () => {
  const redeemTwice = async (args: string[]): Promise<number[]> => {
    const run = launch(['--port', '0', ...args]);
    running.push(run);
    const vars = await variables(run);
    const caPem = readFileSync(vars.DYNAMICS_CA_FILE, 'utf8');
    const tokenUrl = new URL(vars.DYNAMICS_TOKEN_URL);
    const token = (form: Record<string, string>) =>
      httpsRequest({ url: tokenUrl.origin, caPem }, { method: 'POST', path: tokenUrl.pathname, body: new URLSearchParams({ client_id: vars.DYNAMICS_CLIENT_ID, client_secret: vars.DYNAMICS_CLIENT_SECRET, resource: vars.DYNAMICS_RESOURCE, ...form }) });
    try {
      const signIn = await token({ grant_type: 'password', username: vars.DYNAMICS_USER_NAME, password: vars.DYNAMICS_PASSWORD });
      const rt = (signIn.json as { refresh_token: string }).refresh_token;
      expect(rt).toEqual(expect.any(String));
      const statuses: number[] = [];
      for (let i = 0; i < 2; i++) statuses.push((await token({ grant_type: 'refresh_token', refresh_token: rt })).status);
      return statuses;
    } finally {
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    }
  };
  expect(await redeemTwice(['--refresh-token-reuse', 'allow'])).toEqual([200, 200]);
  expect(await redeemTwice([])).toEqual([200, 400]);
});

it('--latency and --operation-time slow every Web API answer by their sum', async () => {
  const run = launch(['--port', '0', '--latency', '30', '--operation-time', '50']);
  running.push(run);
  const vars = await variables(run);
  try {
    const caPem = readFileSync(vars.DYNAMICS_CA_FILE, 'utf8');
    const tokenUrl = new URL(vars.DYNAMICS_TOKEN_URL);
    const signIn = await httpsRequest(
      { url: tokenUrl.origin, caPem },
      { method: 'POST', path: tokenUrl.pathname, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: vars.DYNAMICS_CLIENT_ID, client_secret: vars.DYNAMICS_CLIENT_SECRET, resource: vars.DYNAMICS_RESOURCE }) },
    );
    const token = (signIn.json as { access_token: string }).access_token;
    const started = performance.now();
    const whoAmI = await httpsRequest({ url: vars.DYNAMICS_RESOURCE, caPem }, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${token}` } });
    expect(whoAmI.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(79);
  } finally {
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  }
});

it.each([
  [['--latency', 'slow'], /--latency must be an integer between 0 and 60000, got 'slow'/],
  [['--operation-time', '1.5'], /--operation-time must be an integer between 0 and 60000, got '1.5'/],
  [['--port', 'abc'], /--port must be an integer between 0 and 65535, got 'abc'/],
  [['--port', '70000'], /--port must be an integer/],
  [['--seed', '-1'], /--seed/],
  [['--metadata', '/no/such/metadata.xml'], /--metadata: no such file/],
  [['--bogus'], /Unknown option '--bogus'/],
  [['--refresh-token-reuse', 'sometimes'], /--refresh-token-reuse must be 'allow' or 'reject', got 'sometimes'/],
])('rejects %j with a clear message and exit code 2', async (args, message) => {
  const run = launch(args);
  running.push(run);
  expect((await run.exit).code).toBe(2);
  expect(run.stderr()).toMatch(message);
  expect(run.stderr()).toContain('usage: dynamics-odata emulator');
  expect(run.stdout()).toBe('');
});

it('--help prints the usage and exits 0', async () => {
  const run = launch(['--help']);
  running.push(run);
  expect((await run.exit).code).toBe(0);
  expect(run.stdout()).toContain('--ca-file PATH');
  expect(run.stdout()).toContain('--refresh-token-reuse allow|reject');
});
