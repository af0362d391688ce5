/**
 * generated/ is committed; it must be exactly what `npm run generate` produces now. When this
 * fails, run `npm run generate` and commit the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATED_MARKER, generate } from '../../src/codegen';
import { defaultGenerateOptions } from '../../scripts/generate';

it('generated/ is up to date with the emulator default schema (run `npm run generate` if not)', async () => {
  const options = defaultGenerateOptions();
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
