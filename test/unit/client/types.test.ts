/**
 * Type tests: fixtures/typed-usage.ts uses DynamicsClient with a schema (as the generator emits one)
 * and asserts with expectTypeOf and `// @ts-expect-error` that `select` narrows results and that
 * misspelled entity sets and columns do not compile. An unused @ts-expect-error is itself an error.
 */
import * as path from 'node:path';
import * as ts from 'typescript';

it('typed-usage.ts compiles, and every @ts-expect-error line is an error', () => {
  const file = path.join(__dirname, 'fixtures', 'typed-usage.ts');
  const config = ts.readConfigFile(path.resolve(__dirname, '../../../tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, path.resolve(__dirname, '../../..'));
  const program = ts.createProgram([file], { ...parsed.options, noEmit: true, rootDir: path.resolve(__dirname, '../../..') });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || d.file.fileName === file || d.file.fileName.includes('/src/client/'));
  const text = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(text).toEqual([]);
}, 120_000);
