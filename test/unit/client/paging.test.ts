/**
 * paging.ts: the page walk with one page requested ahead, the iterator with byPage(), and the checks
 * on nextLinks and continuation tokens. Driven by a scripted fetchPage, so the timing of each
 * request relative to the caller is observable.
 */
import { checkContinuation, nextLinkOf, pagedIterator, prefetchPages, type FetchedPage } from '../../../src/client/paging';
import type { ContinuablePage } from '../../../src/client/types';
import { DynamicsError, ErrorCode } from '../../../src/errors';

const ROOT = 'https://org.crm.dynamics.com/api/data/v9.2/';

function page<T>(rows: T[], next?: number): FetchedPage<T, number> {
  const p = rows as ContinuablePage<T>;
  p.continuationToken = next === undefined ? undefined : String(next);
  return { page: p, next };
}

/** Pages 0..n-1 of one row each; records every request with its signal. */
function script(n: number, fail?: { at: number; error: Error }) {
  const requested: Array<{ cursor: number; signal: AbortSignal }> = [];
  const fetchPage = async (cursor: number, signal: AbortSignal): Promise<FetchedPage<string, number>> => {
    requested.push({ cursor, signal });
    await new Promise((resolve) => setImmediate(resolve));
    if (fail !== undefined && fail.at === cursor) throw fail.error;
    return page([`row ${cursor}`], cursor + 1 < n ? cursor + 1 : undefined);
  };
  return { requested, fetchPage };
}

describe('prefetchPages', () => {
  it('yields every page in order and requests the next one before handing over the current', async () => {
    const { requested, fetchPage } = script(3);
    const seen: Array<{ rows: string[]; requestedSoFar: number }> = [];
    for await (const p of prefetchPages(0, fetchPage, undefined)) seen.push({ rows: [...p], requestedSoFar: requested.length });
    expect(seen).toEqual([
      { rows: ['row 0'], requestedSoFar: 2 },
      { rows: ['row 1'], requestedSoFar: 3 },
      { rows: ['row 2'], requestedSoFar: 3 },
    ]);
    expect(requested.every((r) => !r.signal.aborted)).toBe(true);
  });

  it('requests nothing when there is no first page', async () => {
    const { requested, fetchPage } = script(3);
    const pages: unknown[] = [];
    for await (const p of prefetchPages<string, number>(undefined, fetchPage, undefined)) pages.push(p);
    expect(pages).toEqual([]);
    expect(requested).toEqual([]);
  });

  it('cancels the request ahead when the caller stops early, and its failure is not an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { requested, fetchPage } = script(5, { at: 1, error: new Error('page 1 failed after the caller left') });
      for await (const p of prefetchPages(0, fetchPage, undefined)) {
        expect([...p]).toEqual(['row 0']);
        break;
      }
      expect(requested.map((r) => r.cursor)).toEqual([0, 1]);
      expect(requested[1].signal.aborted).toBe(true);
      // Let the abandoned request settle (it rejects), then give node a turn to report it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a failure of a page the caller waits for is thrown to the caller', async () => {
    const { fetchPage } = script(5, { at: 1, error: new Error('boom') });
    const rows: string[] = [];
    await expect(
      (async () => {
        for await (const p of prefetchPages(0, fetchPage, undefined)) rows.push(...p);
      })(),
    ).rejects.toThrow('boom');
    expect(rows).toEqual(['row 0']);
  });

  it("every request follows the caller's signal", async () => {
    const controller = new AbortController();
    const { requested, fetchPage } = script(3);
    const walk = prefetchPages(0, fetchPage, controller.signal);
    await walk.next();
    controller.abort();
    expect(requested.map((r) => r.signal.aborted)).toEqual([true, true]);
    await walk.return(undefined);
  });
});

describe('pagedIterator', () => {
  it('iterates the records of every page, and hands byPage its settings', async () => {
    const calls: unknown[] = [];
    async function* pages(settings?: { maxPageSize?: number; continuationToken?: string }): AsyncIterableIterator<ContinuablePage<number>> {
      calls.push(settings);
      yield page([1, 2], 1).page;
      yield page([3]).page;
    }
    const rows: number[] = [];
    for await (const row of pagedIterator(pages)) rows.push(row);
    expect(rows).toEqual([1, 2, 3]);
    const byPage: number[][] = [];
    for await (const p of pagedIterator(pages).byPage({ maxPageSize: 2 })) byPage.push([...p]);
    expect(byPage).toEqual([[1, 2], [3]]);
    expect(calls).toEqual([undefined, { maxPageSize: 2 }]);
  });
});

