/**
 * Paging machinery any capability that returns pages can share: walking pages with the next one
 * requested ahead, following an `@odata.nextLink` safely, and the iterator with `byPage()` that
 * `list()` returns (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
 */
import { createHash } from 'node:crypto';
import { DynamicsError, ErrorCode } from '../errors';
import { displayUrl } from '../net/excerpt';
import { checkNextLink, outsideApiRoot } from '../odata/collection';
import { invalidArgument, malformedResponse } from '../odata/fail';
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

/**
 * The records of `pages()` one by one, with `byPage(settings)` for the pages themselves.
 *
 * Hand-written rather than an async generator over the pages: a generator that `yield*`s a page costs
 * several promises and an async-from-sync wrapper per record, which on a 100,000-row walk weighed as
 * much as reading the pages. Here a record of the current page is one resolved promise. Stopping
 * early (`break`, `return()`) ends the page walk, which cancels the page requested ahead.
 */
export function pagedIterator<T>(pages: (settings?: PageSettings) => AsyncIterableIterator<ContinuablePage<T>>): PagedAsyncIterableIterator<T> {
  let walk: AsyncIterableIterator<ContinuablePage<T>> | undefined;
  let page: ContinuablePage<T> | undefined;
  let index = 0;
  let finished = false;
  /** The page being fetched, so that calls of next() made before it arrives wait for it in order. */
  let fetching: Promise<IteratorResult<T>> | undefined;
  const end: IteratorResult<T> = { value: undefined, done: true };

  async function nextPage(): Promise<IteratorResult<T>> {
    walk ??= pages();
    for (;;) {
      let step: IteratorResult<ContinuablePage<T>>;
      try {
        step = await walk.next();
      } catch (error) {
        finished = true;
        throw error;
      }
      if (step.done === true) {
        finished = true;
        return end;
      }
      // An empty page (the service may send one before the last) is skipped, not taken for the end.
      if (step.value.length > 0) {
        page = step.value;
        index = 1;
        return { value: page[0], done: false };
      }
    }
  }

  function next(): Promise<IteratorResult<T>> {
    if (fetching !== undefined) return fetching.then(next, next);
    if (page !== undefined && index < page.length) return Promise.resolve({ value: page[index++], done: false });
    page = undefined;
    if (finished) return Promise.resolve(end);
    fetching = nextPage();
    const clear = (): void => {
      fetching = undefined;
    };
    fetching.then(clear, clear);
    return fetching;
  }

  const paged: PagedAsyncIterableIterator<T> & { return(): Promise<IteratorResult<T>> } = {
    next,
    async return(): Promise<IteratorResult<T>> {
      finished = true;
      page = undefined;
      const current = walk;
      walk = undefined;
      await current?.return?.(undefined);
      return end;
    },
    [Symbol.asyncIterator]: () => paged,
    byPage: (settings?: PageSettings) => pages(settings),
  };
  return paged;
}

/**
 * The links one walk has followed, so that a cycle of any length (A → B → A) is caught on its first
 * repeat. Memory stays bounded per page: a SHA-1 digest (28 characters of base64) of each link, not the link, which
 * can carry a paging cookie of several kilobytes.
 */
export class PageWalk {
  readonly #seen = new Set<string>();

  /** Records `url`; false when this walk has already visited it. */
  visit(url: string): boolean {
    const digest = createHash('sha1').update(url).digest('base64');
    if (this.#seen.has(digest)) return false;
    this.#seen.add(digest);
    return true;
  }

  /** Links visited so far. */
  get size(): number {
    return this.#seen.size;
  }
}

/**
 * The next page's URL, unmodified (a relative link is resolved against the page's URL), checked by
 * `checkNextLink` to stay under the API root so the bearer token goes nowhere else. A link back to a
 * page this walk has already fetched would loop forever (A → A, or A → B → A), so it is refused: with
 * `walk`, against every page of the walk (the walk records the link); without, against the current page.
 *
 * @throws DynamicsError `malformed_response` for a link outside the API root or to a page already visited.
 */
export function nextLinkOf(link: string | undefined, current: string, apiRoot: string, walk?: PageWalk): string | undefined {
  if (link === undefined) return undefined;
  let absolute: string;
  try {
    absolute = checkNextLink(/^https?:\/\//i.test(link) ? link : new URL(link, current).href, apiRoot);
  } catch (error) {
    if (error instanceof DynamicsError) throw new DynamicsError(`GET ${displayUrl(current)}: ${error.message}`, { code: error.code, request: { method: 'GET', url: displayUrl(current) } });
    throw malformedResponse(`GET ${displayUrl(current)}: @odata.nextLink is not a URL: ${JSON.stringify(displayUrl(link).slice(0, 200))}`);
  }
  if (absolute === current || (walk !== undefined && !walk.visit(absolute))) {
    throw new DynamicsError(
      `GET ${displayUrl(current)}: @odata.nextLink ${JSON.stringify(displayUrl(absolute).slice(0, 200))} points to a page this walk has already fetched (a cycle); stopping instead of looping`,
      {
        code: ErrorCode.malformedResponse,
        request: { method: 'GET', url: displayUrl(current) },
      },
    );
  }
  return absolute;
}

/**
 * A `continuationToken` is an `@odata.nextLink` of this environment, used unmodified, and held to the
 * same rule as one: an absolute URL under the API root (`apiRoot`), on its origin as net's one
 * comparison sees it, without userinfo.
 *
 * @throws DynamicsError `invalid_argument` naming `argument` for anything else.
 */
export function checkContinuation(token: unknown, apiRoot: string, argument: string): string {
  const root = apiRoot.endsWith('/') ? apiRoot : `${apiRoot}/`;
  const problem = outsideApiRoot(token, root);
  if (problem !== undefined) {
    throw invalidArgument(argument, `an @odata.nextLink from this environment (under ${root}); this one ${problem}`);
  }
  return token as string;
}
