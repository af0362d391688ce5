/**
 * Collections: `GET <set>` and `GET <set>(<key>)/<collection navigation>` with `$select`, `$filter`,
 * `$orderby`, `$top`, `$count` and `$expand`, paged by `odata.maxpagesize` with `@odata.nextLink`
 * (dp/webapi/query/page-results.md, count-rows.md), and `GET <set>/$count`.
 */
import type { ApiResponse, Handler, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { decodeSkipToken, encodeSkipToken, parseQueryOptions, parseQueryString } from '../query';
import type { EntitySetInfo, NavigationInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { compile, comparator, MAX_PAGE_SIZE, runtime } from '../shared/evaluation';
import { relatedRows } from '../shared/related';
import { jsonResponse, textResponse } from '../shared/responses';
import { checkExpand, contextSelect, preferenceApplied, shape, validateSelect } from '../shared/shape';

/** Sorted results kept per query, so that following nextLinks does not filter and sort every page again. */
const QUERY_CACHE_SIZE = 32;

interface SortedResult {
  /** The store version (of the set) the rows were sorted at. */
  version: number;
  rows: Row[];
}

/** The row a collection navigation starts from. */
interface Parent {
  parentSet: EntitySetInfo;
  parentId: string;
  nav: NavigationInfo;
}

/** Answers a collection query; `cache` is this service's sorted-result cache (least recently used last out). */
function list(ctx: RequestContext, cache: Map<string, SortedResult>, set: EntitySetInfo, parent: Parent | undefined): ApiResponse {
  const { env } = ctx;
  const params = parseQueryString(ctx.req.query);
  const q = parseQueryOptions(params);
  validateSelect(set, q.select);
  const predicate = compile(ctx, set, q.filter, q.aliases);
  const order = comparator(ctx, set, q.orderby, q.aliases);
  for (const e of q.expand ?? []) checkExpand(ctx, set, e);

  const source = parent ? `${parent.parentSet.name}(${parent.parentId})/${parent.nav.name}` : set.name;
  const cacheKey = `${source}\u0000${q.filter ?? ''}\u0000${q.orderby ?? ''}\u0000${JSON.stringify([...q.aliases])}\u0000${ctx.user.systemUserId}`;
  // N:N links are not versioned with the set, so such results are never reused (NaN equals nothing).
  const version = env.store.version(set.name) + (parent?.nav.kind === 'manyToMany' ? Number.NaN : 0);
  let sorted = cache.get(cacheKey);
  if (!sorted || sorted.version !== version) {
    const rt = runtime(ctx, set);
    const input = parent ? relatedRows(env, parent.parentSet, parent.parentId, parent.nav, set) : env.store.allRows(set.name);
    const rows: Row[] = [];
    for (const r of input) if (!predicate || predicate(r, rt)) rows.push(r);
    // Decorate-sort-undecorate: sort keys are computed once per row, not per comparison.
    const decorated = rows.map((r) => ({ r, k: order.values(r) }));
    decorated.sort((a, b) => order.compareKeyArrays(a.k, b.k));
    sorted = { version, rows: decorated.map((d) => d.r) };
    cache.delete(cacheKey);
    cache.set(cacheKey, sorted);
    if (cache.size > QUERY_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  }
  const all = sorted.rows;

  const requested = ctx.prefs.get('odata.maxpagesize');
  let pageSize = MAX_PAGE_SIZE;
  if (requested !== undefined) {
    const n = Number(requested);
    if (!Number.isInteger(n) || n <= 0) throw dvErrors.badRequest(`The value '${requested}' of the odata.maxpagesize preference is not a positive integer.`);
    pageSize = Math.min(n, MAX_PAGE_SIZE);
  }
  let start = 0;
  let pageNumber = 1;
  if (q.skiptoken !== undefined) {
    const token = decodeSkipToken(q.skiptoken);
    pageNumber = token.page;
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order.compareTo(all[mid] as Row, token.last) <= 0) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  let page: Row[];
  let nextLink: string | undefined;
  if (q.top !== undefined) {
    // With $top Dataverse returns at most $top rows and no nextLink; combined with maxpagesize the
    // page size still bounds the rows (page-results.md: "Don't use $top with odata.maxpagesize").
    page = all.slice(0, Math.min(q.top, pageSize));
  } else {
    page = all.slice(start, start + pageSize);
    if (start + pageSize < all.length) {
      const last = page[page.length - 1] as Row;
      const token = encodeSkipToken(pageNumber + 1, order.values(last));
      const kept = params.filter((p) => p.name !== '$skiptoken').map((p) => p.raw);
      // Dataverse leaves '=' unencoded inside the cookie (see paging-nextlink-contacts fixture).
      kept.push(`$skiptoken=${encodeURIComponent(token).replace(/%3D/g, '=').replace(/%2F/g, '/')}`);
      const path = parent ? `${parent.parentSet.name}(${parent.parentId})/${parent.nav.name}` : set.name;
      nextLink = `${ctx.base}/${path}?${kept.join('&')}`;
    }
  }

  const body: Record<string, unknown> = { '@odata.context': `${ctx.base}/$metadata#${set.name}${contextSelect(q)}` };
  const total = all.length;
  if (q.count) body['@odata.count'] = Math.min(total, MAX_PAGE_SIZE);
  if (q.count && ctx.annotations.wants('Microsoft.Dynamics.CRM.totalrecordcount')) {
    body['@Microsoft.Dynamics.CRM.totalrecordcount'] = Math.min(total, MAX_PAGE_SIZE);
  }
  if (q.count && ctx.annotations.wants('Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded')) {
    body['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] = total > MAX_PAGE_SIZE;
  }
  body['value'] = page.map((r) => shape(ctx, set, r, q.select, q.expand));
  if (nextLink) body['@odata.nextLink'] = nextLink;
  return jsonResponse(200, body, preferenceApplied(ctx, { pageSize: requested !== undefined ? pageSize : undefined }));
}

/** `GET <set>/$count`: capped at 5000 like `@odata.count` (count-rows.md). */
function count(ctx: RequestContext, set: EntitySetInfo): ApiResponse {
  const q = parseQueryOptions(parseQueryString(ctx.req.query));
  const predicate = compile(ctx, set, q.filter, q.aliases);
  const rt = runtime(ctx, set);
  let n = 0;
  for (const r of ctx.env.store.allRows(set.name)) if (!predicate || predicate(r, rt)) n++;
  return textResponse(String(Math.min(n, MAX_PAGE_SIZE)));
}

/** Collections and counts; each service keeps its own sorted-result cache. */
export const collections: Handler = {
  name: 'collections',
  routes: () => {
    const cache = new Map<string, SortedResult>();
    return {
      collection: { GET: (t, ctx) => list(ctx, cache, t.set, undefined) },
      count: { GET: (t, ctx) => count(ctx, t.set) },
      relatedCollection: {
        GET: (t, ctx) => list(ctx, cache, t.targetSet, { parentSet: t.set, parentId: normaliseId(t.row[t.set.key]), nav: t.navigation }),
      },
    };
  },
};