describe('pagedIterator over records', () => {
  /** Pages of `sizes[i]` rows each, walked by prefetchPages as list() does. */
  function walk(sizes: number[]) {
    const requested: Array<{ cursor: number; signal: AbortSignal }> = [];
    const fetchPage = async (cursor: number, signal: AbortSignal): Promise<FetchedPage<string, number>> => {
      requested.push({ cursor, signal });
      await new Promise((resolve) => setImmediate(resolve));
      return page(
        Array.from({ length: sizes[cursor] }, (_, i) => `${cursor}.${i}`),
        cursor + 1 < sizes.length ? cursor + 1 : undefined,
      );
    };
    return { requested, pages: () => prefetchPages(0, fetchPage, undefined) };
  }

  it('yields every record of every page in order, skipping empty pages', async () => {
    const { pages } = walk([3, 0, 2, 1]);
    const rows: string[] = [];
    for await (const row of pagedIterator(pages)) rows.push(row);
    expect(rows).toEqual(['0.0', '0.1', '0.2', '2.0', '2.1', '3.0']);
  });

  it('answers calls of next() made before a page arrives in order, then done', async () => {
    const { pages } = walk([2, 2]);
    const iterator = pagedIterator(pages);
    const results = await Promise.all([iterator.next(), iterator.next(), iterator.next(), iterator.next(), iterator.next(), iterator.next()]);
    expect(results).toEqual([
      { value: '0.0', done: false },
      { value: '0.1', done: false },
      { value: '1.0', done: false },
      { value: '1.1', done: false },
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  });

  it('stopping a for-await over records ends the page walk, which cancels the page requested ahead', async () => {
    const { requested, pages } = walk([2, 2, 2]);
    for await (const row of pagedIterator(pages)) {
      expect(row).toBe('0.0');
      break;
    }
    expect(requested.map((r) => r.cursor)).toEqual([0, 1]);
    expect(requested[1].signal.aborted).toBe(true);
  });

  it('a failed page is thrown to the caller, and the iterator is done afterwards', async () => {
    const fetchPage = async (cursor: number): Promise<FetchedPage<string, number>> => {
      if (cursor === 1) throw new Error('page 1 failed');
      return page(['a', 'b'], 1);
    };
    const iterator = pagedIterator(() => prefetchPages(0, fetchPage, undefined));
    expect(await iterator.next()).toEqual({ value: 'a', done: false });
    expect(await iterator.next()).toEqual({ value: 'b', done: false });
    await expect(iterator.next()).rejects.toThrow('page 1 failed');
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });
});

describe('nextLinkOf and checkContinuation', () => {
  it('keeps an absolute nextLink unmodified and resolves a relative one against the page', () => {
    const link = `${ROOT}accounts?$select=name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E`;
    expect(nextLinkOf(link, `${ROOT}accounts?$select=name`, ROOT)).toBe(link);
    expect(nextLinkOf('accounts?$skiptoken=2', `${ROOT}accounts`, ROOT)).toBe(`${ROOT}accounts?$skiptoken=2`);
    expect(nextLinkOf(undefined, `${ROOT}accounts`, ROOT)).toBeUndefined();
  });

  it('refuses a link to the same page (it would loop) and a link outside the API root (the token would leave)', () => {
    for (const link of [`${ROOT}accounts`, 'https://elsewhere.example/api/data/v9.2/accounts?$skiptoken=2']) {
      let error: unknown;
      try {
        nextLinkOf(link, `${ROOT}accounts`, ROOT);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DynamicsError);
      expect((error as DynamicsError).code).toBe(ErrorCode.malformedResponse);
    }
  });

  it('a continuation token must be a link of this environment', () => {
    const origin = 'https://org.crm.dynamics.com';
    expect(checkContinuation(`${ROOT}accounts?$skiptoken=2`, origin, 'settings.continuationToken')).toBe(`${ROOT}accounts?$skiptoken=2`);
    for (const token of ['https://org.crm.dynamics.com.evil.example/x', 'accounts?$skiptoken=2', 42]) {
      expect(() => checkContinuation(token, origin, 'settings.continuationToken')).toThrow(/^settings\.continuationToken: expected an @odata\.nextLink from this environment/);
    }
  });
});
