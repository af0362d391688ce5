/**
 * `$apply` for Dataverse's aggregation through the Web API
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data):
 * `filter(expr)`, `groupby((col,nav/col))` with or without a nested `aggregate(…)`, and
 * `aggregate(col with sum|average|min|max as alias, $count as alias)`, chained with `/`.
 *
 * Dataverse supports "only a subset" of the OASIS aggregation extension; `countdistinct` is in the
 * extension but in no Dataverse example, so it is not offered here.
 */
import { invalidArgument } from './fail';
import { buildQuery, type ColumnTypes, type Filter } from './query';

/** The aggregate functions of `$apply` Dataverse documents. */
export type ApplyFunction = 'sum' | 'average' | 'min' | 'max';

/** One aggregate: `{ sum: 'revenue' }` (… `with sum as alias`), or `{ count: true }` (`$count as alias`). */
export type ApplyAggregate<C extends string = string> = { readonly sum: C } | { readonly average: C } | { readonly min: C } | { readonly max: C } | { readonly count: true };

/** What {@link buildApply} takes. */
export interface ApplySpec {
  /** Rows to aggregate: a `$filter` (expression text or the object syntax). Default: all rows. */
  filter?: Filter;
  /** Columns to group by: `statuscode`, or through a single-valued navigation property `primarycontactid/fullname`. */
  groupBy?: readonly string[];
  /** Aggregates by alias: `{ total: { sum: 'revenue' }, count: { count: true } }`. */
  aggregate?: Readonly<Record<string, ApplyAggregate>>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const PATH = /^[A-Za-z_][A-Za-z0-9_]{0,127}(?:\/[A-Za-z_][A-Za-z0-9_]{0,127})?$/;
const FUNCTIONS: readonly ApplyFunction[] = ['sum', 'average', 'min', 'max'];

function aggregateText(aggregate: Readonly<Record<string, ApplyAggregate>>, argument: string): string {
  if (aggregate === null || typeof aggregate !== 'object' || Array.isArray(aggregate)) throw invalidArgument(argument, 'an object of aggregates by alias, such as { total: { sum: "revenue" } }', aggregate);
  const parts = Object.entries(aggregate).map(([alias, spec]) => {
    const where = `${argument}.${alias}`;
    if (!NAME.test(alias)) throw invalidArgument(`${argument} (alias)`, 'an alias that is an identifier, such as "total"', alias);
    if (spec === null || typeof spec !== 'object') throw invalidArgument(where, "{ sum | average | min | max: column } or { count: true }", spec);
    const keys = Object.keys(spec);
    if (keys.length !== 1) throw invalidArgument(where, 'exactly one of sum, average, min, max or count', spec);
    const fn = keys[0] as string;
    const value = (spec as Record<string, unknown>)[fn];
    if (fn === 'count') {
      if (value !== true) throw invalidArgument(`${where}.count`, 'true ($count)', value);
      return `$count as ${alias}`;
    }
    if (!FUNCTIONS.includes(fn as ApplyFunction)) throw invalidArgument(where, 'one of sum, average, min, max or count (Dataverse supports no other in $apply)', fn);
    if (typeof value !== 'string' || !NAME.test(value)) throw invalidArgument(`${where}.${fn}`, 'a column name such as "revenue"', value);
    return `${value} with ${fn} as ${alias}`;
  });
  if (parts.length === 0) throw invalidArgument(argument, 'at least one aggregate', aggregate);
  return `aggregate(${parts.join(',')})`;
}

/**
 * The `$apply` value, percent-encoded for a URL (`filter(…)/groupby((…),aggregate(…))`).
 *
 * @param columns - the table's column types (the runtime model), for the filter's literals.
 * @throws DynamicsError `invalid_argument` naming the part (`query.groupBy[1]`, `query.aggregate.total`)
 *   for anything Dataverse would refuse, or a spec with neither `groupBy` nor `aggregate`.
 * @example buildApply({ groupBy: ['statuscode'], aggregate: { count: { count: true } } })
 *   // 'groupby((statuscode),aggregate($count%20as%20count))'
 */
export function buildApply(spec: ApplySpec, argument = 'query', columns?: ColumnTypes): string {
  if (spec === null || typeof spec !== 'object') throw invalidArgument(argument, '{ filter?, groupBy?, aggregate? }', spec);
  for (const key of Object.keys(spec)) {
    if (!['filter', 'groupBy', 'aggregate'].includes(key)) throw invalidArgument(`${argument}.${key}`, 'one of filter, groupBy, aggregate', (spec as Record<string, unknown>)[key]);
  }
  const steps: string[] = [];
  if (spec.filter !== undefined) {
    const { queryString } = buildQuery({ filter: spec.filter }, argument, { columns });
    if (queryString !== '') steps.push(`filter(${queryString.slice('?$filter='.length)})`);
  }
  const aggregate = spec.aggregate === undefined ? undefined : aggregateText(spec.aggregate, `${argument}.aggregate`);
  if (spec.groupBy !== undefined) {
    if (!Array.isArray(spec.groupBy) || spec.groupBy.length === 0) throw invalidArgument(`${argument}.groupBy`, 'a non-empty array of columns, such as ["statuscode", "primarycontactid/fullname"]', spec.groupBy);
    spec.groupBy.forEach((path: unknown, i) => {
      if (typeof path !== 'string' || !PATH.test(path)) throw invalidArgument(`${argument}.groupBy[${i}]`, 'a column, or a single-valued navigation property and its column ("primarycontactid/fullname")', path);
    });
    steps.push(`groupby((${spec.groupBy.join(',')})${aggregate === undefined ? '' : `,${aggregate}`})`);
  } else if (aggregate !== undefined) steps.push(aggregate);
  else throw invalidArgument(argument, 'groupBy, aggregate or both (a filter alone is list())', spec);
  return steps.join('/').replace(/ /g, '%20');
}
