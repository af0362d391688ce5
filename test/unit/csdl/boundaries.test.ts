/**
 * src/csdl is the pure CSDL reader the generator and the emulator share: it imports nothing else of
 * ours and no Node built-in (no file, network or process access), only the XML parser. The layering
 * between src/ folders (codegen and emulator apart from the runtime client) is checked by
 * dependency-cruiser in test/architecture; this adds what a folder rule cannot say: no I/O.
 * Import specifiers are read with TypeScript's own pre-processor, so `import type`, `export … from`,
 * `require()` and `typeof import()` all count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const CSDL = path.resolve(__dirname, '../../../src/csdl');
/** The one package src/csdl may import. */
const ALLOWED = new Set(['fast-xml-parser']);

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return filesUnder(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** What `text` (the source of `file`) imports that src/csdl may not: `spec` (and where a relative one leads). */
function refused(file: string, text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.flatMap(({ fileName: spec }) => {
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(file), spec);
      return target === CSDL || target.startsWith(CSDL + path.sep) ? [] : [`${spec} (${path.relative(CSDL, target)})`];
    }
    return ALLOWED.has(spec) ? [] : [spec];
  });
}

describe('src/csdl stays pure', () => {
  it('imports only itself and the XML parser: nothing else of ours, no Node built-in', () => {
    const problems = filesUnder(CSDL).flatMap((file) => refused(file, fs.readFileSync(file, 'utf8')).map((r) => `${path.relative(CSDL, file)}: ${r}`));
    expect(problems).toEqual([]);
  });

  it('sees every kind of import, so the check above can fail', () => {
    const file = path.join(CSDL, 'model/example.ts');
    const text = [
      "import type { A } from '../../auth';",
      "export { b } from '../read';",
      "const c = require('node:fs') as typeof import('../../codegen');",
      "import { XMLParser } from 'fast-xml-parser';",
      "import * as os from 'os';",
    ].join('\n');
    expect(refused(file, text)).toEqual(['../../auth (../auth)', 'node:fs', '../../codegen (../codegen)', 'os']);
  });
});
