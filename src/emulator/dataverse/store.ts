/**
 * In-memory tables of the emulator, one per entity set, with primary and alternate-key indexes,
 * N:N relationship links, an undo journal for atomic change sets, and optional JSON persistence.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EmulatorStore } from '../types';
import { dvErrors } from './errors';
import type { EntitySetInfo, ServiceSchema } from './schema';
import { isElastic } from './shared/tables';

export type Row = Record<string, unknown>;

interface Table {
  info: EntitySetInfo;
  rows: Map<string, Row>;
  /** Bumped on every change: query caches compare it to know whether a sorted result is still valid. */
  version: number;
  /** Per alternate key (columns joined by ','): folded key values → row id. */
  altIndex: Map<string, Map<string, string>>;
  /** Elastic tables with `ttlinseconds`: when each row that has one expires (`Date.now()` ms). */
  ttl?: Map<string, number>;
  /** The earliest expiry in `ttl`, or later (a sweep then finds nothing); Infinity when none. */
  nextExpiry: number;
}

const SYSTEM_STATE_DEFAULTS: Record<string, number> = { statecode: 0, statuscode: 1 };

/** Normalises a primary-key value the way the store keys rows (GUIDs lower case). */
export function normaliseId(value: unknown): string {
  return String(value).toLowerCase();
}

function altValue(v: unknown): string {
  return typeof v === 'string' ? v.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase() : JSON.stringify(v);
}

/** The data file's shape. */
interface DataFile {
  format: 'dynamics-odata-emulator/1';
  rowVersion: number;
  tables: Record<string, Row[]>;
  links: Record<string, [string, string][]>;
}

