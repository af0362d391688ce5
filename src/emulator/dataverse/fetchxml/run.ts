/**
 * Runs a {@link FetchQueryModel} against the store and answers as the Web API does for `?fetchXml=`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data,
 * …/fetchxml/page-results, …/fetchxml/join-tables, …/fetchxml/aggregate-data, …/fetchxml/order-rows):
 *
 * - rows hold the selected columns (`_x_value` for an unaliased lookup of the entity, the alias for an
 *   aliased one, `alias.column` for a linked table's), the entity's primary key and `@odata.etag`;
 *   null columns are left out;
 * - no `@odata.nextLink`, ever; a page with more after it carries `@Microsoft.Dynamics.CRM.morerecords`
 *   and `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` (its `pagingcookie` URL-encoded twice), each only
 *   when the request's `Prefer: odata.include-annotations` asks for it; the last page carries neither;
 * - the order is the entity's `<order>`s, then the link-entities' (after the entity's), then each
 *   table's primary key, so that every row has one place and a cookie resumes exactly after it; choice
 *   columns sort by label unless `useraworderby='true'`, lookups by the primary name of the row they
 *   point at;
 * - paging without a cookie (simple paging) reaches at most 50,000 rows; aggregates over more than
 *   50,000 rows (or `aggregatelimit`) fail with `8004E023`.
 *
 * Emulator choices where Microsoft documents no rule: `count` above 5,000 is served as 5,000; queries
 * that are `distinct`, aggregate, or ordered by a linked table's column get no cookie (they page by
 * number); a distinct row has no primary key or etag unless selected; the entity's `<entity name>`
 * must be the URL's table (400 otherwise); `totalrecordcount` is capped at 5,000 with
 * `totalrecordcountlimitexceeded: true` beyond.
 */
