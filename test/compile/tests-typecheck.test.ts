/**
 * jest runs the tests through ts-jest in transpile-only mode, so a type error in a test (a wrong
 * option name, an assertion on a property the API does not have) would otherwise go unnoticed.
 * This runs the real tsc over src/ and test/ with test/tsconfig.json.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '../..');

it('every test file type-checks against src/ (tsc -p test/tsconfig.json)', () => {
  const run = spawnSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'test/tsconfig.json', '--pretty', 'false'], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 240_000,
  });
  const errors = `${run.stdout ?? ''}${run.stderr ?? ''}`.split('\n').filter((line) => line.includes('error TS'));
  expect(run.error).toBeUndefined();
  expect(errors).toEqual([]);
  expect(run.status).toBe(0);
}, 240_000);
