import { chunkTargets, MAX_BULK_PAYLOAD_BYTES, parseBulkFailures } from '../../../src/odata/bulk';

const ids = (records: object[], size: number, bytes = MAX_BULK_PAYLOAD_BYTES) => [...chunkTargets(records, size, bytes, (r) => r)].map((c) => [c.start, c.end]);

describe('chunkTargets', () => {
  it('cuts by count', () => {
    expect(ids(Array.from({ length: 7 }, () => ({ a: 1 })), 3)).toEqual([
      [0, 3],
      [3, 6],
      [6, 7],
    ]);
  });

  it('cuts by encoded size, counting UTF-8 bytes, and every body is exactly the measured size', () => {
    const records = Array.from({ length: 6 }, () => ({ s: 'é'.repeat(100) }));
    const chunks = [...chunkTargets(records, 1000, 500, (r) => r)];
    // Each record is 209 bytes encoded ({"s":"…"} with 100 two-byte characters): two fit in 500 with the envelope.
    expect(chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
    for (const c of chunks) {
      expect(Buffer.byteLength(c.body)).toBe(c.bytes);
      expect(c.bytes).toBeLessThanOrEqual(500);
      expect(JSON.parse(c.body).Targets).toHaveLength(2);
    }
  });

  it('refuses a record larger than the limit on its own, naming it', () => {
    expect(() => ids([{ a: 1 }, { s: 'x'.repeat(600) }], 10, 500)).toThrow(/records\[1\]/);
  });

  it('refuses a record JSON cannot write, naming its path', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['me'] = cyclic;
    expect(() => ids([cyclic], 10)).toThrow(/records\[0\]/);
  });
});

describe('parseBulkFailures', () => {
  it('reads the SDK shape as a JSON string or as an array', () => {
    const list = [{ RequestIndex: 2, Id: 'abc', StatusCode: 412 }];
    expect(parseBulkFailures({ error: { code: 'x', message: 'm', '@Microsoft.PowerApps.CDS.ErrorDetails.BulkApiErrorDetails': JSON.stringify(list) } })).toEqual([{ requestIndex: 2, id: 'abc', status: 412 }]);
    expect(parseBulkFailures({ error: { code: 'x', message: 'm', 'Plugin.BulkApiErrorDetails': list } })).toEqual([{ requestIndex: 2, id: 'abc', status: 412 }]);
  });

  it('gives undefined for anything it cannot trust', () => {
    expect(parseBulkFailures({ error: { code: 'x', message: 'm' } })).toBeUndefined();
    expect(parseBulkFailures({ error: { BulkApiErrorDetails: '[{' } })).toBeUndefined();
    expect(parseBulkFailures({ error: { BulkApiErrorDetails: [{ RequestIndex: -1, StatusCode: 400 }] } })).toBeUndefined();
    expect(parseBulkFailures(undefined)).toBeUndefined();
  });
});
