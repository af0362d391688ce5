/**
 * The generator, the emulator and the CSDL reader they share stay apart from the runtime client
 * (issue 10): src/csdl is pure (no I/O, nothing else of ours), src/codegen reads CSDL through it and
 * loads src/auth only from its entry point, and src/emulator uses only the src/net and src/csdl leaves.
 * Import specifiers are read with TypeScript's own pre-processor, so `import type`, `export … from`,
 * `require()` and `typeof import()` all count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const SRC = path.resolve(__dirname, '../../../src');

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return filesUnder(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every import of `file`: our own modules as their top-level folder under src (`auth`, `net`…), packages by name. */
function importsOf(file: string, text = fs.readFileSync(file, 'utf8')): { spec: string; target: string }[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { spec, target: spec.startsWith('node:') ? spec : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/') };
    const rel = path.relative(SRC, path.resolve(path.dirname(file), spec));
    return { spec, target: rel.startsWith('..') ? `outside src: ${rel}` : `src/${rel.split(path.sep)[0]!.replace(/\.ts$/, '')}` };
  });
}

/** `file: spec → target` for every import of the files under `folder` that `allowed` refuses. */
function violations(folder: string, allowed: (target: string, file: string) => boolean): string[] {
  return filesUnder(path.join(SRC, folder)).flatMap((file) =>
    importsOf(file)
      .filter(({ target }) => !allowed(target, file))
      .map(({ spec, target }) => `${path.relative(SRC, file)}: ${spec} → ${target}`),
  );
}

describe('module boundaries of the generator, the emulator and the CSDL leaf', () => {
  it('src/csdl imports only itself and the XML parser (no I/O)', () => {
    expect(violations('csdl', (t) => t === 'src/csdl' || t === 'fast-xml-parser')).toEqual([]);
  });

  it('src/codegen imports src/csdl, src/net, src/errors and src/logger; only its entry point loads src/auth', () => {
    const entry = path.join(SRC, 'codegen/index.ts');
    const own = new Set(['src/codegen', 'src/csdl', 'src/net', 'src/errors', 'src/logger']);
    expect(violations('codegen', (t, file) => (t.startsWith('src/') ? own.has(t) || (t === 'src/auth' && file === entry) : !t.startsWith('outside src')))).toEqual([]);
  });

  it('src/emulator imports only itself, src/net and src/csdl of ours', () => {
    const own = new Set(['src/emulator', 'src/net', 'src/csdl']);
    expect(violations('emulator', (t) => (t.startsWith('src/') ? own.has(t) : !t.startsWith('outside src')))).toEqual([]);
  });

  it('sees every kind of import, so a rule above can fail', () => {
    const file = path.join(SRC, 'emulator/dataverse/example.ts');
    const text = [
      "import type { A } from '../../auth';",
      "export { b } from '../../client/x';",
      "const c = require('../../http') as typeof import('../../odata');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(importsOf(file, text).map((i) => i.target)).toEqual(['src/auth', 'src/client', 'src/http', 'src/odata', 'node:fs']);
  });
});
