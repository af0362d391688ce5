/**
 * The published declarations type-check in applications as users compile them: TypeScript's default
 * `skipLibCheck: false`, against the packed tarball (what npm would install), with and without
 * `@nestjs/*` installed. An application without Nest must not need Nest's declarations; a Nest
 * application keeps real types (a wrong option is an error).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describeIfAvailable } from '../helpers/prerequisite';
import { DIST, distMissing, packTarball, ROOT, scratchFromTarball, type ScratchInstall } from './scratch';

const run = promisify(execFile);
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const describeBuilt = describeIfAvailable(distMissing());

const COMPILER_OPTIONS = {
  strict: true,
  skipLibCheck: false,
  module: 'node16',
  moduleResolution: 'node16',
  target: 'es2022',
  noEmit: true,
  types: ['node'],
};

async function tsc(dir: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<string> {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...COMPILER_OPTIONS, ...extra }, files: Object.keys(files) }));
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir });
    return '';
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
  }
}

/** Every module a declaration file imports, followed through relative imports from `entry`. */
function declarationImports(entry: string): Map<string, string> {
  const seen = new Set<string>();
  const external = new Map<string, string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec);
        const next = [`${base}.d.ts`, path.join(base, 'index.d.ts')].find((f) => existsSync(f));
        if (next) visit(next);
      } else if (!spec.startsWith('node:')) {
        external.set(spec, path.relative(DIST, file));
      }
    }
  };
  visit(entry);
  return external;
}

describeBuilt('published declarations with skipLibCheck: false', () => {
  it('no public declaration reaches MSAL, axios or (outside dynamics-odata/nest) Nest', () => {
    for (const entry of ['index.d.ts', 'emulator/index.d.ts', 'codegen/index.d.ts', 'nest/index.d.ts']) {
      const external = declarationImports(path.join(DIST, entry));
      const forbidden = [...external].filter(([spec]) => /^(@azure\/msal-|axios)/.test(spec) || (entry !== 'nest/index.d.ts' && spec.startsWith('@nestjs/')));
      expect({ entry, forbidden }).toEqual({ entry, forbidden: [] });
      if (entry === 'nest/index.d.ts') expect([...external.keys()]).toContain('@nestjs/common');
    }
  });


  let packDir: string;
  let tarball: string;
  const scratches: ScratchInstall[] = [];

  beforeAll(() => {
    packDir = mkdtempSync(path.join(tmpdir(), 'dynamics-odata-pack-'));
    tarball = packTarball(packDir);
  });

  afterAll(() => {
    for (const s of scratches) s.cleanup();
    rmSync(packDir, { recursive: true, force: true });
  });

  it('an application without @nestjs/* compiles against every entry point', async () => {
    const scratch = scratchFromTarball(tarball, { withNest: false });
    scratches.push(scratch);
    const errors = await tsc(scratch.dir, {
      'app.ts': `
        import { DynamicsClient, DynamicsService, DynamicsError, MsalTokenProvider, fromTokenCredential, fileTokenCache, DynamicsModule, type DynamicsModuleAsyncOptions } from 'dynamics-odata';
        import { startEmulator } from 'dynamics-odata/emulator';
        import { generate } from 'dynamics-odata/codegen';
        const client = new DynamicsClient({ url: 'https://contoso.crm.dynamics.com', auth: { clientId: 'id', tenantId: 'tenant', clientSecret: 'secret' } });
        const service = new DynamicsService({ enabled: false });
        const options: DynamicsModuleAsyncOptions = { useFactory: () => ({ enabled: false }) };
        // @ts-expect-error: types are real, not any: a DynamicsService option is checked
        new DynamicsService({ enabled: 'yes' });
        export const used = [client, service, options, DynamicsError, MsalTokenProvider, fromTokenCredential, fileTokenCache, DynamicsModule, startEmulator, generate];
      `,
    });
    expect(errors).toBe('');
  });

  it('a Nest application (ES module, decorators) compiles with the root and the /nest entry points, and a wrong option is an error', async () => {
    const scratch = scratchFromTarball(tarball, { withNest: true, esm: true });
    scratches.push(scratch);
    const app = (wrong: string) => `
      import { Injectable, Module } from '@nestjs/common';
      import { DynamicsModule, DynamicsService } from 'dynamics-odata';
      import { DynamicsModule as NestTypedModule } from 'dynamics-odata/nest';
      class ConfigService { get(name: string): string | undefined { return process.env[name]; } }
      @Module({ providers: [ConfigService], exports: [ConfigService] })
      class ConfigModule {}
      @Injectable()
      export class Accounts {
        constructor(private readonly dynamics: DynamicsService) {}
        list() { return this.dynamics.get('api/data/v9.2/accounts'); }
      }
      @Module({
        imports: [
          DynamicsModule,
          DynamicsModule.forRoot({ enabled: true }),
          DynamicsModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config: ConfigService) => ({ resource: config.get('DYNAMICS_RESOURCE') }) }),
          NestTypedModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config: ConfigService) => ({ resource: config.get('DYNAMICS_RESOURCE') }) }),
          ${wrong}
        ],
        providers: [Accounts],
      })
      export class AppModule {}
    `;
    const decorators = { experimentalDecorators: true, emitDecoratorMetadata: true };
    expect(await tsc(scratch.dir, { 'app.ts': app('') }, decorators)).toBe('');
    const wrong = await tsc(scratch.dir, { 'app.ts': app("DynamicsModule.forRoot({ enabled: 'yes' }),") }, decorators);
    expect(wrong).toMatch(/app\.ts.*error TS2322/);
  });
});
