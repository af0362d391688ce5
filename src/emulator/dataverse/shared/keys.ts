/**
 * Key resolution: a key predicate (`(<guid>)`, `(accountid=<guid>)`, `(accountnumber='AN-1')`, with
 * parameter aliases) or an entity reference (`/contacts(<id>)`, an absolute URL, `$1` in a batch) to
 * its entity set and row (dp/webapi/retrieve-entity-using-web-api.md, use-alternate-key-reference-record.md).
 */
import type { RequestContext } from '../context';
import { DataverseHttpError, dvErrors } from '../errors';
import { parseKey, parsePath, parseQueryString, type KeyValue } from '../query';
import type { ColumnInfo, EntitySetInfo } from '../schema';
import type { Row } from '../store';

/** A resolved key predicate. */
export interface Found {
  /** The row, when one has the key. */
  row?: Row;
  /** Key columns from the URL, used as preset values when an upsert creates the row. */
  keyColumns: Row;
  /** The 404 to answer when the row is needed and absent. */
  describe: () => DataverseHttpError;
}

/** A key value typed for its column; Dataverse answers a value of the wrong literal type with a syntax error. */
function keyValue(column: ColumnInfo | undefined, name: string, v: KeyValue): unknown {
  if (!column) throw dvErrors.badRequest(`The key property '${name}' does not exist.`);
  if (v.kind === 'null') return null;
  if (column.kind === 'guid') {
    // Edm.Guid keys are written unquoted (OData ABNF); a quoted GUID is a syntax error in Dataverse.
    if (v.kind !== 'guid') throw dvErrors.syntax('Bad Request - Error in query syntax.');
    return String(v.value).toLowerCase();
  }
  if (column.kind === 'string' && v.kind !== 'string') throw dvErrors.syntax('Bad Request - Error in query syntax.');
  if (column.kind === 'number' && v.kind !== 'number') throw dvErrors.syntax('Bad Request - Error in query syntax.');
  return v.value;
}

/** Replaces parameter aliases in a key predicate with their values from the query string. */
function resolveKeyText(ctx: RequestContext, args: string): string {
  if (!args.includes('@')) return args;
  const q = parseQueryString(ctx.req.query);
  return args.replace(/@[A-Za-z_][A-Za-z0-9_]*/g, (alias) => q.find((p) => p.name === alias)?.value ?? alias);
}

/** Resolves a key predicate (primary key or a declared alternate key) to the row, if any. */
export function find(ctx: RequestContext, set: EntitySetInfo, args: string): Found {
  const { store } = ctx.env;
  const key = parseKey(resolveKeyText(ctx, args));
  if (key.single) {
    const id = keyValue(set.columns.get(set.key), set.key, key.single);
    const text = String(id);
    const row = store.get(set.name, text);
    return { ...(row ? { row } : {}), keyColumns: { [set.key]: id }, describe: () => dvErrors.recordNotFound(set.logicalName, text) };
  }
  const named = key.named ?? new Map<string, KeyValue>();
  // Elastic tables: one documented example writes the partition key `partitionId=` inside the key
  // (use-elastic-tables.md); the column is `partitionid`, and both spellings address it.
  if (named.has('partitionId') && !named.has('partitionid') && set.columns.has('partitionid')) {
    named.set('partitionid', named.get('partitionId') as KeyValue);
    named.delete('partitionId');
  }
  if (named.size === 1 && named.has(set.key)) {
    const id = keyValue(set.columns.get(set.key), set.key, named.get(set.key) as KeyValue);
    const text = String(id);
    const row = store.get(set.name, text);
    return { ...(row ? { row } : {}), keyColumns: { [set.key]: id }, describe: () => dvErrors.recordNotFound(set.logicalName, text) };
  }
  const names = [...named.keys()].sort().join(',');
  const declared = set.alternateKeys.find((k) => [...k].sort().join(',') === names);
  if (!declared) {
    throw dvErrors.badRequest(
      `Invalid key '${[...named.keys()].join(',')}' for entity '${set.logicalName}': the key must be the primary key or one of the alternate keys defined for the entity.`,
      '0x80060891',
    );
  }
  const values: Row = {};
  for (const [name, v] of named) values[name] = keyValue(set.columns.get(name), name, v);
  const row = store.findByAlternateKey(set.name, values);
  return { ...(row ? { row } : {}), keyColumns: values, describe: () => dvErrors.recordNotFoundByKey(set.logicalName, args) };
}

/** Resolves an entity reference (`/contacts(id)`, `contacts(id)`, an absolute URL or `$n`) to its set and row. */
export function resolveReference(ctx: RequestContext, ref: unknown): { set: EntitySetInfo; row: Row } {
  if (typeof ref !== 'string' || ref.length === 0) throw dvErrors.badRequest(`The entity reference '${String(ref)}' is not a valid URL.`);
  let text = ref;
  if (text.startsWith('$')) {
    const m = /^\$([^/]+)(.*)$/.exec(text);
    const target = m ? ctx.contentIds?.get(m[1] as string) : undefined;
    if (!m || target === undefined) throw dvErrors.badRequest(`Content-ID Reference: '${text}' does not exist in the batch context.`);
    text = target + (m[2] ?? '');
  }
  text = text.replace(/^https?:\/\/[^/]+/i, '').replace(/^\/?api\/data\/v\d+\.\d+\//i, '').replace(/^\//, '');
  const segs = parsePath(text.split('?')[0] ?? '');
  const seg = segs[0];
  const set = seg ? ctx.env.schema.sets.get(seg.name) : undefined;
  if (!seg || !set || seg.args === undefined || segs.length !== 1) {
    throw dvErrors.badRequest(`The entity reference '${ref}' does not identify a record: expected '<entityset>(<key>)'.`);
  }
  const found = find(ctx, set, seg.args);
  if (!found.row) throw found.describe();
  return { set, row: found.row };
}
