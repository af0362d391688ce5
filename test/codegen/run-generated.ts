/**
 * Runs generated code for real: every `.ts` file of a folder transpiled to CommonJS with the
 * project's TypeScript and required, one after the other, in a fresh `node` process (`zod` resolves
 * to this repository's copy). Injected code that survived generation runs here; a payload that sets
 * `globalThis.__dynamicsOdataPwned` shows in the result.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

const REPO = path.resolve(__dirname, '../..');

/** What a payload sets; the runner reports it. */
export const PWNED_FLAG = '__dynamicsOdataPwned';
/** A payload for names, labels and file names: sets the flag when it runs as code. */
export const PAYLOAD = `globalThis.${PWNED_FLAG} = (globalThis.${PWNED_FLAG} ?? 0) + 1;`;

export interface RunResult {
  /** The flag's value after requiring every file: undefined unless injected code ran. */
  pwned: number | undefined;
  /** The files required, in order. */
  loaded: string[];
  /** Non-empty when requiring a file threw (a syntax error, a failed import). */
  error?: string;
  /** The value of `probe` (a CommonJS expression over `mod(file)`), JSON round-tripped. */
  probe?: unknown;
}

/** Transpiles and requires every `.ts` file of `files` (path → content) in a child process. */
export function runGenerated(files: ReadonlyArray<{ path: string; content: string }>, probe?: string): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-run-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.join(REPO, 'node_modules', 'zod'), path.join(dir, 'node_modules', 'zod'), 'dir');
  const names: string[] = [];
  for (const f of files) {
    const js = ts.transpileModule(f.content, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: f.path }).outputText;
    const name = f.path.replace(/\.ts$/, '.js');
    fs.writeFileSync(path.join(dir, name), js);
    names.push(name);
  }
  const script = `
    const loaded = [];
    let error;
    for (const f of ${JSON.stringify(names)}) {
      try { require('./' + f); loaded.push(f); } catch (e) { error = String(e && e.stack || e); break; }
    }
    const mod = (f) => require('./' + f);
    let probe;
    if (!error) probe = ${probe ?? 'undefined'};
    process.stdout.write(JSON.stringify({ pwned: globalThis.${PWNED_FLAG}, loaded, error, probe }));
  `;
  fs.writeFileSync(path.join(dir, 'run.cjs'), script);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['run.cjs'], { cwd: dir, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      fs.rmSync(dir, { recursive: true, force: true });
      if (err) return reject(new Error(`generated code runner failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as RunResult);
    });
  });
}
