/**
 * The committed generator output (generated/, and the demo's src/cli/demo/models/) must be exactly
 * what `npm run generate` produces now. When this fails, run `npm run generate` and commit the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATED_MARKER, generate } from '../../src/codegen';
import { DEMO_MODEL_TABLES, generateTargets } from '../../scripts/generate';

describe.each(generateTargets())('$folder', ({ options }) => {
  it('is up to date with the emulator default schema (run `npm run generate` if not)', async () => {
    const result = await generate({ ...options, write: false });
    const dir = options.out!;
    const committed = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && fs.readFileSync(path.join(dir, f), 'utf8').startsWith(GENERATED_MARKER))
      .sort();
    expect(committed).toEqual(result.files.map((f) => f.path));
    for (const f of result.files) {
      // One file at a time so a failure names the file that differs.
      expect({ file: f.path, content: fs.readFileSync(path.join(dir, f.path), 'utf8') }).toEqual({ file: f.path, content: f.content });
    }
  });

  it('holds nothing but generator output', () => {
    const stray = fs.readdirSync(options.out!).filter((f) => !fs.readFileSync(path.join(options.out!, f), 'utf8').startsWith(GENERATED_MARKER));
    expect(stray).toEqual([]);
  });
});

it("the demo's tables are the same files as in generated/ (one generator, one schema)", () => {
  const [all, demo] = generateTargets().map((t) => t.options.out!);
  for (const table of DEMO_MODEL_TABLES) {
    expect({ table, same: fs.readFileSync(path.join(demo!, `${table}.ts`), 'utf8') === fs.readFileSync(path.join(all!, `${table}.ts`), 'utf8') }).toEqual({ table, same: true });
  }
});
