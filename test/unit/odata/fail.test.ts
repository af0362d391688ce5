import { DynamicsError, ErrorCode } from '../../../src/errors';
import { invalidArgument, quote } from '../../../src/odata/fail';
import { formatKey } from '../../../src/odata/keys';

/** A DAG whose JSON is 2^levels leaves long, counting every value JSON.stringify reads through a getter. */
function countingDag(levels: number): { value: unknown; reads: () => number } {
  let reads = 0;
  let node: unknown = 1;
  for (let i = 0; i < levels; i++) {
    const child = node;
    node = Object.defineProperties({}, {
      a: { enumerable: true, get: () => (reads++, child) },
      b: { enumerable: true, get: () => (reads++, child) },
    });
  }
  return { value: node, reads: () => reads };
}

describe('quoting a bad argument in an error (issue 11, item 14: cap what errors quote)', () => {
  it('quotes small values as JSON, as before', () => {
    expect(quote({ a: 1 })).toBe('{"a":1}');
    expect(quote([1, 'x'])).toBe('[1,"x"]');
    expect(quote('x'.repeat(500))).toBe(`"${'x'.repeat(80)}…"`);
  });

  it('reads only a bounded part of an argument whose JSON would be exponentially long', () => {
    const dag = countingDag(20);
    const error = invalidArgument('key', 'a GUID', dag.value);
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toBe('key: expected a GUID, got an object with the keys "a", "b"');
    // Writing it out would read 2^21 values.
    expect(dag.reads()).toBeLessThan(1_000);
  });

  it('does so where a real check quotes the argument (formatKey of an array)', () => {
    const dag = countingDag(20);
    expect(() => formatKey([dag.value] as never)).toThrow(DynamicsError);
    expect(dag.reads()).toBeLessThan(1_000);
  });

  it('describes what cannot be written: cycles, BigInts, throwing getters', () => {
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    expect(quote(cyclic)).toBe('an object with the keys "name", "self"');
    expect(quote({ n: 1n })).toBe('an object with the key "n"');
    expect(quote(Object.defineProperty({}, 'x', { enumerable: true, get: () => { throw new Error('no'); } }))).toBe('an object with the key "x"');
    expect(quote(new Array(300).fill(0))).toBe('an array of 300 items');
  });
});
