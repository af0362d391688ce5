/**
 * Live generation from the emulator: MSAL authenticates with the DYNAMICS_* variables (as the client
 * does), $metadata and the option sets (EntityDefinitions) are downloaded over HTTPS trusting the
 * emulator's CA, progress is reported, the result equals the committed generated/ byte for byte, and
 * a service without option-set metadata is said rather than failing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { MsalTokenProvider, loadAuthConfig } from '../../src/auth';
import { AuthenticationError } from '../../src/errors';
import { CodegenError, generate } from '../../src/codegen';
import type { DownloadProgress } from '../../src/codegen/download';
import { run } from '../../src/cli/generate';
import type { Emulator } from '../../src/emulator';
import { DEFAULT_METADATA_XML } from '../../src/emulator/schema/default-metadata';
import { DEFAULT_OPTION_SETS_LABEL } from '../../src/emulator/schema/default-optionsets';
import { DEFAULT_SOURCE_LABEL, defaultGenerateOptions } from '../../scripts/generate';
import { startTestEmulator } from '../helpers/emulator';

let emulator: Emulator;
let dir: string;
let caFile: string;

beforeAll(async () => {
  emulator = await startTestEmulator();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-live-'));
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, emulator.caPem);
});
afterAll(async () => {
  await emulator.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Everything a secret could leak through: message, stack, util.inspect (hidden properties, cause chain) and JSON. */
function leakSurface(err: unknown): string {
  return [String(err), (err as Error)?.stack, inspect(err, { depth: 10, showHidden: true }), JSON.stringify(err)].join('\n');
}

it('downloads $metadata with a token from the DYNAMICS_* configuration and generates the selected tables', async () => {
  emulator.resetCounters();
  const progress: DownloadProgress[] = [];
  const out = path.join(dir, 'live');
  const result = await generate({ url: emulator.url, env: emulator.env(caFile), out, entities: ['account', 'contacts'], onProgress: (p) => progress.push(p) });

  expect(result.source).toEqual({ label: `${emulator.url}/api/data/v9.2/$metadata`, sha256: createHash('sha256').update(DEFAULT_METADATA_XML).digest('hex') });
  expect(fs.readdirSync(out).sort()).toEqual(['account.ts', 'complex-types.ts', 'contact.ts', 'enums.ts', 'index.ts', 'operations.ts', 'schema.ts']);
  expect(fs.readFileSync(path.join(out, 'account.ts'), 'utf8')).toContain(`// Source: ${emulator.url}/api/data/v9.2/$metadata (sha256 ${result.source.sha256})`);
  // One sign-in (the DYNAMICS_* variables name a user) serves $metadata and the ten option-set queries.
  expect(emulator.counters.tokenRequests).toEqual({ password: 1 });
  expect(emulator.counters.apiRequests['GET /$metadata']).toBe(1);

  const metadataProgress = progress.filter((p) => p.what === '$metadata');
  expect(metadataProgress.at(-1)).toMatchObject({ done: true, receivedBytes: Buffer.byteLength(DEFAULT_METADATA_XML) });
  // The option sets of the selected tables come from EntityDefinitions: 5 casts per table.
  expect(result.notes).toEqual([]);
  expect(emulator.counters.apiRequests['GET /EntityDefinitions']).toBe(10);
  expect(progress.some((p) => p.what === 'option sets of account' && p.done)).toBe(true);
  const account = fs.readFileSync(path.join(out, 'account.ts'), 'utf8');
  expect(account).toContain(`// Option sets: ${emulator.url}/api/data/v9.2/EntityDefinitions (sha256 `);
  expect(account).toContain('export const AccountIndustryCode = {');
  expect(account).toContain("  7: 'Consulting',");
  expect(account).toContain('statuscode: z.literal([1, 2]).nullable(),');
  // contact has no embedded option sets: its choice columns stay numbers.
  expect(fs.readFileSync(path.join(out, 'contact.ts'), 'utf8')).toContain('  statecode: number | null;');
});

it('generates all tables with their option sets byte for byte as npm run generate does (generated/)', async () => {
  const result = await generate({
    url: emulator.url,
    env: emulator.env(caFile),
    downloadOptionSets: true,
    sourceLabel: DEFAULT_SOURCE_LABEL,
    optionSetsLabel: DEFAULT_OPTION_SETS_LABEL,
    write: false,
  });
  const committed = await generate({ ...defaultGenerateOptions(), write: false });
  expect(result.notes).toEqual([]);
  expect(result.files.map((f) => f.path)).toEqual(committed.files.map((f) => f.path));
  for (const f of result.files) {
    const expected = committed.files.find((c) => c.path === f.path)!;
    expect({ file: f.path, same: f.content === expected.content }).toEqual({ file: f.path, same: true });
  }
  // And that is what is committed.
  const onDisk = fs.readFileSync(path.join(__dirname, '../../generated/opportunity.ts'), 'utf8');
  expect(result.files.find((f) => f.path === 'opportunity.ts')!.content).toBe(onDisk);
});

