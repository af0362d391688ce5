/**
 * Aggregation with `$apply` (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data):
 * `client.aggregate(entitySet, { filter, groupBy, aggregate })` → the grouped rows, typed. A group by
 * a navigation property's column comes back under Dataverse's `{table}_{column}` key
 * (`primarycontactid/fullname` → `contact_fullname`); a null group has no key; rows carry no etag.
 */
import { DynamicsError } from '../../errors';
import { describeRequest, requestLine } from '../../http/errors';
import { buildApply, type ApplyAggregate } from '../../odata/apply';
import { parseCollectionPage } from '../../odata/collection';
import { invalidArgument, malformedResponse } from '../../odata/fail';
import type { Filter } from '../../odata/query';
import { composePrefer } from '../../odata/query';
import { entityPath } from '../arguments';
import type { ClientContext } from '../context';
import type { FilterQuery } from '../filters';
import { nextLinkOf, PageWalk } from '../paging';
import { readJsonObject } from '../response';
import type { AnnotationsOption, ColumnOf, OperationOptions } from '../types';

type Column<R> = Exclude<ColumnOf<R>, `@${string}`>;

/** The schema entry whose model has logical name `L`. */
type EntryByLogicalName<S, L> = { [E in keyof S]: S[E] extends { model: { logicalName: L } } ? S[E] : never }[keyof S];
/** The read type of the table a single-valued navigation property `N` of model `M` leads to. */
type TargetRead<M, S, N extends string> = M extends { readonly navigation: infer Nav } ? (N extends keyof Nav ? (EntryByLogicalName<S, Nav[N]> extends { read: infer R } ? R : Record<string, unknown>) : Record<string, unknown>) : Record<string, unknown>;

/** What `groupBy` takes: a column, or a single-valued navigation property and a column of its table (`primarycontactid/fullname`). */
export type GroupByPath<R, M = unknown, S = unknown> =
  | Column<R>
  | (M extends { readonly navigation: infer Nav } ? { [N in keyof Nav & string]: `${N}/${Column<TargetRead<M, S, N>>}` }[keyof Nav & string] : `${string}/${string}`);

/** The key a group comes back under: the column, or `{table}_{column}` for a navigation path. */
export type GroupKey<M, G extends string> = G extends `${infer N}/${infer C}` ? (M extends { readonly navigation: infer Nav } ? (N extends keyof Nav ? `${Nav[N] & string}_${C}` : `${string}_${C}`) : `${string}_${C}`) : G;

type GroupValue<R, M, S, G extends string> = G extends `${infer N}/${infer C}` ? (C extends keyof TargetRead<M, S, N> ? NonNullable<TargetRead<M, S, N>[C]> : unknown) : G extends keyof R ? NonNullable<R[G]> : unknown;

type AggregateValue<R, Spec> = Spec extends { count: true } | { sum: string } | { average: string } ? number : Spec extends { min: infer C } | { max: infer C } ? (C extends keyof R ? NonNullable<R[C]> : unknown) : unknown;

/** A row of {@link DynamicsClient.aggregate}: the groups (absent for the null group) and the aggregates by alias. */
export type AggregateRow<R, M, S, G extends string, A> = { [K in G as GroupKey<M, K>]?: GroupValue<R, M, S, K> } & { [K in keyof A]: AggregateValue<R, A[K]> } & {
  [annotation: `${string}@${string}`]: unknown;
};

/** The query of {@link DynamicsClient.aggregate}. */
export interface AggregateQuery<R, M, S, G extends string, A> {
  /** The rows to aggregate (`filter(…)`), typed like `list()`'s filter. Default: every row. */
  filter?: FilterQuery<R, M, S>;
  /** Columns to group by (`groupby((…))`); a navigation property's column comes back as `{table}_{column}`. */
  groupBy?: readonly G[];
  /**
   * Aggregates by alias: `{ total: { sum: 'revenue' }, mean: { average: 'revenue' }, n: { count: true } }`
   * (`revenue with sum as total`, `$count as n`).
   */
  aggregate?: A;
}

/** Options of {@link DynamicsClient.aggregate}. */
export interface AggregateOptions extends OperationOptions {
  /** Annotations to include (`Prefer: odata.include-annotations`): `true`, or names such as `'OData.Community.Display.V1.FormattedValue'`. */
  annotations?: AnnotationsOption;
}

/** Dataverse's aggregate limit (AggregateQueryRecordLimit): no aggregation answers more rows. */
const MAX_AGGREGATE_ROWS = 50_000;

/** The aggregate specs a table's columns allow. */
export type AggregateSpecOf<R> = ApplyAggregate<Column<R>>;

/**
 * `GET <entitySet>?$apply=…`, every page of the answer (a grouping with more than a page of groups
 * follows `@odata.nextLink`). See `DynamicsClient.aggregate`.
 *
 * @throws DynamicsError `invalid_argument` for a bad query (nothing sent); the service's errors
 *   otherwise (more than 50,000 source rows: `8004E023`, with what to do in the message).
 */
export async function aggregate<T>(ctx: ClientContext, entitySet: string, query: AggregateQuery<unknown, unknown, unknown, string, unknown>, options?: AggregateOptions): Promise<T[]> {
  const path = entityPath(entitySet);
  if (query === null || typeof query !== 'object') throw invalidArgument('query', '{ filter?, groupBy?, aggregate? }', query);
  const apply = buildApply(
    { ...(query.filter !== undefined ? { filter: query.filter as Filter } : {}), ...(query.groupBy !== undefined ? { groupBy: query.groupBy } : {}), ...(query.aggregate !== undefined ? { aggregate: query.aggregate as Record<string, ApplyAggregate> } : {}) },
    'query',
    ctx.entityModel(entitySet)?.columns,
  );
  const annotations = options?.annotations;
  const prefer = annotations === undefined || annotations === false ? undefined : composePrefer({ includeAnnotations: annotations === true ? true : (annotations as string | readonly string[]) });
  const rows: T[] = [];
  const walk = new PageWalk();
  let url: string | undefined = `${ctx.apiRoot}${path}?$apply=${apply}`;
  walk.visit(url);
  while (url !== undefined) {
    const result = await ctx.call({ method: 'GET', url, options, headers: { Prefer: prefer }, expect: [200] });
    const body = readJsonObject(result, 'an aggregation result');
    let page;
    try {
      page = parseCollectionPage<T>(body);
    } catch (error) {
      if (!(error instanceof DynamicsError)) throw error;
      throw new DynamicsError(`${requestLine(result.request)}: ${error.message}`, { code: error.code, status: result.response.status, request: describeRequest(result.request) });
    }
    for (const row of page.value) rows.push(row);
    // Dataverse aggregates at most 50,000 rows, so no answer has more groups: a service that keeps
    // sending new pages is not answering this query, and memory must not grow with it.
    if (rows.length > MAX_AGGREGATE_ROWS) {
      throw malformedResponse(`${requestLine(result.request)}: more than ${MAX_AGGREGATE_ROWS} aggregated rows, which Dataverse never answers (its aggregate limit is ${MAX_AGGREGATE_ROWS} rows)`, { status: result.response.status });
    }
    url = nextLinkOf(page.nextLink, url, ctx.apiRoot, walk);
  }
  return rows;
}
