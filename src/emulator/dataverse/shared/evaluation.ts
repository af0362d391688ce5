/**
 * Evaluating `$filter` and `$orderby` against rows of one entity set: value kinds of column paths
 * (a column, or `lookup/column` through a single-valued navigation), the filter runtime, compiled
 * predicates and the sort order paging relies on.
 */
import type { RequestContext } from '../context';
import { dvErrors } from '../errors';
import { compareKeys, compileFilter, parseFilter, sortKey, type FilterColumn, type FilterRuntime, type FilterScope, type RowPredicate, type ValueKind } from '../filter';
import { parseOrderBy } from '../query';
import type { EntitySetInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { relatedRows, singleTarget } from './related';

/** Dataverse's page-size ceiling and the cap on `@odata.count` (dp/webapi/query/page-results.md, count-rows.md). */
export const MAX_PAGE_SIZE = 5000;

/** Value kind of a filter/orderby path: a column, or `lookupnav/column` through a single-valued navigation. */
function kindOf(ctx: RequestContext, set: EntitySetInfo, path: string[]): ValueKind | undefined {
  if (path.length === 1) return set.columns.get(path[0] as string)?.kind;
  if (path.length === 2) {
    const nav = set.navigations.get(path[0] as string);
    const target = nav?.kind === 'single' && nav.targetSet ? ctx.env.schema.sets.get(nav.targetSet) : undefined;
    return target?.columns.get(path[1] as string)?.kind;
  }
  return undefined;
}

/** The column a filter path reads, with its Edm type and Dataverse's `entity.column` name. */
function columnOf(ctx: RequestContext, set: EntitySetInfo, path: string[]): FilterColumn | undefined {
  let owner: EntitySetInfo | undefined = set;
  if (path.length === 2) {
    const nav = set.navigations.get(path[0] as string);
    owner = nav?.kind === 'single' && nav.targetSet ? ctx.env.schema.sets.get(nav.targetSet) : undefined;
  } else if (path.length !== 1) {
    return undefined;
  }
  const column = owner?.columns.get(path[path.length - 1] as string);
  return owner && column ? { edmType: column.edmType, attribute: `${owner.logicalName}.${column.name}` } : undefined;
}

/**
 * The lookup column that makes a table a hierarchy (account's `_parentaccountid_value`): its first
 * single-valued lookup to itself named `parent…`, else its first lookup to itself (an emulator choice:
 * `$metadata` does not mark the hierarchical relationship).
 */
export function hierarchyColumn(set: EntitySetInfo): string | undefined {
  const own = [...set.navigations.values()].filter((n) => n.kind === 'single' && n.targetSet === set.name && n.lookupColumn !== undefined);
  return (own.find((n) => n.name.startsWith('parent')) ?? own[0])?.lookupColumn;
}

/** The parent of a row of `set` in its hierarchy (see {@link hierarchyColumn}), by id. */
export function hierarchyParent(ctx: RequestContext, set: EntitySetInfo): ((id: string) => string | undefined) | undefined {
  const column = hierarchyColumn(set);
  if (column === undefined) return undefined;
  return (id) => {
    const parent = ctx.env.store.get(set.name, id)?.[column];
    return parent === null || parent === undefined ? undefined : String(parent).toLowerCase();
  };
}

/** What a compiled filter reads rows and the caller through. */
export function runtime(ctx: RequestContext, set: EntitySetInfo): FilterRuntime {
  const parentOf = hierarchyParent(ctx, set);
  return {
    userId: ctx.user.systemUserId,
    now: ctx.now,
    businessUnitId: ctx.env.businessUnitId,
    ...(parentOf ? { parentOf } : {}),
    get: (row, path) => {
      if (path.length === 1) return row[path[0] as string];
      const nav = set.navigations.get(path[0] as string);
      if (!nav) return undefined;
      return singleTarget(ctx.env, row, nav)?.row[path[1] as string];
    },
  };
}

/** The scope a filter on `set` is compiled in: its columns, lookups, and collections for `any`/`all`. */
export function filterScope(ctx: RequestContext, set: EntitySetInfo): FilterScope {
  return {
    qualifiedType: set.qualifiedName,
    kindOf: (p) => kindOf(ctx, set, p),
    columnOf: (p) => columnOf(ctx, set, p),
    collection: (nav) => {
      const n = nav.length === 1 ? set.navigations.get(nav[0] as string) : undefined;
      const target = n && n.kind !== 'single' && n.targetSet ? ctx.env.schema.sets.get(n.targetSet) : undefined;
      if (!n || !target) return undefined;
      return { scope: filterScope(ctx, target), runtime: runtime(ctx, target), related: (row) => relatedRows(ctx.env, set, normaliseId(row[set.key]), n, target) };
    },
  };
}

/** Compiles a `$filter` (aliases resolved); undefined when there is none. */
export function compile(ctx: RequestContext, set: EntitySetInfo, filter: string | undefined, aliases: Map<string, string>): RowPredicate | undefined {
  if (filter === undefined) return undefined;
  return compileFilter(parseFilter(filter, aliases), filterScope(ctx, set));
}

/** The ordering of a query, over precomputed sort keys. */
export interface Ordering {
  compare(a: Row, b: Row): number;
  /** Compares a row with the sort key of another (a `$skiptoken`'s last row). */
  compareTo(row: Row, last: unknown[]): number;
  compareKeyArrays(a: unknown[], b: unknown[]): number;
  /** The sort key of a row. */
  values(row: Row): (string | number | null)[];
}

/**
 * Ordering of a query: the $orderby terms, then the primary key. Dataverse orders by the primary key
 * when no $orderby is given; it is also the final tie-breaker, so every row has exactly one position
 * and paging "after this row" is exact. Rows are compared through precomputed sort keys.
 */
export function comparator(ctx: RequestContext, set: EntitySetInfo, orderby: string | undefined, aliases: Map<string, string>): Ordering {
  const terms = orderby === undefined ? [] : parseOrderBy(orderby.replace(/@[A-Za-z_][A-Za-z0-9_]*/g, (a) => aliases.get(a) ?? a));
  const kinds = terms.map((t) => {
    const kind = kindOf(ctx, set, t.path);
    if (kind === undefined) throw dvErrors.unknownQueryProperty(t.path[t.path.length - 1] as string, set.qualifiedName);
    return kind;
  });
  const rt = runtime(ctx, set);
  const keyKind = set.keyKind;
  const n = terms.length;
  const keyOf = (row: Row): (string | number | null)[] => {
    const k: (string | number | null)[] = new Array(n + 1);
    for (let i = 0; i < n; i++) k[i] = sortKey(rt.get(row, (terms[i] as { path: string[] }).path), kinds[i] as ValueKind);
    k[n] = sortKey(row[set.key], keyKind);
    return k;
  };
  const compareKeyArrays = (a: unknown[], b: unknown[]): number => {
    for (let i = 0; i < n; i++) {
      const c = compareKeys(a[i] as string | number | null, b[i] as string | number | null);
      if (c !== 0) return (terms[i] as { desc: boolean }).desc ? -c : c;
    }
    return compareKeys(a[n] as string | number | null, b[n] as string | number | null);
  };
  const compareTo = (row: Row, last: unknown[]): number => compareKeyArrays(keyOf(row), last);
  const compare = (a: Row, b: Row): number => compareKeyArrays(keyOf(a), keyOf(b));
  return { compare, compareTo, compareKeyArrays, values: keyOf };
}