import type { ApiResponse, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { compareKeys, compareValues, fold, sortKey, type ValueKind } from '../filter';
import { formattedValue } from '../format';
import type { ColumnInfo, EntitySetInfo } from '../schema';
import type { Row } from '../store';
import { timeOf, type ConditionContext } from '../shared/conditions';
import { hierarchyParent } from '../shared/evaluation';
import { LOOKUP_LOGICAL, singleTarget } from '../shared/related';
import { jsonResponse } from '../shared/responses';
import { etagOf, preferenceApplied } from '../shared/shape';
import { joinedTuples, type Tuple } from './join';
import { attributeNameOf, invalid, MAX_FETCH_COUNT, type FetchAttribute, type FetchQueryModel, type FetchTable } from './query';
import { parseXml, type XmlElement } from './xml';

type Key = (string | number | null)[];

/** Rows simple paging (no cookie) reaches at most (fetchxml/page-results). */
export const MAX_SIMPLE_PAGING_ROWS = 50_000;
/** Rows an aggregate may cover (fetchxml/aggregate-data). */
export const MAX_AGGREGATE_ROWS = 50_000;
const FORMATTED = 'OData.Community.Display.V1.FormattedValue';
const ATTRIBUTE_NAME = 'OData.Community.Display.V1.AttributeName';
const COOKIE = 'Microsoft.Dynamics.CRM.fetchxmlpagingcookie';
const MORE = 'Microsoft.Dynamics.CRM.morerecords';

/** Sorted joined rows, cached per query: following the cookie page after page must not sort 100,000 rows each time. */
export interface SortedFetch {
  versions: number[];
  tuples: Tuple[];
  keys: Key[];
}

// ---------------------------------------------------------------------------------------------
// Order

interface Term {
  node: number;
  column: ColumnInfo;
  descending: boolean;
  /** The cookie element's name. */
  name: string;
  /** Sort key of a stored value. */
  key(value: unknown, row: Row | null): string | number | null;
  /** Sort key of a value as the cookie writes it. */
  keyOfText(text: string | undefined): string | number | null;
}

function termFor(ctx: RequestContext, model: FetchQueryModel, node: number, column: ColumnInfo, descending: boolean, name: string): Term {
  const set = (model.tables[node] as FetchTable).set;
  const labels = model.useRawOrderBy ? undefined : ctx.env.metadata.optionLabels(set.logicalName, column.name);
  const base = (value: unknown) => sortKey(value, column.kind);
  let key: Term['key'] = (value) => base(value);
  let fromText: (text: string) => unknown = (text) => (column.kind === 'number' ? Number(text) : column.kind === 'boolean' ? text === '1' || text === 'true' : text);
  if (labels && column.kind === 'number') {
    // Choice columns sort by their label (fetchxml/order-rows), unless useraworderby='true'.
    key = (value) => (value === null || value === undefined ? null : fold(labels.get(Number(value)) ?? String(value)));
  } else if (column.lookupNavigations && !model.useRawOrderBy) {
    // Lookups sort by the primary name of the row they point at (fetchxml/order-rows).
    const navs = column.lookupNavigations.map((n) => set.navigations.get(n)).filter((n) => n !== undefined);
    const nameOf = (row: Row | null, value: unknown): string | null => {
      if (value === null || value === undefined) return null;
      const probe: Row = row ?? { [column.name]: value };
      for (const nav of navs) {
        const target = singleTarget(ctx.env, probe, nav);
        const label = target?.set.primaryName ? target.row[target.set.primaryName] : undefined;
        if (typeof label === 'string') return fold(label);
      }
      return String(value).toLowerCase();
    };
    key = (value, row) => nameOf(row, value);
    fromText = (text) => text.replace(/^\{|\}$/g, '').toLowerCase();
  } else if (column.kind === 'guid') {
    fromText = (text) => text.replace(/^\{|\}$/g, '').toLowerCase();
  }
  return {
    node,
    column,
    descending,
    name,
    key,
    keyOfText: (text) => (text === undefined ? null : key(fromText(text), null)),
  };
}

function terms(ctx: RequestContext, model: FetchQueryModel): Term[] {
  const out: Term[] = [];
  const aliased = new Map<string, FetchAttribute>();
  for (const t of model.tables) for (const a of t.attributes) if (a.alias !== undefined) aliased.set(a.alias, a);
  // The entity's orders first, then each link-entity's (fetchxml/order-rows: link orders come after).
  for (const table of model.tables) {
    for (const o of table.orders) {
      if (o.alias !== undefined) {
        const a = aliased.get(o.alias);
        if (!a) invalid(`No attribute has the alias '${o.alias}' the order names.`);
        out.push(termFor(ctx, model, a.node, a.column, o.descending, o.alias));
      } else out.push(termFor(ctx, model, o.node, o.column as ColumnInfo, o.descending, o.name ?? (o.column as ColumnInfo).name));
    }
  }
  // Then each table's primary key: one place per row, so a cookie resumes exactly after the last one sent.
  for (const table of model.tables) {
    const pk = table.set.columns.get(table.set.key);
    if (pk) out.push(termFor(ctx, { ...model, useRawOrderBy: true }, table.index, pk, false, table.index === 0 ? table.set.key : `${table.alias}.${table.set.key}`));
  }
  return out;
}

function keyOf(tuple: Tuple, ts: readonly Term[]): Key {
  return ts.map((t) => {
    const row = tuple[t.node] ?? null;
    return t.key(row === null ? null : row[t.column.name], row);
  });
}

function compareKeyArrays(ts: readonly Term[], a: Key, b: Key): number {
  for (let i = 0; i < ts.length; i++) {
    const c = compareKeys(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return (ts[i] as Term).descending ? -c : c;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Paging cookie (fetchxml/page-results): `<cookie page="N"><name last="…" first="…" />…</cookie>`,
// one element per order column and key, values of the page's last and first rows.

function cookieText(value: unknown, column: ColumnInfo): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (column.kind === 'guid') return `{${String(value).toUpperCase()}}`;
  if (column.kind === 'boolean') return value === true ? '1' : '0';
  return String(value);
}

const escapeAttribute = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function writeCookie(page: number, ts: readonly Term[], first: Tuple, last: Tuple): string {
  const parts = ts.map((t) => {
    const l = cookieText(last[t.node]?.[t.column.name], t.column);
    const f = cookieText(first[t.node]?.[t.column.name], t.column);
    return `<${t.name}${l === undefined ? '' : ` last="${escapeAttribute(l)}"`}${f === undefined ? '' : ` first="${escapeAttribute(f)}"`} />`;
  });
  return `<cookie page="${page}">${parts.join('')}</cookie>`;
}

/** The sort key of the last row a cookie describes, and the page it describes. */
function readCookie(text: string, ts: readonly Term[]): { page: number; last: Key } {
  const bad = (): never => invalid('The paging cookie is not valid. Send back the pagingcookie of the previous page as it was returned.');
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch {
    return bad();
  }
  const page = Number(root.attributes.get('page'));
  if (root.name !== 'cookie' || !Number.isSafeInteger(page) || page < 1 || root.children.length !== ts.length) bad();
  const last = root.children.map((el, i) => {
    const t = ts[i] as Term;
    if (el.name !== t.name) bad();
    return t.keyOfText(el.attributes.get('last'));
  });
  return { page, last };
}

// ---------------------------------------------------------------------------------------------
// Rows

/** Which value annotations a request asked for, read once per request rather than once per value. */
interface Wanted {
  attributeName: boolean;
  formatted: boolean;
  lookupLogicalName: boolean;
}

function wantedOf(ctx: RequestContext): Wanted {
  const ann = ctx.annotations;
  return { attributeName: ann.wants(ATTRIBUTE_NAME), formatted: ann.wants(FORMATTED), lookupLogicalName: ann.wants(LOOKUP_LOGICAL) };
}

/** Writes one column value (and its annotations) into a row, leaving nulls out as FetchXML does. */
function put(ctx: RequestContext, wanted: Wanted, out: Row, key: string, set: EntitySetInfo, column: ColumnInfo, row: Row, aliasedOrLinked: boolean): void {
  const value = row[column.name];
  if (value === null || value === undefined) return;
  if (wanted.attributeName || wanted.formatted || wanted.lookupLogicalName) {
    if (aliasedOrLinked && wanted.attributeName) out[`${key}@${ATTRIBUTE_NAME}`] = attributeNameOf(column);
    if (column.lookupNavigations) {
      if (wanted.formatted) {
        for (const navName of column.lookupNavigations) {
          const nav = set.navigations.get(navName);
          const target = nav ? singleTarget(ctx.env, row, nav) : undefined;
          const label = target?.set.primaryName ? target.row[target.set.primaryName] : undefined;
          if (typeof label === 'string') {
            out[`${key}@${FORMATTED}`] = label;
            break;
          }
        }
      }
      const logical = row[`${column.name}@${LOOKUP_LOGICAL}`];
      if (typeof logical === 'string' && wanted.lookupLogicalName) out[`${key}@${LOOKUP_LOGICAL}`] = logical;
    } else if (wanted.formatted) {
      const f = formattedValue(set.logicalName, column, value, ctx.env.metadata.optionLabels(set.logicalName, column.name));
      if (f !== undefined) out[`${key}@${FORMATTED}`] = f;
    }
  }
  out[key] = value;
}

function shapeTuple(ctx: RequestContext, wanted: Wanted, model: FetchQueryModel, tuple: Tuple, withKeyAndEtag: boolean): Row {
  const out: Row = {};
  const root = tuple[0] as Row;
  if (withKeyAndEtag) out['@odata.etag'] = etagOf(root);
  for (const table of model.tables) {
    const row = tuple[table.index];
    if (!row) continue;
    const linked = table.index !== 0;
    const keyFor = (a: { alias?: string | undefined; column: ColumnInfo }) => a.alias ?? (linked ? `${table.alias}.${attributeNameOf(a.column)}` : a.column.name);
    if (table.allAttributes) for (const column of table.set.columns.values()) put(ctx, wanted, out, keyFor({ column }), table.set, column, row, linked);
    for (const a of table.attributes) put(ctx, wanted, out, keyFor(a), table.set, a.column, row, linked || a.alias !== undefined);
  }
  // The entity's primary key is always returned (fetchxml/select-columns).
  if (withKeyAndEtag && out[model.tables[0]!.set.key] === undefined) out[model.tables[0]!.set.key] = root[model.tables[0]!.set.key];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Aggregates

function dateGroup(value: unknown, grouping: string): number | null {
  const t = timeOf(value);
  if (Number.isNaN(t)) return null;
  const d = new Date(t);
  switch (grouping) {
    case 'year':
    case 'fiscal-year':
      return d.getUTCFullYear();
    case 'quarter':
    case 'fiscal-period':
      return Math.floor(d.getUTCMonth() / 3) + 1;
    case 'month':
      return d.getUTCMonth() + 1;
    case 'day':
      return d.getUTCDate();
    default: {
      // Week of the year, weeks starting on Sunday with week 1 holding January 1st.
      const jan1 = Date.UTC(d.getUTCFullYear(), 0, 1);
      return Math.floor((t - jan1 + new Date(jan1).getUTCDay() * 86_400_000) / (7 * 86_400_000)) + 1;
    }
  }
}

const integer = new Intl.NumberFormat('en-US');

function aggregateRows(ctx: RequestContext, model: FetchQueryModel, tuples: Tuple[]): Row[] {
  const limit = Math.min(model.aggregateLimit ?? MAX_AGGREGATE_ROWS, MAX_AGGREGATE_ROWS);
  if (tuples.length > limit) throw dvErrors.badRequest('AggregateQueryRecordLimit exceeded. Cannot perform this operation.', '0x8004e023');
  const attributes = model.tables.flatMap((t) => t.attributes);
  const groups = attributes.filter((a) => a.groupby);
  const aggregates = attributes.filter((a) => a.aggregate !== undefined);
  const groupValue = (a: FetchAttribute, tuple: Tuple): unknown => {
    const v = tuple[a.node]?.[a.column.name];
    if (v === null || v === undefined) return null;
    return a.dategrouping !== undefined ? dateGroup(v, a.dategrouping) : v;
  };
  const buckets = new Map<string, { values: unknown[]; tuples: Tuple[] }>();
  for (const tuple of tuples) {
    const values = groups.map((g) => groupValue(g, tuple));
    const key = JSON.stringify(values.map((v, i) => (typeof v === 'string' && (groups[i] as FetchAttribute).column.kind === 'string' ? fold(v) : v)));
    const bucket = buckets.get(key);
    if (bucket) bucket.tuples.push(tuple);
    else buckets.set(key, { values, tuples: [tuple] });
  }
  // An aggregate without groupby is one row, even over no rows.
  if (groups.length === 0 && buckets.size === 0) buckets.set('[]', { values: [], tuples: [] });
  const ann = ctx.annotations;
  const rows: Row[] = [];
  for (const { values, tuples: members } of buckets.values()) {
    const out: Row = {};
    groups.forEach((g, i) => {
      const v = values[i];
      if (v === null || v === undefined) return;
      const alias = g.alias as string;
      const set = (model.tables[g.node] as FetchTable).set;
      if (ann.wants(ATTRIBUTE_NAME)) out[`${alias}@${ATTRIBUTE_NAME}`] = attributeNameOf(g.column);
      if (ann.wants(FORMATTED)) {
        const f = g.dategrouping !== undefined ? integer.format(v as number) : formattedValue(set.logicalName, g.column, v, ctx.env.metadata.optionLabels(set.logicalName, g.column.name));
        if (f !== undefined) out[`${alias}@${FORMATTED}`] = f;
      }
      out[alias] = v;
    });
    for (const a of aggregates) {
      const alias = a.alias as string;
      const present = members.map((t) => t[a.node]?.[a.column.name]).filter((v) => v !== null && v !== undefined);
      let value: unknown;
      switch (a.aggregate) {
        case 'count':
          value = members.length;
          break;
        case 'countcolumn':
          value = a.distinct ? new Set(present.map((v) => (typeof v === 'string' ? fold(v) : JSON.stringify(v)))).size : present.length;
          break;
        case 'sum':
        case 'avg': {
          const numbers = present.map(Number).filter((n) => Number.isFinite(n));
          const sum = numbers.reduce((x, y) => x + y, 0);
          value = numbers.length === 0 ? null : a.aggregate === 'sum' ? sum : sum / numbers.length;
          break;
        }
        default: {
          let best: unknown = null;
          for (const v of present) if (best === null || compareValues(v, best, a.column.kind) * (a.aggregate === 'max' ? 1 : -1) > 0) best = v;
          value = best;
        }
      }
      if (value === null || value === undefined) continue;
      const set = (model.tables[a.node] as FetchTable).set;
      if (ann.wants(ATTRIBUTE_NAME)) out[`${alias}@${ATTRIBUTE_NAME}`] = attributeNameOf(a.column);
      if (ann.wants(FORMATTED)) {
        const f = a.aggregate === 'count' || a.aggregate === 'countcolumn' ? integer.format(value as number) : formattedValue(set.logicalName, a.column, value);
        if (f !== undefined) out[`${alias}@${FORMATTED}`] = f;
      }
      out[alias] = value;
    }
    rows.push(out);
  }
  // Orders name aliases; without one, groups come in the order of their keys.
  const orders = model.tables.flatMap((t) => t.orders);
  const byAlias = new Map(attributes.map((a) => [a.alias as string, a]));
  const sortTerms = (orders.length > 0 ? orders.map((o) => ({ alias: o.alias ?? attributes.find((a) => a.column === o.column)?.alias, desc: o.descending })) : groups.map((g) => ({ alias: g.alias, desc: false })))
    .filter((o): o is { alias: string; desc: boolean } => o.alias !== undefined);
  for (const o of sortTerms) if (!byAlias.has(o.alias)) invalid(`No attribute has the alias '${o.alias}' the order names.`);
  const kindOfAlias = (alias: string): ValueKind => {
    const a = byAlias.get(alias) as FetchAttribute;
    return a.aggregate === 'count' || a.aggregate === 'countcolumn' || a.dategrouping !== undefined ? 'number' : a.column.kind;
  };
  rows.sort((x, y) => {
    for (const o of sortTerms) {
      const c = compareKeys(sortKey(x[o.alias], kindOfAlias(o.alias)), sortKey(y[o.alias], kindOfAlias(o.alias)));
      if (c !== 0) return o.desc ? -c : c;
    }
    return 0;
  });
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The answer

/** What the handler tells the runner besides the query. */
export interface FetchRequest {
  /** `$count=true` was given (the same as `returntotalrecordcount='true'`, fetchxml/count-rows). */
  count: boolean;
  /** This service's cache of sorted results. */
  cache: Map<string, SortedFetch>;
}

/** Results kept per service. */
export const FETCH_CACHE_SIZE = 16;

function contextOf(ctx: RequestContext, model: FetchQueryModel): (node: number) => ConditionContext {
  const contexts = model.tables.map((t) => {
    const parentOf = hierarchyParent(ctx, t.set);
    return { now: ctx.now, userId: ctx.user.systemUserId, businessUnitId: ctx.env.businessUnitId, ...(parentOf ? { parentOf } : {}) };
  });
  return (node) => contexts[node] as ConditionContext;
}

/** Answers a FetchXML query. */
export function runFetchXml(ctx: RequestContext, model: FetchQueryModel, request: FetchRequest): ApiResponse {
  const root = model.tables[0] as FetchTable;
  const cx = contextOf(ctx, model);
  const ts = terms(ctx, model);
  const pageSize = model.top ?? model.pageSize;
  const page = model.page ?? 1;
  const ann = ctx.annotations;
  const wanted = wantedOf(ctx);

  let rows: Row[];
  let total: number;
  let more = false;
  let cookie: string | undefined;
  if (model.aggregate) {
    const all = aggregateRows(ctx, model, joinedTuples(ctx, model, cx));
    total = all.length;
    const start = model.top !== undefined ? 0 : (page - 1) * pageSize;
    rows = all.slice(start, start + pageSize);
    more = model.top === undefined && start + pageSize < total;
  } else {
    const sorted = sortedTuples(ctx, model, ts, cx, request.cache);
    if (model.distinct) {
      const seen = new Set<string>();
      const distinct: Row[] = [];
      for (const tuple of sorted.tuples) {
        const row = shapeTuple(ctx, wanted, model, tuple, false);
        const key = JSON.stringify(row);
        if (!seen.has(key)) {
          seen.add(key);
          distinct.push(row);
        }
      }
      total = distinct.length;
      const start = model.top !== undefined ? 0 : offsetOf(page, pageSize);
      rows = distinct.slice(start, start + pageSize);
      more = model.top === undefined && start + pageSize < total;
    } else {
      total = sorted.tuples.length;
      // Ordered by a linked table's column, Dataverse returns no cookie (fetchxml/page-results).
      const cookies = !ts.some((t, i) => t.node !== 0 && i < ts.length - model.tables.length);
      let start: number;
      if (model.top !== undefined) start = 0;
      else {
        const fromCookie = cookies && model.pagingCookie !== undefined ? readCookie(model.pagingCookie, ts) : undefined;
        // The cookie of the page before is followed; for any other page it is ignored (fetchxml/page-results).
        if (fromCookie !== undefined && fromCookie.page === page - 1) start = seek(sorted, ts, fromCookie.last);
        else start = offsetOf(page, pageSize);
      }
      const pageTuples = sorted.tuples.slice(start, start + pageSize);
      rows = pageTuples.map((t) => shapeTuple(ctx, wanted, model, t, true));
      more = model.top === undefined && start + pageSize < total;
      if (more && cookies && pageTuples.length > 0) cookie = writeCookie(page, ts, pageTuples[0] as Tuple, pageTuples[pageTuples.length - 1] as Tuple);
    }
  }

  const selected = root.attributes.map((a) => a.alias ?? a.column.name);
  const body: Row = { '@odata.context': `${ctx.base}/$metadata#${root.set.name}${model.aggregate || selected.length === 0 ? '' : `(${selected.join(',')})`}` };
  if (request.count) body['@odata.count'] = Math.min(total, MAX_FETCH_COUNT);
  if (request.count || model.returnTotalRecordCount) {
    if (ann.wants('Microsoft.Dynamics.CRM.totalrecordcount')) body['@Microsoft.Dynamics.CRM.totalrecordcount'] = Math.min(total, MAX_FETCH_COUNT);
    if (ann.wants('Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded')) body['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] = total > MAX_FETCH_COUNT;
  }
  // On the last page both annotations are left out (fetchxml/page-results); each only when asked for.
  if (more && cookie !== undefined && ann.wants(COOKIE)) {
    body[`@${COOKIE}`] = `<cookie pagenumber="${page + 1}" pagingcookie="${encodeURIComponent(encodeURIComponent(cookie))}" istracking="False" />`;
  }
  if (more && ann.wants(MORE)) body[`@${MORE}`] = true;
  body['value'] = rows;
  return jsonResponse(200, body, preferenceApplied(ctx, {}));
}

/** Where simple paging starts; past 50,000 rows Dataverse requires the cookie. */
function offsetOf(page: number, pageSize: number): number {
  const start = (page - 1) * pageSize;
  if (start + pageSize > MAX_SIMPLE_PAGING_ROWS && page > 1) {
    invalid('Paging cookie is required when trying to retrieve a set of records on any high pages.');
  }
  return start;
}

/** The index of the first row after `last` in sort order. */
function seek(sorted: SortedFetch, ts: readonly Term[], last: Key): number {
  let lo = 0;
  let hi = sorted.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeyArrays(ts, sorted.keys[mid] as Key, last) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedTuples(ctx: RequestContext, model: FetchQueryModel, ts: readonly Term[], cx: (node: number) => ConditionContext, cache: Map<string, SortedFetch>): SortedFetch {
  const versions = model.tables.map((t) => ctx.env.store.version(t.set.name));
  const cacheKey = `${model.canonical}\u0000${ctx.user.systemUserId}`;
  const hit = cache.get(cacheKey);
  if (hit && hit.versions.every((v, i) => v === versions[i]) && hit.versions.length === versions.length) {
    cache.delete(cacheKey);
    cache.set(cacheKey, hit);
    return hit;
  }
  const tuples = joinedTuples(ctx, model, cx);
  const decorated = tuples.map((t) => ({ t, k: keyOf(t, ts) }));
  decorated.sort((a, b) => compareKeyArrays(ts, a.k, b.k));
  const result: SortedFetch = { versions, tuples: decorated.map((d) => d.t), keys: decorated.map((d) => d.k) };
  cache.delete(cacheKey);
  cache.set(cacheKey, result);
  if (cache.size > FETCH_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return result;
}

