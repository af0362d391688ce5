/**
 * Aggregation with `$apply` on every entity set
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data):
 * `filter(expr)`, `groupby((col,nav/col))` with or without a nested `aggregate(…)`, and
 * `aggregate(col with sum|average|min|max as alias, $count as alias)`, chained with `/`.
 *
 * As documented: `@odata.context` is just `#<set>`; rows carry no etag; grouping by a navigation
 * property's column returns the key `{table}_{column}` (`primarycontactid/fullname` → `contact_fullname`);
 * a null group leaves its key out; more than 50,000 source rows fail with `8004E023` (the same code
 * as FetchXML's aggregate limit, presumed); `$orderby` on an aggregate value fails with "The query
 * node SingleValueOpenPropertyAccess is not supported".
 *
 * Emulator choices where nothing is documented: `countdistinct` (in the OASIS extension, in no
 * Dataverse example) is accepted; a null aggregate (the sum of no value) leaves its key out as a null
 * group does; `$orderby` on group keys and `$top` apply after the transformations, `$count=true` counts
 * the groups; `$select`, `$expand`, `$filter` and `$skiptoken` next to `$apply` are refused (400);
 * every group comes in one page.
 */
import type { ApiResponse, Handler, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { compareKeys, compareValues, fold, sortKey, type ValueKind } from '../filter';
import { formattedValue } from '../format';
import { parseOrderBy, parseQueryString, rejectDuplicateOptions, splitTopLevel } from '../query';
import type { ColumnInfo, EntitySetInfo, NavigationInfo } from '../schema';
import type { Row } from '../store';
import { compile, runtime } from '../shared/evaluation';
import { singleTarget } from '../shared/related';
import { jsonResponse } from '../shared/responses';
import { preferenceApplied } from '../shared/shape';

/** Source rows an aggregation may cover. */
const MAX_AGGREGATE_ROWS = 50_000;
const FORMATTED = 'OData.Community.Display.V1.FormattedValue';

type Fn = 'sum' | 'average' | 'min' | 'max' | 'countdistinct' | '$count';

interface Group {
  /** The key in rows: the column, or `{table}_{column}`. */
  key: string;
  column: ColumnInfo;
  set: EntitySetInfo;
  nav?: NavigationInfo;
}

interface Aggregate {
  alias: string;
  fn: Fn;
  column?: ColumnInfo;
}

interface Plan {
  filter?: string;
  groups?: Group[];
  aggregates: Aggregate[];
}

const syntax = (message: string) => dvErrors.syntax(message);

function resolveGroup(ctx: RequestContext, set: EntitySetInfo, path: string): Group {
  const parts = path.trim().split('/');
  if (parts.length === 1) {
    const column = set.columns.get(parts[0] as string);
    if (!column) throw dvErrors.unknownQueryProperty(parts[0] as string, set.qualifiedName);
    return { key: column.name, column, set };
  }
  if (parts.length !== 2) throw syntax(`The groupby path '${path}' is not supported: use a column or navigation/column.`);
  const nav = set.navigations.get(parts[0] as string);
  if (!nav) throw dvErrors.unknownQueryProperty(parts[0] as string, set.qualifiedName);
  if (nav.kind !== 'single') throw syntax(`The navigation property '${nav.name}' in groupby must be single-valued.`);
  const target = nav.targetSet ? ctx.env.schema.sets.get(nav.targetSet) : undefined;
  const column = target?.columns.get(parts[1] as string);
  if (!target || !column) throw dvErrors.unknownQueryProperty(parts[1] as string, target?.qualifiedName ?? nav.targetType);
  // Dataverse names the key after the related table and the column (aggregate-data, "group by" a lookup's column).
  return { key: `${target.logicalName}_${column.name}`, column, set: target, nav };
}

function readAggregate(ctx: RequestContext, set: EntitySetInfo, text: string): Aggregate[] {
  const inner = /^aggregate\(([\s\S]*)\)$/.exec(text.trim());
  if (!inner) throw syntax(`'aggregate(…)' expected in $apply at '${text}'.`);
  return splitTopLevel(inner[1] as string, ',').map((item) => {
    const count = /^\$count\s+as\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(item.trim());
    if (count) return { alias: count[1] as string, fn: '$count' };
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s+with\s+([A-Za-z]+)\s+as\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(item.trim());
    if (!m) throw syntax(`The aggregate '${item}' is not 'property with method as alias' or '$count as alias'.`);
    const fn = m[2] as string;
    if (!['sum', 'average', 'min', 'max', 'countdistinct'].includes(fn)) throw syntax(`The aggregation method '${fn}' is not supported.`);
    const column = set.columns.get(m[1] as string);
    if (!column) throw dvErrors.unknownQueryProperty(m[1] as string, set.qualifiedName);
    return { alias: m[3] as string, fn: fn as Fn, column };
  });
}

function readApply(ctx: RequestContext, set: EntitySetInfo, text: string): Plan {
  const plan: Plan = { aggregates: [] };
  const steps = splitTopLevel(text, '/');
  if (steps.length === 0) throw syntax('$apply is empty.');
  for (const step of steps) {
    const t = step.trim();
    if (t.startsWith('filter(') && t.endsWith(')')) {
      if (plan.groups || plan.aggregates.length > 0) throw syntax('filter must come before groupby and aggregate in $apply.');
      plan.filter = plan.filter === undefined ? t.slice(7, -1) : `(${plan.filter}) and (${t.slice(7, -1)})`;
    } else if (t.startsWith('groupby(') && t.endsWith(')')) {
      if (plan.groups) throw syntax('Only one groupby is supported in $apply.');
      const [paths, aggregate, ...rest] = splitTopLevel(t.slice(8, -1), ',');
      if (rest.length > 0 || !paths || !paths.startsWith('(') || !paths.endsWith(')')) throw syntax(`groupby((properties)[,aggregate(…)]) expected at '${t}'.`);
      plan.groups = splitTopLevel(paths.slice(1, -1), ',').map((p) => resolveGroup(ctx, set, p));
      if (plan.groups.length === 0) throw syntax('groupby needs at least one property.');
      if (aggregate !== undefined) plan.aggregates.push(...readAggregate(ctx, set, aggregate));
    } else if (t.startsWith('aggregate(')) {
      plan.aggregates.push(...readAggregate(ctx, set, t));
    } else throw syntax(`The transformation '${t.slice(0, 40)}' is not supported in $apply (filter, groupby and aggregate are).`);
  }
  if (!plan.groups && plan.aggregates.length === 0) throw syntax('$apply needs groupby or aggregate.');
  return plan;
}

function groupValue(ctx: RequestContext, row: Row, g: Group): unknown {
  if (!g.nav) return row[g.column.name] ?? null;
  return singleTarget(ctx.env, row, g.nav)?.row[g.column.name] ?? null;
}

function aggregateValue(rows: Row[], a: Aggregate): unknown {
  if (a.fn === '$count') return rows.length;
  const column = a.column as ColumnInfo;
  const present = rows.map((r) => r[column.name]).filter((v) => v !== null && v !== undefined);
  if (a.fn === 'countdistinct') return new Set(present.map((v) => (typeof v === 'string' ? fold(v) : JSON.stringify(v)))).size;
  if (present.length === 0) return null;
  if (a.fn === 'sum' || a.fn === 'average') {
    const sum = present.map(Number).reduce((x, y) => x + y, 0);
    return a.fn === 'sum' ? sum : sum / present.length;
  }
  let best = present[0];
  for (const v of present) if (compareValues(v, best, column.kind) * (a.fn === 'max' ? 1 : -1) > 0) best = v;
  return best;
}

const integer = new Intl.NumberFormat('en-US');

function applyQuery(ctx: RequestContext, set: EntitySetInfo): ApiResponse | undefined {
  const params = parseQueryString(ctx.req.query);
  const apply = params.find((p) => p.name === '$apply');
  if (!apply) return undefined;
  rejectDuplicateOptions(params);
  let orderby: string | undefined;
  let top: number | undefined;
  let count = false;
  const aliases = new Map<string, string>();
  for (const p of params) {
    if (p.name === '$apply' || p.name === '$format') continue;
    if (p.name.startsWith('@')) aliases.set(p.name, p.value);
    else if (p.name === '$orderby') orderby = p.value;
    else if (p.name === '$top' && /^\d+$/.test(p.value.trim())) top = Number(p.value.trim());
    else if (p.name === '$count' && (p.value === 'true' || p.value === 'false')) count = p.value === 'true';
    else throw dvErrors.badRequest(`The query option '${p.name}' cannot be combined with $apply in the emulator; put a filter inside $apply as filter(…).`);
  }
  const plan = readApply(ctx, set, apply.value);
  const predicate = compile(ctx, set, plan.filter, aliases);
  const rt = runtime(ctx, set);
  const source: Row[] = [];
  for (const r of ctx.env.store.allRows(set.name)) {
    if (!predicate || predicate(r, rt)) source.push(r);
    if (source.length > MAX_AGGREGATE_ROWS) throw dvErrors.badRequest('AggregateQueryRecordLimit exceeded. Cannot perform this operation.', '0x8004e023');
  }
  const groups = plan.groups ?? [];
  const buckets = new Map<string, { values: unknown[]; rows: Row[] }>();
  for (const row of source) {
    const values = groups.map((g) => groupValue(ctx, row, g));
    const key = JSON.stringify(values.map((v, i) => (typeof v === 'string' && (groups[i] as Group).column.kind === 'string' ? fold(v) : v)));
    const bucket = buckets.get(key);
    if (bucket) bucket.rows.push(row);
    else buckets.set(key, { values, rows: [row] });
  }
  if (groups.length === 0 && buckets.size === 0) buckets.set('[]', { values: [], rows: [] });
  const wantsFormatted = ctx.annotations.wants(FORMATTED);
  let rows: Row[] = [...buckets.values()].map(({ values, rows: members }) => {
    const out: Row = {};
    groups.forEach((g, i) => {
      const v = values[i];
      if (v === null || v === undefined) return;
      if (wantsFormatted) {
        const f = formattedValue(g.set.logicalName, g.column, v, ctx.env.metadata.optionLabels(g.set.logicalName, g.column.name));
        if (f !== undefined) out[`${g.key}@${FORMATTED}`] = f;
      }
      out[g.key] = v;
    });
    for (const a of plan.aggregates) {
      const v = aggregateValue(members, a);
      if (v === null || v === undefined) continue;
      if (wantsFormatted) {
        const f = a.fn === '$count' || a.fn === 'countdistinct' ? integer.format(v as number) : formattedValue(set.logicalName, a.column as ColumnInfo, v);
        if (f !== undefined) out[`${a.alias}@${FORMATTED}`] = f;
      }
      out[a.alias] = v;
    }
    return out;
  });
  // Groups in the order of their keys unless $orderby says otherwise; an aggregate value cannot be ordered by.
  const terms = orderby === undefined ? groups.map((g) => ({ key: g.key, kind: g.column.kind, desc: false })) : parseOrderBy(orderby).map((t) => {
    const name = t.path.join('/');
    const g = groups.find((x) => x.key === name || (x.nav ? `${x.nav.name}/${x.column.name}` : x.column.name) === name);
    if (!g) {
      if (plan.aggregates.some((a) => a.alias === name)) throw syntax('The query node SingleValueOpenPropertyAccess is not supported');
      throw dvErrors.unknownQueryProperty(name, set.qualifiedName);
    }
    return { key: g.key, kind: g.column.kind as ValueKind, desc: t.desc };
  });
  rows.sort((x, y) => {
    for (const t of terms) {
      const c = compareKeys(sortKey(x[t.key], t.kind), sortKey(y[t.key], t.kind));
      if (c !== 0) return t.desc ? -c : c;
    }
    return 0;
  });
  if (top !== undefined) rows = rows.slice(0, top);
  const body: Row = { '@odata.context': `${ctx.base}/$metadata#${set.name}` };
  if (count) body['@odata.count'] = rows.length;
  body['value'] = rows;
  return jsonResponse(200, body, preferenceApplied(ctx, {}));
}

/** `$apply` on every entity set. */
export const applyHandler: Handler = {
  name: 'apply',
  routes: () => ({ collection: { GET: (t, ctx) => applyQuery(ctx, t.set) } }),
};
