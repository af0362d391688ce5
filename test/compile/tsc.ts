/**
 * Runs the real TypeScript compiler (node_modules/typescript) in a child process over generated
 * output, with a strict tsconfig written to a temp folder. `zod` resolves to this repo's copy.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const REAL = path.resolve(REPO, '../shared/fixtures/real');
const TSC = path.join(REPO, 'node_modules/typescript/bin/tsc');

export interface TscResult {
  code: number;
  output: string;
  /** `Files:` from --extendedDiagnostics: how many files the checker loaded. */
  files: number;
  /** Every file the checker loaded (`--listFiles`). */
  loaded: string[];
}

/** Strictest options a user is likely to have, so generated code must pass them too. */
export const STRICT_OPTIONS = {
  strict: true,
  noEmit: true,
  target: 'ES2022',
  lib: ['ES2022'],
  module: 'Node16',
  moduleResolution: 'Node16',
  skipLibCheck: true,
  types: [],
  noUnusedLocals: true,
  noUnusedParameters: true,
  noImplicitReturns: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  exactOptionalPropertyTypes: false,
  noUncheckedIndexedAccess: true,
  forceConsistentCasingInFileNames: true,
};

/** Type-check `files` (absolute paths; their imports are followed) or every `.ts` under `dir`. */
export function tsc(input: { files?: string[]; include?: string[] }, extra: Record<string, unknown> = {}): Promise<TscResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-tsc-'));
  const config = {
    compilerOptions: { ...STRICT_OPTIONS, baseUrl: REPO, paths: { zod: [path.join(REPO, 'node_modules/zod')], 'expect-type': [path.join(REPO, 'node_modules/expect-type')] }, typeRoots: [path.join(REPO, 'node_modules/@types')], ...extra },
    ...(input.files ? { files: input.files } : {}),
    ...(input.include ? { include: input.include } : {}),
  };
  const tsconfig = path.join(tmp, 'tsconfig.json');
  fs.writeFileSync(tsconfig, JSON.stringify(config, null, 2));
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', tsconfig, '--extendedDiagnostics', '--listFiles', '--pretty', 'false'], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      fs.rmSync(tmp, { recursive: true, force: true });
      const output = `${stdout}${stderr}`;
      const files = Number(/^Files:\s+(\d+)/m.exec(output)?.[1] ?? -1);
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const loaded = stdout.split('\n').filter((l) => /^(\/|[A-Za-z]:[\\/]).*\.ts$/.test(l.trim())).map((l) => path.resolve(l.trim()));
      resolve({ code, output, files, loaded });
    });
  });
}

/** Only the diagnostics (drops the --extendedDiagnostics statistics). */
export function errors(result: TscResult): string {
  return result.output
    .split('\n')
    .filter((l) => /error TS\d+/.test(l))
    .join('\n');
}
