/**
 * The committed generated/ folder compiles under strict options, and the type tests in
 * usage/default-schema.ts hold against the real DynamicsClient typings.
 */
import * as path from 'node:path';
import { REPO, errors, tsc } from './tsc';

const GENERATED = path.join(REPO, 'generated');

describe('generated/ (the emulator default schema)', () => {
  it('compiles under strict, noUnusedLocals and noUncheckedIndexedAccess', async () => {
    const result = await tsc({ include: [`${GENERATED}/*.ts`] });
    expect(errors(result)).toBe('');
    expect(result.code).toBe(0);
  }, 180_000);

  it('the small codegen fixture compiles too (open types, flags enums, function literals, overloads)', async () => {
    const result = await tsc({ include: [`${path.join(REPO, 'test/codegen/fixtures/small/expected')}/*.ts`] });
    expect(errors(result)).toBe('');
    expect(result.code).toBe(0);
  }, 180_000);

  it('types DynamicsClient<Schema>: select narrows, binds and create inputs are checked (expectTypeOf, @ts-expect-error)', async () => {
    // The library itself is checked by `npm run build` with its own options; here only the usage
    // file and the generated files must be free of errors (a failed expectation, or a
    // ts-expect-error directive that is not needed, shows up in the usage file).
    const result = await tsc(
      { files: [path.join(__dirname, 'usage/default-schema.ts'), path.join(__dirname, 'usage/queries.ts')] },
      { noUncheckedIndexedAccess: false, noUnusedLocals: false, noUnusedParameters: false, experimentalDecorators: true, emitDecoratorMetadata: true, types: ['node'] },
    );
    const mine = errors(result)
      .split('\n')
      .filter((l) => l.startsWith('test/compile/') || l.startsWith('generated/') || l.includes('default-schema.ts') || l.includes('queries.ts'))
      .join('\n');
    expect(mine).toBe('');
    expect(result.loaded.some((f) => f.endsWith(path.join('generated', 'account.ts')))).toBe(true);
  }, 180_000);
});
