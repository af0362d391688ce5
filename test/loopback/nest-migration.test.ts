/**
 * The README's migration example: compiled by tsc with a Nest application's usual settings
 * (decorator metadata, no explicit @Inject), against the built package in a scratch install, then
 * run as a Nest application context against the emulator, configured by DYNAMICS_* variables only.
 * The same tsc run checks the compile-time contract in test/packaging/compat-types.check.ts.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { ROOT, distMissing, scratchInstall, type ScratchInstall } from '../packaging/scratch';

const run = promisify(execFile);
const describeBuilt = describeIfAvailable(distMissing());
const FILES = ['readme-migration.example.ts', 'readme-migration.run.ts', 'compat-types.check.ts'];

describeBuilt('README migration example', () => {
  let scratch: ScratchInstall;
  let emulator: Emulator;

  beforeAll(async () => {
    scratch = scratchInstall({ withNest: true });
    mkdirSync(path.join(scratch.dir, 'src'));
    for (const file of FILES) cpSync(path.join(ROOT, 'test/packaging', file), path.join(scratch.dir, 'src', file));
    // What `nest new` generates, less what does not matter here; skipLibCheck off so our .d.ts are checked too.
    writeFileSync(
      path.join(scratch.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'commonjs',
          target: 'ES2021',
          declaration: false,
          emitDecoratorMetadata: true,
          experimentalDecorators: true,
          strict: true,
          esModuleInterop: true,
          skipLibCheck: false,
          outDir: './out',
          types: ['node'],
        },
        include: ['src'],
      }),
    );
    emulator = await startTestEmulator();
  });

  afterAll(async () => {
    await emulator?.close();
    scratch?.cleanup();
  });

  it('compiles with tsc, including the compile-time contract checks', async () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: scratch.dir }).catch((err: { stdout?: string; stderr?: string }) => err);
    expect({ stdout: result.stdout, stderr: result.stderr }).toEqual({ stdout: '', stderr: '' });
  }, 180_000); // a full tsc over Nest's and our declarations takes ~25 s on a busy 2-core machine

  it('runs unchanged against the emulator, configured by environment variables alone', async () => {
    const caFile = path.join(scratch.dir, 'ca.pem');
    writeFileSync(caFile, emulator.caPem);
    emulator.resetCounters();
    const { stdout } = await run(process.execPath, ['out/readme-migration.run.js'], {
      cwd: scratch.dir,
      env: { PATH: process.env.PATH ?? '', ...emulator.env(caFile), DYNAMICS_ENABLED: 'true' },
    });
    const out = JSON.parse(stdout) as Record<string, { id?: string; value?: Array<{ name: string }> } & Record<string, unknown>>;
    const id = out.created.id as string;
    expect(out.created).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), entityId: `${emulator.url}/api/data/v9.2/accounts(${id})` });
    expect(out.found.value!.map((r) => r.name)).toEqual(["O'Brien & Sons"]);
    expect(out.renamed).toEqual(out.created);
    expect(out.removed).toEqual({});
    expect(out.missing).toEqual({ isDynamicsError: true, status: 404, hasData: true });
    expect(out.tokenType).toBe('Bearer');
    expect(emulator.counters.tokenRequests).toEqual({ password: 1, client_credentials: 1 });
  });
});
