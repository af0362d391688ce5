/**
 * Paging machinery any capability that returns pages can share: walking pages with the next one
 * requested ahead, following an `@odata.nextLink` safely, and the iterator with `byPage()` that
 * `list()` returns (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
 */
import { DynamicsError, ErrorCode } from '../errors';
import { checkNextLink } from '../odata/collection';
import { invalidArgument } from '../odata/fail';
import type { ContinuablePage, PagedAsyncIterableIterator, PageSettings } from './types';

/** A page as fetched, and where the next one is (undefined on the last page). */
export interface FetchedPage<T, Cursor> {
  page: ContinuablePage<T>;
  next: Cursor | undefined;
}

/**
 * Yields the pages from `first` on. The next page is requested while the caller works on the current
 * one (two pages in memory at most); when the caller stops early, that request is cancelled through
 * the signal `fetchPage` is given (which also follows `callerSignal`).
 */
export async function* prefetchPages<T, Cursor>(
  first: Cursor | undefined,
  fetchPage: (cursor: Cursor, signal: AbortSignal) => Promise<FetchedPage<T, Cursor>>,
  callerSignal: AbortSignal | undefined,
): AsyncGenerator<ContinuablePage<T>, void, undefined> {
  if (first === undefined) return;
  const stop = new AbortController();
  const signal = callerSignal === undefined ? stop.signal : AbortSignal.any([stop.signal, callerSignal]);
  let pending: Promise<FetchedPage<T, Cursor>> | undefined = fetchPage(first, signal);
  try {
    while (pending !== undefined) {
      const { page, next } = await pending;
      pending = undefined;
      if (next !== undefined) {
        pending = fetchPage(next, signal);
        // If the caller stops here, nobody awaits it: its failure must not become an unhandled rejection.
        pending.catch(() => undefined);
      }
      yield page;
    }
  } finally {
    if (pending !== undefined) stop.abort();
  }
}

/** The records of `pages()` one by one, with `byPage(settings)` for the pages themselves. */
export function pagedIterator<T>(pages: (settings?: PageSettings) => AsyncIterableIterator<ContinuablePage<T>>): PagedAsyncIterableIterator<T> {
  async function* rows(): AsyncIterableIterator<T> {
    for await (const page of pages()) yield* page;
  }
  const iterator = rows();
  const paged: PagedAsyncIterableIterator<T> = {
    next: () => iterator.next(),
    [Symbol.asyncIterator]: () => paged,
    byPage: (settings?: PageSettings) => pages(settings),
  };
  return paged;
}

/**
 * The next page's URL, unmodified (a relative link is resolved against the page's URL), checked by
 * `checkNextLink` to stay under the API root so the bearer token goes nowhere else. A link back to
 * the same page would loop forever, so it is refused too.
 *
 * @throws DynamicsError `malformed_response` for a link outside the API root or to the same page.
 */
export function nextLinkOf(link: string | undefined, current: string, apiRoot: string): string | undefined {
  if (link === undefined) return undefined;
  const absolute = checkNextLink(/^https?:\/\//i.test(link) ? link : new URL(link, current).href, apiRoot);
  if (absolute === current) {
    throw new DynamicsError(`GET ${current}: @odata.nextLink points to the same page; stopping instead of looping`, {
      code: ErrorCode.malformedResponse,
      request: { method: 'GET', url: current },
    });
  }
  return absolute;
}

/**
 * A `continuationToken` is an `@odata.nextLink` of this environment, used unmodified.
 *
 * @throws DynamicsError `invalid_argument` naming `argument` for anything else.
 */
export function checkContinuation(token: unknown, origin: string, argument: string): string {
  if (typeof token !== 'string' || !token.startsWith(`${origin}/`)) {
    throw invalidArgument(argument, `an @odata.nextLink from this environment (starting with ${origin}/)`, token);
  }
  return token;
}