it('skips option sets with a note when the service does not serve EntityDefinitions', async () => {
  const remove = emulator.injectFault({ route: { method: 'GET', path: /\/EntityDefinitions/ }, fault: { status: 400, error: 'invalid_request', description: "Resource not found for the segment 'EntityDefinitions'." }, count: 1 });
  try {
    const result = await generate({ url: emulator.url, env: emulator.env(caFile), entities: ['account'], write: false });
    expect(result.notes.join('\n')).toMatch(/option sets skipped: the service does not serve EntityDefinitions metadata \(400/);
    expect(result.files.find((f) => f.path === 'account.ts')!.content).not.toContain('// Option sets:');
  } finally {
    remove();
  }
});

it('takes a TokenProvider and a CA directly', async () => {
  const provider = new MsalTokenProvider(loadAuthConfig(emulator.env(caFile)));
  const result = await generate({ url: emulator.url, auth: provider, ca: emulator.caPem, write: false, downloadOptionSets: false });
  expect(result.entityTypes).toBeGreaterThanOrEqual(10);
  expect(result.files.some((f) => f.path === 'opportunity.ts')).toBe(true);
});

it('fails with a clear error, without the secret, when authentication fails', async () => {
  const env = { ...emulator.env(caFile), DYNAMICS_PASSWORD: 'wrong-password-S3cr3t!' };
  const err = await generate({ url: emulator.url, env, write: false }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AuthenticationError);
  expect((err as AuthenticationError).entraErrorCodes).toContain(50126);
  const surface = `${leakSurface(err)}\n${JSON.stringify(err, Object.getOwnPropertyNames(err))}`;
  expect(surface).not.toContain('wrong-password-S3cr3t!');
  expect(surface).not.toContain(emulator.client.clientSecret);
});

it('a 401 on $metadata is an error without the bearer token it was sent with', async () => {
  const msal = new MsalTokenProvider(loadAuthConfig(emulator.env(caFile)));
  const issued: string[] = [];
  const auth = {
    getToken: async (options?: Parameters<MsalTokenProvider['getToken']>[0]) => {
      const t = await msal.getToken(options);
      issued.push(t.token);
      return t;
    },
  };
  const remove = emulator.injectFault({ route: { method: 'GET', path: /\/\$metadata$/ }, fault: { status: 401 }, count: 5 });
  try {
    const err = await generate({ url: emulator.url, auth, ca: emulator.caPem, write: false, downloadOptionSets: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodegenError);
    expect((err as Error).message).toMatch(/\$metadata answered 401/);
    expect(issued.length).toBeGreaterThanOrEqual(1);
    const surface = leakSurface(err);
    for (const token of issued) expect(surface).not.toContain(token);
    expect(surface).not.toMatch(/Bearer\s+ey/);
    expect(surface).not.toContain(emulator.client.clientSecret);
    expect(surface).not.toContain(emulator.user.password);
  } finally {
    remove();
    msal.close();
  }
});

it('turns a non-200 $metadata answer into a CodegenError naming the URL and status', async () => {
  const remove = emulator.injectFault({ route: { method: 'GET', path: /\/\$metadata$/ }, fault: { status: 503 }, count: 1 });
  try {
    const err = await generate({ url: emulator.url, env: emulator.env(caFile), write: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodegenError);
    expect((err as CodegenError).code).toBe('download_failed');
    expect((err as Error).message).toMatch(/GET https:\/\/127\.0\.0\.1:\d+\/api\/data\/v9\.2\/\$metadata answered 503/);
  } finally {
    remove();
  }
});

it('the CLI generates live with --url and --ca-file, printing progress on stderr', async () => {
  const out = path.join(dir, 'cli-live');
  const stdout: string[] = [];
  const stderr: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (stdout.push(String(s)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
  const saved = { ...process.env };
  Object.assign(process.env, emulator.env(caFile));
  try {
    const code = await run(['--url', emulator.url, '--out', out, '--entities', 'account', '--ca-file', caFile]);
    expect({ code, stderr: stderr.join('') }).toMatchObject({ code: 0 });
  } finally {
    so.mockRestore();
    se.mockRestore();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  expect(stdout.join('')).toMatch(/generated 6 files \(1 tables\) in .*cli-live from https:\/\/127\.0\.0\.1:\d+\/api\/data\/v9\.2\/\$metadata/);
  expect(stderr.join('')).toMatch(/downloading \$metadata/);
  expect(stderr.join('')).not.toMatch(/option sets skipped/);
  expect(fs.readFileSync(path.join(out, 'account.ts'), 'utf8')).toContain('export const AccountStateCode = {');
  const printed = stdout.join('') + stderr.join('');
  expect(printed).not.toContain(emulator.client.clientSecret);
  expect(printed).not.toContain(emulator.user.password);
  expect(printed).not.toMatch(/eyJ[\w-]+\.eyJ/);
});

it('the CLI reports a failed sign-in on stderr without the password or the secret', async () => {
  const printed: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
  const saved = { ...process.env };
  Object.assign(process.env, emulator.env(caFile), { DYNAMICS_PASSWORD: 'wrong-password-CLI-S3cr3t!' });
  let code: number;
  try {
    code = await run(['--url', emulator.url, '--out', path.join(dir, 'cli-fail'), '--entities', 'account', '--ca-file', caFile]);
  } finally {
    so.mockRestore();
    se.mockRestore();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  expect(code).not.toBe(0);
  expect(printed.join('')).toMatch(/AADSTS50126/);
  expect(printed.join('')).not.toContain('wrong-password-CLI-S3cr3t!');
  expect(printed.join('')).not.toContain(emulator.client.clientSecret);
});
