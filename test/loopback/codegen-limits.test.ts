/**
 * The generator's downloads are bounded (issue 11, item 1): `$metadata` from a hostile server that
 * sends a decompression bomb or an oversized body fails with CodegenError `response_too_large`
 * naming the limit, which `maxResponseBytes` (`--max-response-bytes`) sets; the largest real
 * document (4.2 MB, sent plain or gzipped as Dataverse does) still generates live with the default.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { CodegenError, DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES, generate } from '../../src/codegen';
import { run } from '../../src/cli/generate';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

const REAL = path.resolve(__dirname, '../../../shared/fixtures/real/metadata-v9.0-onprem-bcgov-lcrb.xml');
const MiB = 1024 * 1024;

let server: HostileServer;
beforeAll(async () => {
  server = await startHostileServer();
});
afterAll(() => server.close());

function live(extra: { maxResponseBytes?: number } = {}): Promise<unknown> {
  return generate({ url: server.origin, auth: staticToken(), ca: server.caPem, write: false, ...extra }).catch((e: unknown) => e);
}

function expectTooLarge(err: unknown, limit: number): void {
  expect(err).toBeInstanceOf(CodegenError);
  expect({ code: (err as CodegenError).code }).toEqual({ code: 'response_too_large' });
  expect((err as Error).message).toContain(`maxResponseBytes (${limit} bytes)`);
  expect((err as Error).message).toMatch(/GET https:\/\/127\.0\.0\.1:\d+\/api\/data\/v9\.2\/\$metadata/);
  expect((err as Error).message).toContain('--max-response-bytes');
}

it('the default limit is 128 MiB', () => {
  expect(DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES).toBe(128 * MiB);
});

it('a brotli bomb inflating past the default limit fails naming it, without inflating it all', async () => {
  server.on((_req, res) => misbehave.bomb(res, { encoding: 'br', inflatedBytes: 160 * MiB }));
  const before = process.memoryUsage().rss;
  const err = await live();
  expectTooLarge(err, DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES);
  // Far less than the 160 MiB it inflates to: the output stopped at the limit and was dropped.
  expect(process.memoryUsage().rss - before).toBeLessThan(150 * MiB);
}, 120_000);

it.each(['gzip', 'deflate'] as const)('a %s bomb fails at a maxResponseBytes of 1 MiB', async (encoding) => {
  server.on((_req, res) => misbehave.bomb(res, { encoding, inflatedBytes: 64 * MiB }));
  expectTooLarge(await live({ maxResponseBytes: MiB }), MiB);
});

it.each([
  ['streamed without Content-Length', false],
  ['declared by Content-Length', true],
])('an oversized $metadata %s fails at maxResponseBytes', async (_what, declare) => {
  server.on((_req, res) => misbehave.oversized(res, 3 * MiB, { declare }));
  expectTooLarge(await live({ maxResponseBytes: 2 * MiB }), 2 * MiB);
});

it.each([
  ['plain', false],
  ['gzipped, as Dataverse sends it', true],
])('the real 4.2 MB $metadata still generates live with the default limit (%s)', async (_what, gzip) => {
  const xml = fs.readFileSync(REAL);
  const body = gzip ? zlib.gzipSync(xml) : xml;
  server.on((req, res) => {
    if (!req.url?.endsWith('/$metadata')) return misbehave.json(res, 404, { error: { code: '0x8006088a', message: 'not found' } });
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': String(body.length), ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
    res.end(body);
  });
  const result = await live();
  expect(result).not.toBeInstanceOf(Error);
  expect((result as { entityTypes: number }).entityTypes).toBeGreaterThan(400);
}, 120_000);

it('refuses a maxResponseBytes that is not a whole number of bytes a string can hold', async () => {
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 40]) {
    const err = await live({ maxResponseBytes: bad });
    expect(err).toBeInstanceOf(CodegenError);
    expect({ code: (err as CodegenError).code, message: (err as Error).message }).toEqual({ code: 'invalid_option', message: expect.stringMatching(/^maxResponseBytes: expected a whole number of bytes from 1 to \d+/) });
  }
});

describe('the CLI flag --max-response-bytes', () => {
  let emulator: Emulator;
  let dir: string;
  let caFile: string;
  beforeAll(async () => {
    emulator = await startTestEmulator();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-limits-'));
    caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, emulator.caPem);
  });
  afterAll(async () => {
    await emulator.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
    const stderr: string[] = [];
    const so = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const se = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
    const saved = { ...process.env };
    Object.assign(process.env, emulator.env(caFile));
    try {
      return { code: await run(args), stderr: stderr.join('') };
    } finally {
      so.mockRestore();
      se.mockRestore();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }

  it('bounds the $metadata download: 1KiB is too small for the emulator\'s document', async () => {
    const { code, stderr } = await cli(['--url', emulator.url, '--out', path.join(dir, 'small'), '--ca-file', caFile, '--quiet', '--max-response-bytes', '1KiB']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/\$metadata: the response body .*is larger than maxResponseBytes \(1024 bytes\)/);
    expect(fs.existsSync(path.join(dir, 'small'))).toBe(false);
  });

  it('generates with a limit that fits', async () => {
    const { code, stderr } = await cli(['--url', emulator.url, '--out', path.join(dir, 'fits'), '--entities', 'account', '--ca-file', caFile, '--quiet', '--max-response-bytes', '64MiB']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.existsSync(path.join(dir, 'fits', 'account.ts'))).toBe(true);
  });

  it('refuses a value that is not a size', async () => {
    const { code, stderr } = await cli(['--url', emulator.url, '--out', path.join(dir, 'x'), '--max-response-bytes', 'lots']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--max-response-bytes: expected a number of bytes such as 268435456 or 256MiB, got 'lots'/);
  });
});

it('quotes a failed $metadata answer on one line, without control characters (no terminal escapes)', async () => {
  const message = `denied\u001b]0;owned\u0007\u001b[2J\r\nfake: line\u2028end ${'x'.repeat(1000)}`;
  server.on((_req, res) => misbehave.json(res, 403, { error: { code: '0x80040220', message } }));
  const err = await live();
  expect(err).toBeInstanceOf(CodegenError);
  expect((err as CodegenError).code).toBe('download_failed');
  const text = (err as Error).message;
  expect(text).toMatch(/answered 403 0x80040220: denied/);
  expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  expect(text.length).toBeLessThan(500);
});
