/**
 * Loading dynamics-odata without @nestjs/* installed: the non-Nest surface works (DynamicsService
 * included, against the emulator), nothing from Nest is loaded, and touching DynamicsModule gives
 * a clear error. Runs the built package from a scratch installation (see ./scratch.ts).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../helpers/emulator';
import { describeIfAvailable } from '../helpers/prerequisite';
import { distMissing, scratchInstall, type ScratchInstall } from './scratch';

const run = promisify(execFile);
const describeBuilt = describeIfAvailable(distMissing());

describeBuilt('dynamics-odata without @nestjs/* installed', () => {
  let scratch: ScratchInstall;
  let emulator: Emulator;
  let env: Record<string, string>;

  beforeAll(async () => {
    scratch = scratchInstall({ withNest: false });
    emulator = await startTestEmulator();
    const caFile = path.join(scratch.dir, 'ca.pem');
    writeFileSync(caFile, emulator.caPem);
    env = { PATH: process.env.PATH ?? '', ...emulator.env(caFile), DYNAMICS_ENABLED: 'true' };
  });

  afterAll(async () => {
    await emulator?.close();
    scratch?.cleanup();
  });

  async function node(args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, args, { cwd: scratch.dir, env });
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  it('really has no Nest to find', async () => {
    const out = await node(['-e', "let found; try { require.resolve('@nestjs/common'); found = true } catch { found = false } console.log(JSON.stringify({ found }))"]);
    expect(out).toEqual({ found: false });
  });

  it('require: DynamicsService and DynamicsClient work, no Nest module is loaded, DynamicsModule explains what to install', async () => {
    const script = `
      const lib = require('dynamics-odata');
      (async () => {
        const dynamics = new lib.DynamicsService();
        const page = await dynamics.get('api/data/v9.2/accounts?$top=1&$select=name');
        await dynamics.close();
        const nestLoaded = Object.keys(require.cache).some((f) => f.includes('@nestjs') || f.endsWith('/nest/module.js'));
        let moduleError;
        try { lib.DynamicsModule; } catch (e) { moduleError = { name: e.name, code: e.code, message: e.message, isDynamicsError: e instanceof lib.DynamicsError }; }
        console.log(JSON.stringify({
          service: typeof lib.DynamicsService, client: typeof lib.DynamicsClient, token: typeof lib.DYNAMICS_MODULE_OPTIONS,
          hasValue: Array.isArray(page.value), nestLoaded, moduleError,
        }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = await node(['-e', script]);
    expect(out).toEqual({
      service: 'function',
      client: 'function',
      token: 'symbol',
      hasValue: true,
      nestLoaded: false,
      moduleError: {
        name: 'DynamicsError',
        code: 'invalid_configuration',
        isDynamicsError: true,
        message: expect.stringContaining('npm install @nestjs/common @nestjs/core'),
      },
    });
  });

  it('import from an ES module works too (Node reads every export of a CommonJS module; a throwing getter must not break it)', async () => {
    const script = `
      import { DynamicsService, DynamicsClient } from 'dynamics-odata';
      const dynamics = new DynamicsService({ enabled: false });
      console.log(JSON.stringify({ service: typeof DynamicsService, client: typeof DynamicsClient, disabled: await dynamics.get('x') }));`;
    const out = await node(['--input-type=module', '-e', script]);
    expect(out).toEqual({ service: 'function', client: 'function', disabled: null });
  });
});