export class DataStore implements EmulatorStore {
  private readonly tables = new Map<string, Table>();
  /** N:N links per relationship key: `idA|idB` with the two ids in the relationship's side order. */
  private readonly links = new Map<string, Set<string>>();
  private rowVersion = 1_000_000;
  private journal: (() => void)[] | undefined;
  /** Change tracking: per entity set, the ids deleted with the row version of their deletion (ascending). */
  private readonly deletions = new Map<string, { id: string; version: number }[]>();
  /** Delta tokens of a version below this are expired ({@link expireDeltaTokens}). */
  private deltaFloor = 0;
  /** Entity sets whose bulk messages were turned off ({@link setBulkMessagesSupported}). */
  private readonly bulkUnsupported = new Set<string>();
  private saveTimer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly schema: ServiceSchema,
    private readonly dataFile?: string,
  ) {
    for (const info of schema.sets.values()) {
      this.tables.set(info.name, {
        info,
        rows: new Map(),
        version: 0,
        altIndex: new Map(info.alternateKeys.map((k) => [k.join(','), new Map()])),
        ...(isElastic(info) && info.columns.has('ttlinseconds') ? { ttl: new Map<string, number>() } : {}),
        nextExpiry: Infinity,
      });
    }
  }

  // ---- EmulatorStore (direct access for tests) ----

  entitySets(): string[] {
    return [...this.tables.keys()];
  }
  count(entitySet: string): number {
    return this.table(entitySet).rows.size;
  }
  rows(entitySet: string): Record<string, unknown>[] {
    return [...this.table(entitySet).rows.values()].map((r) => ({ ...r }));
  }
  insert(entitySet: string, rows: Record<string, unknown>[]): string[] {
    const t = this.table(entitySet);
    return rows.map((r) => this.create(t.info.name, this.withSystemColumns(t.info, { ...r }, new Date())));
  }
  expireDeltaTokens(): void {
    this.deltaFloor = this.nextRowVersion();
  }
  setBulkMessagesSupported(entitySet: string, supported: boolean): void {
    this.table(entitySet);
    if (supported) this.bulkUnsupported.delete(entitySet);
    else this.bulkUnsupported.add(entitySet);
  }
  clear(entitySet?: string): void {
    const targets = entitySet ? [this.table(entitySet)] : [...this.tables.values()];
    for (const t of targets) {
      this.deletions.delete(t.info.name);
      t.rows.clear();
      for (const idx of t.altIndex.values()) idx.clear();
      t.ttl?.clear();
      t.nextExpiry = Infinity;
      t.version++;
    }
    if (!entitySet) this.links.clear();
    this.changed();
  }

  // ---- internal API ----

  table(entitySet: string): Table {
    const t = this.tables.get(entitySet);
    if (!t) throw new RangeError(`entitySet: '${entitySet}' is not an entity set of the emulator's $metadata`);
    if (t.nextExpiry !== Infinity && t.nextExpiry <= Date.now()) this.expire(t);
    return t;
  }

  // ---- time to live (elastic tables) ----

  /**
   * Notes when a row of an elastic table expires: `ttlinseconds` after its last write ("the row is
   * deleted automatically after the time to live", use-elastic-tables). From which write the time counts
   * is not documented: the emulator counts from the latest, as the Cosmos DB store behind elastic
   * tables does, so an update extends a row's life.
   */
  private trackTtl(t: Table, id: string, row: Row, writtenAt = Date.now()): void {
    if (t.ttl === undefined) return;
    const seconds = row['ttlinseconds'];
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
      t.ttl.delete(id);
      return;
    }
    this.setExpiry(t, id, writtenAt + seconds * 1000);
  }

  private setExpiry(t: Table, id: string, at: number): void {
    t.ttl?.set(id, at);
    if (at < t.nextExpiry) t.nextExpiry = at;
  }

  /**
   * Deletes the rows whose time to live has passed. Like any deletion, change tracking reports them
   * (a synchronised copy must lose them too); they are outside any change set's journal.
   */
  private expire(t: Table): void {
    const ttl = t.ttl as Map<string, number>;
    const now = Date.now();
    let next = Infinity;
    let expired = false;
    for (const [id, at] of ttl) {
      if (at > now) {
        if (at < next) next = at;
        continue;
      }
      ttl.delete(id);
      const row = t.rows.get(id);
      if (row === undefined) continue;
      this.unindexAlternateKeys(t, row);
      t.rows.delete(id);
      t.version++;
      this.deletionsOf(t.info.name).push({ id, version: this.nextRowVersion() });
      expired = true;
    }
    t.nextExpiry = next;
    if (expired) this.changed();
  }

  // ---- change tracking and bulk support ----

  /** The row version a delta token issued now stands for: every change so far has a version at or below it. */
  currentRowVersion(): number {
    return this.rowVersion;
  }
  /** Whether a delta token of `version` has expired. */
  isDeltaExpired(version: number): boolean {
    return version < this.deltaFloor;
  }
  /** The deletions of `entitySet` so far, oldest first: where a new one is recorded. */
  private deletionsOf(entitySet: string): { id: string; version: number }[] {
    let list = this.deletions.get(entitySet);
    if (list === undefined) this.deletions.set(entitySet, (list = []));
    return list;
  }

  /** Rows deleted from `entitySet` with a deletion version in (`after`, `upTo`], oldest first. */
  deletedSince(entitySet: string, after: number, upTo: number): { id: string; version: number }[] {
    const list = this.deletions.get(entitySet) ?? [];
    return list.filter((d) => d.version > after && d.version <= upTo);
  }
  bulkMessagesSupported(entitySet: string): boolean {
    return !this.bulkUnsupported.has(entitySet);
  }

  version(entitySet: string): number {
    return this.table(entitySet).version;
  }

  nextRowVersion(): number {
    this.rowVersion += 1;
    return this.rowVersion;
  }

  /** Fills the columns Dataverse sets on create: key, createdon/modifiedon, versionnumber, statecode/statuscode. */
  withSystemColumns(info: EntitySetInfo, row: Row, now: Date): Row {
    if (row[info.key] === undefined || row[info.key] === null) row[info.key] = randomUUID();
    else row[info.key] = info.keyKind === 'guid' ? normaliseId(row[info.key]) : row[info.key];
    const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (info.columns.has('createdon') && row['createdon'] === undefined) row['createdon'] = stamp;
    if (info.columns.has('modifiedon') && row['modifiedon'] === undefined) row['modifiedon'] = stamp;
    for (const [col, value] of Object.entries(SYSTEM_STATE_DEFAULTS)) {
      if (info.columns.has(col) && (row[col] === undefined || row[col] === null)) row[col] = value;
    }
    row['versionnumber'] = this.nextRowVersion();
    return row;
  }

  get(entitySet: string, id: string): Row | undefined {
    return this.table(entitySet).rows.get(normaliseId(id));
  }

  /** Finds a row by alternate-key values (all columns of one declared key). */
  findByAlternateKey(entitySet: string, values: Record<string, unknown>): Row | undefined {
    const t = this.table(entitySet);
    const cols = Object.keys(values).sort();
    for (const key of t.info.alternateKeys) {
      if ([...key].sort().join(',') !== cols.join(',')) continue;
      const id = t.altIndex.get(key.join(','))?.get(key.map((k) => altValue(values[k])).join('\u0000'));
      return id === undefined ? undefined : t.rows.get(id);
    }
    return undefined;
  }

  allRows(entitySet: string): IterableIterator<Row> {
    return this.table(entitySet).rows.values();
  }

  /** Inserts a complete row (system columns already applied). Duplicate primary or alternate keys are 412s. */
  create(entitySet: string, row: Row): string {
    const t = this.table(entitySet);
    const id = normaliseId(row[t.info.key]);
    if (t.rows.has(id)) throw dvErrors.duplicateKey();
    this.checkAlternateKeys(t, row, undefined);
    t.rows.set(id, row);
    this.indexAlternateKeys(t, row, id);
    this.trackTtl(t, id, row);
    t.version++;
    this.record(() => {
      this.unindexAlternateKeys(t, row);
      t.rows.delete(id);
      t.ttl?.delete(id);
      t.version++;
    });
    this.changed();
    return id;
  }

  /** Applies changes to an existing row, bumping versionnumber and modifiedon. */
  update(entitySet: string, id: string, changes: Row, now: Date): Row {
    const t = this.table(entitySet);
    const key = normaliseId(id);
    const row = t.rows.get(key);
    if (!row) throw dvErrors.recordNotFound(t.info.logicalName, id);
    const next: Row = { ...row, ...changes };
    if (t.info.columns.has('modifiedon')) next['modifiedon'] = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    next['versionnumber'] = this.nextRowVersion();
    this.checkAlternateKeys(t, next, key);
    this.unindexAlternateKeys(t, row);
    t.rows.set(key, next);
    this.indexAlternateKeys(t, next, key);
    const expiry = t.ttl?.get(key);
    this.trackTtl(t, key, next);
    t.version++;
    this.record(() => {
      this.unindexAlternateKeys(t, next);
      t.rows.set(key, row);
      this.indexAlternateKeys(t, row, key);
      if (expiry === undefined) t.ttl?.delete(key);
      else this.setExpiry(t, key, expiry);
      t.version++;
    });
    this.changed();
    return next;
  }

  remove(entitySet: string, id: string): void {
    const t = this.table(entitySet);
    const key = normaliseId(id);
    const row = t.rows.get(key);
    if (!row) throw dvErrors.recordNotFound(t.info.logicalName, id);
    this.unindexAlternateKeys(t, row);
    t.rows.delete(key);
    const expiry = t.ttl?.get(key);
    t.ttl?.delete(key);
    t.version++;
    // Change tracking reports deletions after upserts, each once (use-change-tracking-synchronize-data-external-systems.md).
    const deleted = this.deletionsOf(entitySet);
    deleted.push({ id: key, version: this.nextRowVersion() });
    this.record(() => {
      deleted.pop();
      t.rows.set(key, row);
      this.indexAlternateKeys(t, row, key);
      if (expiry !== undefined) this.setExpiry(t, key, expiry);
      t.version++;
    });
    this.changed();
  }

  // ---- N:N links ----

  private linkKey(relationship: string, sideFirst: boolean, a: string, b: string): string {
    return sideFirst ? `${a}|${b}` : `${b}|${a}`;
  }

  /** True when `fromType/nav` is the first side of the relationship key. */
  private isFirstSide(relationship: string, fromType: string, nav: string): boolean {
    return relationship.startsWith(`${fromType}/${nav}|`);
  }

  link(relationship: string, fromType: string, nav: string, fromId: string, toId: string): void {
    const set = this.links.get(relationship) ?? new Set<string>();
    this.links.set(relationship, set);
    const k = this.linkKey(relationship, this.isFirstSide(relationship, fromType, nav), normaliseId(fromId), normaliseId(toId));
    if (set.has(k)) return;
    set.add(k);
    this.record(() => set.delete(k));
    this.changed();
  }

  unlink(relationship: string, fromType: string, nav: string, fromId: string, toId: string): boolean {
    const set = this.links.get(relationship);
    const k = this.linkKey(relationship, this.isFirstSide(relationship, fromType, nav), normaliseId(fromId), normaliseId(toId));
    if (!set?.delete(k)) return false;
    this.record(() => set.add(k));
    this.changed();
    return true;
  }

  linked(relationship: string, fromType: string, nav: string, fromId: string): string[] {
    const set = this.links.get(relationship);
    if (!set) return [];
    const first = this.isFirstSide(relationship, fromType, nav);
    const id = normaliseId(fromId);
    const out: string[] = [];
    for (const k of set) {
      const [a, b] = k.split('|') as [string, string];
      if (first ? a === id : b === id) out.push(first ? b : a);
    }
    return out;
  }

  // ---- change sets ----

  /** Runs `fn` atomically: any throw undoes every change it made, in reverse order. */
  atomically<T>(fn: () => T): T {
    if (this.journal) return fn();
    this.journal = [];
    try {
      const result = fn();
      this.journal = undefined;
      return result;
    } catch (err) {
      const undo = this.journal ?? [];
      this.journal = undefined;
      for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
      throw err;
    }
  }

  /** Starts a transaction that the caller ends with the returned commit or rollback (for async change sets). */
  begin(): { commit(): void; rollback(): void } {
    if (this.journal) throw new Error('a change set is already in progress');
    this.journal = [];
    return {
      commit: () => {
        this.journal = undefined;
      },
      rollback: () => {
        const undo = this.journal ?? [];
        this.journal = undefined;
        for (let i = undo.length - 1; i >= 0; i--) (undo[i] as () => void)();
      },
    };
  }

  private record(undo: () => void): void {
    this.journal?.push(undo);
  }

  // ---- alternate keys ----

  private altEntries(t: Table, row: Row): [string, string][] {
    const out: [string, string][] = [];
    for (const key of t.info.alternateKeys) {
      if (key.some((k) => row[k] === undefined || row[k] === null)) continue;
      out.push([key.join(','), key.map((k) => altValue(row[k])).join('\u0000')]);
    }
    return out;
  }
  private checkAlternateKeys(t: Table, row: Row, selfId: string | undefined): void {
    for (const [name, value] of this.altEntries(t, row)) {
      const owner = t.altIndex.get(name)?.get(value);
      if (owner !== undefined && owner !== selfId) throw dvErrors.duplicateAlternateKey();
    }
  }
  private indexAlternateKeys(t: Table, row: Row, id: string): void {
    for (const [name, value] of this.altEntries(t, row)) t.altIndex.get(name)?.set(value, id);
  }
  private unindexAlternateKeys(t: Table, row: Row): void {
    for (const [name, value] of this.altEntries(t, row)) t.altIndex.get(name)?.delete(value);
  }

  // ---- persistence ----

  /** Loads the data file if it exists; rows of entity sets the metadata lacks are skipped. */
  load(): void {
    if (!this.dataFile || !fs.existsSync(this.dataFile)) return;
    const text = fs.readFileSync(this.dataFile, 'utf8');
    let data: DataFile;
    try {
      data = JSON.parse(text) as DataFile;
    } catch (err) {
      throw new Error(`dataFile: '${this.dataFile}' is not valid JSON (${(err as Error).message})`);
    }
    if (data.format !== 'dynamics-odata-emulator/1' || typeof data.tables !== 'object') {
      throw new Error(`dataFile: '${this.dataFile}' is not an emulator data file (expected format 'dynamics-odata-emulator/1')`);
    }
    this.rowVersion = Math.max(this.rowVersion, Number(data.rowVersion) || 0);
    for (const [set, rows] of Object.entries(data.tables)) {
      const t = this.tables.get(set);
      if (!t || !Array.isArray(rows)) continue;
      for (const row of rows) {
        const id = normaliseId(row[t.info.key]);
        t.rows.set(id, row);
        this.indexAlternateKeys(t, row, id);
        // A time to live counts from the row's last write, which the file keeps as modifiedon.
        const written = Date.parse(String(row['modifiedon'] ?? row['createdon'] ?? ''));
        this.trackTtl(t, id, row, Number.isFinite(written) ? written : Date.now());
      }
      t.version++;
    }
    for (const [rel, pairs] of Object.entries(data.links ?? {})) {
      this.links.set(rel, new Set(pairs.map(([a, b]) => `${a}|${b}`)));
    }
    this.dirty = false;
  }

  private changed(): void {
    if (!this.dataFile) return;
    this.dirty = true;
    if (this.saveTimer) return;
    // Debounced: a burst of writes (a batch, a seed) costs one file write.
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.flush();
    }, 250);
    this.saveTimer.unref();
  }

  /** Writes the data file now if anything changed (atomically: temp file then rename). */
  flush(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    if (!this.dataFile || !this.dirty) return;
    const data: DataFile = { format: 'dynamics-odata-emulator/1', rowVersion: this.rowVersion, tables: {}, links: {} };
    for (const [name, t] of this.tables) if (t.rows.size > 0) data.tables[name] = [...t.rows.values()];
    for (const [rel, set] of this.links) {
      if (set.size > 0) data.links[rel] = [...set].map((k) => k.split('|') as [string, string]);
    }
    fs.mkdirSync(path.dirname(this.dataFile), { recursive: true });
    const tmp = `${this.dataFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data));
    fs.renameSync(tmp, this.dataFile);
    this.dirty = false;
  }
}
