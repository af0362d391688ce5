/**
 * Small CSDL inputs give the expected files (test/codegen/fixtures/<name>/expected/). After an
 * intended change to the output, review the diff and refresh with
 * `UPDATE_CODEGEN_FIXTURES=1 npx jest test/codegen/fixtures.test.ts`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generate } from '../../src/codegen';

const FIXTURES = path.join(__dirname, 'fixtures');
const update = process.env['UPDATE_CODEGEN_FIXTURES'] === '1';

describe.each(fs.readdirSync(FIXTURES).filter((d) => fs.statSync(path.join(FIXTURES, d)).isDirectory()))('fixture %s', (name) => {
  const dir = path.join(FIXTURES, name);
  const expectedDir = path.join(dir, 'expected');

  it('emits exactly the expected files', async () => {
    const optionSets = path.join(dir, 'option-sets.json');
    const result = await generate({
      metadata: path.join(dir, 'metadata.xml'),
      ...(fs.existsSync(optionSets) ? { optionSets } : {}),
      write: false,
      generatorVersion: '0.0.0-fixture',
    });
    if (update) {
      fs.rmSync(expectedDir, { recursive: true, force: true });
      fs.mkdirSync(expectedDir, { recursive: true });
      for (const f of result.files) fs.writeFileSync(path.join(expectedDir, f.path), f.content);
    }
    expect(result.files.map((f) => f.path)).toEqual(fs.readdirSync(expectedDir).sort());
    for (const f of result.files) expect({ path: f.path, content: f.content }).toEqual({ path: f.path, content: fs.readFileSync(path.join(expectedDir, f.path), 'utf8') });
  });

  it('is deterministic: the same input gives byte-identical files', async () => {
    const once = await generate({ metadata: path.join(dir, 'metadata.xml'), write: false, generatorVersion: 'x' });
    const twice = await generate({ metadata: fs.readFileSync(path.join(dir, 'metadata.xml'), 'utf8'), sourceLabel: 'metadata.xml', write: false, generatorVersion: 'x' });
    expect(twice.files).toEqual(once.files);
  });
});
