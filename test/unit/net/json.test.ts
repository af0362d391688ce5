import { DynamicsError, ErrorCode } from '../../../src/errors';
import { serializeJson } from '../../../src/net/json';

function refused(value: unknown, argument = 'record'): DynamicsError {
  try {
    serializeJson(value, argument);
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

describe('serializeJson (issue 11, item 14)', () => {
  it('writes JSON as JSON.stringify does', () => {
    expect(serializeJson({ name: 'x', n: [1, null], d: new Date(0) }, 'record')).toBe('{"name":"x","n":[1,null],"d":"1970-01-01T00:00:00.000Z"}');
  });

  it('names the path of a BigInt', () => {
    expect(refused({ a: { list: [1, 2n] } }).message).toBe(
      'record: expected a JSON-serialisable value, but record.a.list[1] is a BigInt (send it as a string, or as a number when it is below 2^53)',
    );
  });

  it('names both ends of a cycle', () => {
    const record: Record<string, unknown> = { items: [{}] };
    (record.items as Array<Record<string, unknown>>)[0].owner = record;
    expect(refused(record).message).toBe('record: expected a JSON-serialisable value, but record.items[0].owner refers back to record (a cycle cannot be sent as JSON)');
  });

  it('quotes keys that are not identifiers', () => {
    expect(refused({ 'odata.bind@x y': 1n }, 'body').message).toMatch(/^body: .*body\["odata\.bind@x y"\] is a BigInt/);
  });

  it('names a toJSON or a getter that throws', () => {
    expect(refused({ when: { toJSON: () => { throw new Error('secret-free'); } } }).message).toMatch(/but record\.when\.toJSON\(\) threw$/);
    expect(refused(Object.defineProperty({}, 'x', { enumerable: true, get: () => { throw new Error('no'); } })).message).toMatch(/but reading record\.x threw$/);
  });

  it('refuses nesting deeper than JSON.stringify can go, without a RangeError', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(refused(deep).message).toMatch(/^record: expected a JSON-serialisable value/);
  });

  it('refuses values that write nothing', () => {
    expect(refused(undefined, 'params').message).toBe('params: expected a JSON-serialisable value, got undefined');
    expect(refused(() => 1, 'params').message).toBe('params: expected a JSON-serialisable value, got a function');
  });
});
