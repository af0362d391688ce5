/**
 * Collections: `list()` with paging, and `count()`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results,
 * …/webapi/query/count-rows).
 */
import { DynamicsError, ErrorCode } from '../../errors';
import { describeRequest, requestLine } from '../../http/errors';
import { excerpt } from '../../net/excerpt';
import { parseCollectionPage, type CollectionPage } from '../../odata/collection';
import { invalidArgument } from '../../odata/fail';
import { buildQuery, composePrefer, MAX_PAGE_SIZE, type QueryOptions } from '../../odata/query';
import { entityPath, odataPart } from '../arguments';
import type { CallResult, ClientContext } from '../context';
import { checkContinuation, nextLinkOf, PageWalk, pagedIterator, prefetchPages, type FetchedPage } from '../paging';
import { readJsonObject, readText } from '../response';
import type { ColumnOf, ContinuablePage, FilterQuery, ListQuery, OperationOptions, PagedAsyncIterableIterator, PageSettings } from '../types';

/** A collection page and `$count` answer 200; a redirect or any other status is an error. */
const PAGE: readonly number[] = [200];

/** A collection page of an answer: a JSON object with a `value` array, or `malformed_response` naming the request. */
function readPage<T>(result: CallResult): CollectionPage<T> {
  const body = readJsonObject(result, 'a collection page');
  try {
    return parseCollectionPage<T>(body);
  } catch (error) {
    if (!(error instanceof DynamicsError)) throw error;
    throw new DynamicsError(`${requestLine(result.request)}: ${error.message}`, {
      code: error.code,
      status: result.response.status,
      request: describeRequest(result.request),
    });
  }
}

/**
 * The records of `entitySet` matching `query`, page by page, following `@odata.nextLink` unmodified.
 * Nothing is sent until the caller iterates. See `DynamicsClient.list`.
 *
 * @throws DynamicsError `invalid_argument` at once (not at the first iteration) for a bad query.
 */
export function list<T, R, K extends ColumnOf<R>, X extends string, M, S>(ctx: ClientContext, entitySet: string, query?: ListQuery<R, K, X, M, S>): PagedAsyncIterableIterator<T> {
  const path = entityPath(entitySet);
  // Built now so that a bad query throws at the call, not at the first iteration.
  const odata = odataPart(query) ?? {};
  const top = query?.top;
  // Dataverse answers `$top` with one page and no nextLink, and `$top` does not mix with a page size
  // (the page-results page cited above): `$top` goes to the server only when one page can hold it;
  // otherwise the client pages and stops after `top` rows itself.
  const serverTop = top !== undefined && query?.maxPageSize === undefined && top <= MAX_PAGE_SIZE;
  if (top !== undefined && !serverTop) delete odata.top;
  // With the table's runtime model, filter values are written as their columns' Edm types need.
  const columns = ctx.entityModel(entitySet)?.columns;
  const { queryString, preferences } = buildQuery(odata as QueryOptions, 'query', { columns });
  if (top !== undefined && !serverTop) {
    buildQuery({ top }, 'query');
    if (top > 0) preferences.maxPageSize = Math.min(preferences.maxPageSize ?? MAX_PAGE_SIZE, top);
  }
  const firstUrl = ctx.apiRoot + path + queryString;

  async function* pages(settings: PageSettings = {}): AsyncIterableIterator<ContinuablePage<T>> {
    if (settings === null || typeof settings !== 'object') throw invalidArgument('settings', '{ maxPageSize?, continuationToken? }', settings);
    const prefer = composePrefer({ ...preferences, ...(settings.maxPageSize === undefined ? {} : { maxPageSize: settings.maxPageSize }) });
    let url: string | undefined = firstUrl;
    // `top` counts from the first page; a resumed walk cannot know how many rows came before.
    let remaining = top === 0 ? undefined : top;
    if (top === 0 && !serverTop) url = undefined;
    if (settings.continuationToken !== undefined) {
      url = checkContinuation(settings.continuationToken, ctx.apiRoot, 'settings.continuationToken');
      remaining = undefined;
    }
    // Every page this walk fetches, so that a nextLink cycle of any length stops at its first repeat.
    const walk = new PageWalk();
    if (url !== undefined) walk.visit(url);
    const fetchPage = async (pageUrl: string, signal: AbortSignal): Promise<FetchedPage<T, string>> => {
      const result = await ctx.call({ method: 'GET', url: pageUrl, options: { ...query, abortSignal: signal }, headers: { Prefer: prefer }, expect: PAGE });
      const collection = readPage<T>(result);
      let rows = collection.value;
      let next = nextLinkOf(collection.nextLink, pageUrl, ctx.apiRoot, walk);
      if (remaining !== undefined) {
        if (rows.length >= remaining) {
          rows = rows.slice(0, remaining);
          next = undefined;
        }
        remaining -= rows.length;
      }
      const page = rows as ContinuablePage<T>;
      page.continuationToken = next;
      if (collection.count !== undefined) page.count = collection.count;
      if (collection.totalRecordCount !== undefined) page.totalRecordCount = collection.totalRecordCount;
      if (collection.totalRecordCountLimitExceeded !== undefined) page.totalRecordCountLimitExceeded = collection.totalRecordCountLimitExceeded;
      return { page, next };
    };
    yield* prefetchPages(url, fetchPage, query?.abortSignal);
  }

  return pagedIterator(pages);
}

/**
 * `GET <entitySet>/$count`, which answers `text/plain`. See `DynamicsClient.count`.
 *
 * @throws DynamicsError `malformed_response` when the answer is not a whole number.
 */
export async function count<R, M, S>(ctx: ClientContext, entitySet: string, filter?: FilterQuery<R, M, S>, options?: OperationOptions): Promise<number> {
  const path = entityPath(entitySet);
  const columns = ctx.entityModel(entitySet)?.columns;
  const query = filter === undefined ? '' : buildQuery({ filter: filter as QueryOptions['filter'] }, 'filter', { columns }).queryString;
  return readCount(await ctx.call({ method: 'GET', url: `${ctx.apiRoot}${path}/$count${query}`, options, expect: PAGE }));
}

/** The number a `$count` answers (a whole number as text/plain). @throws DynamicsError `malformed_response` for anything else. */
export function readCount(result: CallResult): number {
  const { response, request } = result;
  const text = readText(result).trim();
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new DynamicsError(`${requestLine(request)}: expected a count (a whole number as text/plain), got ${text === '' ? 'an empty body' : JSON.stringify(excerpt(text, 80))}`, {
      code: ErrorCode.malformedResponse,
      status: response.status,
      request: describeRequest(request),
    });
  }
  return n;
}
