/**
 * Live generation from the emulator: MSAL authenticates with the DYNAMICS_* variables (as the client
 * does), $metadata is downloaded over HTTPS trusting the emulator's CA, progress is reported, and
 * the service's lack of option-set metadata is said rather than failing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MsalTokenProvider, loadAuthConfig } from '../../src/auth';
import { CodegenError, generate } from '../../src/codegen';
import type { DownloadProgress } from '../../src/codegen/download';
import { run } from '../../src/cli/generate';
import type { Emulator } from '../../src/emulator';
import { DEFAULT_METADATA_XML } from '../../src/emulator/schema/default-metadata';
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

it('downloads $metadata with a token from the DYNAMICS_* configuration and generates the selected tables', async () => {
  emulator.resetCounters();
  const progress: DownloadProgress[] = [];
  const out = path.join(dir, 'live');
  const result = await generate({ url: emulator.url, env: emulator.env(caFile), out, entities: ['account', 'contacts'], onProgress: (p) => progress.push(p) });

  expect(result.source).toEqual({ label: `${emulator.url}/api/data/v9.2/$metadata`, sha256: createHash('sha256').update(DEFAULT_METADATA_XML).digest('hex') });
  expect(fs.readdirSync(out).sort()).toEqual(['account.ts', 'complex-types.ts', 'contact.ts', 'enums.ts', 'index.ts', 'operations.ts', 'schema.ts']);
  expect(fs.readFileSync(path.join(out, 'account.ts'), 'utf8')).toContain(`// Source: ${emulator.url}/api/data/v9.2/$metadata (sha256 ${result.source.sha256})`);
  expect(emulator.counters.tokenRequestsTotal).toBeGreaterThanOrEqual(1);
  expect(emulator.counters.apiRequests['GET /$metadata']).toBe(1);

  const metadataProgress = progress.filter((p) => p.what === '$metadata');
  expect(metadataProgress.at(-1)).toMatchObject({ done: true, receivedBytes: Buffer.byteLength(DEFAULT_METADATA_XML) });
  // The emulator does not serve EntityDefinitions: option sets are skipped, and the result says so.
  expect(result.notes.join('\n')).toMatch(/option sets skipped: the service does not serve EntityDefinitions metadata \(404/);
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
  expect(err).toBeInstanceOf(Error);
  expect(String((err as Error).message)).not.toContain('wrong-password-S3cr3t!');
  expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('wrong-password-S3cr3t!');
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
  expect(stderr.join('')).toMatch(/note: option sets skipped/);
  expect(fs.existsSync(path.join(out, 'account.ts'))).toBe(true);
});
