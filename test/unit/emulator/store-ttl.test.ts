/**
 * The emulator's store and `ttlinseconds` on elastic tables: a row's time to live counts from its last
 * write, a row read back from the data file keeps its clock (modifiedon), expiry is reported to change
 * tracking like any deletion, and a table without the column keeps no expiry at all.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../../src/csdl';
import { buildSchema } from '../../../src/emulator/dataverse/schema';
import { DataStore } from '../../../src/emulator/dataverse/store';
import { DEFAULT_METADATA_XML } from '../../../src/emulator/schema/default-metadata';

const schema = buildSchema(loadModel(DEFAULT_METADATA_XML));
const SET = 'sample_sensordatas';
const ID = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

describe('time to live in the store', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-ttl-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a row loaded from the data file expires by its modifiedon; one still in its time stays', () => {
    const now = Date.now();
    const stamp = (msAgo: number) => new Date(now - msAgo).toISOString();
    const dataFile = path.join(dir, 'data.json');
    const rows = [
      { sample_sensordataid: ID(1), partitionid: 'p', ttlinseconds: 5, modifiedon: stamp(10_000) },
      { sample_sensordataid: ID(2), partitionid: 'p', ttlinseconds: 3600, modifiedon: stamp(10_000) },
      { sample_sensordataid: ID(3), partitionid: 'p', modifiedon: stamp(10_000_000) },
    ];
    fs.writeFileSync(dataFile, JSON.stringify({ format: 'dynamics-odata-emulator/1', rowVersion: 5, tables: { [SET]: rows }, links: {} }));
    const store = new DataStore(schema, dataFile);
    store.load();
    const before = store.currentRowVersion();
    expect(store.rows(SET).map((r) => r['sample_sensordataid']).sort()).toEqual([ID(2), ID(3)]);
    // Reported as deleted, after every version that existed before.
    expect(store.deletedSince(SET, 0, Number.MAX_SAFE_INTEGER)).toEqual([{ id: ID(1), version: expect.any(Number) }]);
    expect(store.deletedSince(SET, 0, Number.MAX_SAFE_INTEGER)[0]?.version).toBeGreaterThan(before);
  });

  it('counts from the last write, and a write without ttlinseconds ends the clock', () => {
    const store = new DataStore(schema, undefined);
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const [a, b] = store.insert(SET, [
      { sample_sensordataid: ID(1), partitionid: 'p', ttlinseconds: 10 },
      { sample_sensordataid: ID(2), partitionid: 'p', ttlinseconds: 10 },
    ]) as [string, string];
    now += 9_000;
    store.update(SET, a, { sample_value: 1 }, new Date(now));
    store.update(SET, b, { ttlinseconds: null }, new Date(now));
    now += 1_001;
    // b lost its time to live; a's started again at the update.
    expect(store.count(SET)).toBe(2);
    now += 9_000;
    expect(store.rows(SET).map((r) => r['sample_sensordataid'])).toEqual([b]);
  });

  it('a table without ttlinseconds is never swept', () => {
    const store = new DataStore(schema, undefined);
    const spy = jest.spyOn(Date, 'now');
    store.insert('accounts', [{ name: 'a', ttlinseconds: 1 }]);
    spy.mockClear();
    store.rows('accounts');
    expect(spy).not.toHaveBeenCalled();
  });
});
