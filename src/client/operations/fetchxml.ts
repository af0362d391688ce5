/**
 * FetchXML queries through the Web API, page by page with the paging cookie
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results,
 * https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data).
 *
 * Each page is `GET <entitySet>?fetchXml=<the query with count, page and paging-cookie set>` with
 * `Prefer: odata.include-annotations` naming the cookie and `morerecords` annotations; a query too
 * long for a URL of its own (32,768 characters) goes as a GET inside `$batch`, where Dataverse takes
 * 65,536. The walk keeps its own page counter (the service's `pagenumber` is not reliable), accepts a
 * cookie encoded once or twice, an empty one (then it pages by number), `morerecords: false` and
 * missing annotations on the last page, and stops with `malformed_response` when a page would start
 * the walk over (a cookie it has already sent, or the same rows again).
 */
import { createHash } from 'node:crypto';
import { DynamicsError, ErrorCode } from '../../errors';
import { describeRequest, requestLine } from '../../http/errors';
import { parseCollectionPage } from '../../odata/collection';
import { invalidArgument, malformedResponse } from '../../odata/fail';
import { MAX_PAGING_COOKIE_CHARS, MORE_RECORDS_ANNOTATION, PAGING_COOKIE_ANNOTATION, readPaging, rootStartTag, withRootAttributes, type FetchXmlSource } from '../../odata/fetchxml';
import { composePrefer, MAX_PAGE_SIZE } from '../../odata/query';
import { MAX_BATCH_URL_LENGTH, MAX_URL_LENGTH } from '../../odata/url';
import { entityPath } from '../arguments';
import type { CallResult, ClientContext } from '../context';
import { PageWalk, pagedIterator, prefetchPages, type FetchedPage } from '../paging';
import { readJsonObject } from '../response';
import type { AnnotationsOption, ContinuablePage, OperationOptions, PagedAsyncIterableIterator, PageSettings } from '../types';
import { batch } from './batch';

/** Options of {@link DynamicsClient.fetchXml}. */
export interface FetchXmlOptions extends OperationOptions {
  /**
   * Rows per page, 1–5000, written as the `<fetch>` element's `count`. Default: the query's own
   * `count`, else 5000 (Dataverse's maximum for standard tables; elastic tables take at most 500).
   * Not allowed with `top`, which Dataverse does not combine with paging.
   */
  maxPageSize?: number;
  /**
   * Annotations to include besides the paging ones (`Prefer: odata.include-annotations`): `true` for
   * all, or names such as `'OData.Community.Display.V1.FormattedValue'`. Default: only the paging ones.
   */
  annotations?: AnnotationsOption;
}

/** Where the walk is: the page to ask for and the cookie of the page before it. */
interface Cursor {
  page: number;
  cookie?: string;
}

/** Longest FetchXML accepted: more cannot fit in any Dataverse URL, even inside `$batch`. */
const MAX_FETCHXML_CHARS = MAX_BATCH_URL_LENGTH;

/** A FetchXML page answers 200; a redirect or any other status is an error. */
const PAGE: readonly number[] = [200];

const TOKEN_PREFIX = 'fetchxml:';

/** The continuation token of a cursor: opaque to callers, `fetchxml:<page>:<cookie as base64url>`. */
function tokenOf(cursor: Cursor): string {
  return `${TOKEN_PREFIX}${cursor.page}:${Buffer.from(cursor.cookie ?? '', 'utf8').toString('base64url')}`;
}

function cursorOf(token: unknown): Cursor {
  const expected = 'a continuationToken of a page of this fetchXml() walk';
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length > 2 * MAX_PAGING_COOKIE_CHARS) throw invalidArgument('settings.continuationToken', expected, token);
  const [page, cookie] = token.slice(TOKEN_PREFIX.length).split(':');
  const n = Number(page);
  if (!Number.isSafeInteger(n) || n < 1 || cookie === undefined || !/^[A-Za-z0-9_-]*$/.test(cookie)) throw invalidArgument('settings.continuationToken', expected, token);
  const text = Buffer.from(cookie, 'base64url').toString('utf8');
  if (text !== '' && !text.startsWith('<cookie')) throw invalidArgument('settings.continuationToken', expected, token);
  return text === '' ? { page: n } : { page: n, cookie: text };
}

function pageSizeOf(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw invalidArgument(argument, `a whole number from 1 to ${MAX_PAGE_SIZE} (Dataverse's largest FetchXML page)`, value);
  }
  return value;
}

/** The caller's annotations and the paging ones, as one `odata.include-annotations` list. */
function annotationsWith(annotations: AnnotationsOption | undefined): string[] | true {
  if (annotations === true || annotations === '*') return true;
  const own = annotations === undefined || annotations === false ? [] : typeof annotations === 'string' ? [annotations] : [...annotations];
  if (own.includes('*')) return true;
  return [...new Set([PAGING_COOKIE_ANNOTATION, MORE_RECORDS_ANNOTATION, ...own])];
}

/** The per-call options only (what a request or `$batch` takes). */
function callOptions(options: FetchXmlOptions | undefined, signal: AbortSignal): OperationOptions {
  const out: OperationOptions = { abortSignal: signal };
  if (options?.timeoutInMs !== undefined) out.timeoutInMs = options.timeoutInMs;
  if (options?.maxResponseBytes !== undefined) out.maxResponseBytes = options.maxResponseBytes;
  if (options?.headers !== undefined) out.headers = options.headers;
  if (options?.impersonate !== undefined) out.impersonate = options.impersonate;
  return out;
}

/** The logical name in the query's `<entity name='…'>`, when it can be read. */
function entityNameOf(xml: string): string | undefined {
  return /<entity\s[^>]*?\bname\s*=\s*(['"])([^'"]*)\1/.exec(xml)?.[2];
}

/**
 * The text of a query: FetchXML as given, or what a builder writes.
 *
 * @throws DynamicsError `invalid_argument` for anything else, or text longer than any URL can carry.
 */
function textOf(fetch: unknown): string {
  let xml: unknown = fetch;
  if (fetch !== null && typeof fetch === 'object' && typeof (fetch as Partial<FetchXmlSource>).toXml === 'function') xml = (fetch as FetchXmlSource).toXml();
  if (typeof xml !== 'string' || xml.trim() === '') throw invalidArgument('fetch', 'FetchXML text or a query built with fetchXml()', fetch);
  if (xml.length > MAX_FETCHXML_CHARS) {
    throw invalidArgument('fetch', `FetchXML of at most ${MAX_FETCHXML_CHARS.toLocaleString('en-US')} characters (encoded, it must fit in a URL inside $batch)`, `${xml.length} characters`);
  }
  return xml;
}

/**
 * The rows of a FetchXML query, page by page. Nothing is sent until the caller iterates. See
 * `DynamicsClient.fetchXml`.
 *
 * @throws DynamicsError `invalid_argument` at once (not at the first iteration) for a bad query or option.
 */
export function fetchXml<T>(ctx: ClientContext, entitySet: string, fetch: string | FetchXmlSource, options?: FetchXmlOptions): PagedAsyncIterableIterator<T> {
  const path = entityPath(entitySet);
  const xml = textOf(fetch);
  const root = rootStartTag(xml, 'fetch');
  if (root.name !== 'fetch') throw invalidArgument('fetch', 'FetchXML whose root element is <fetch>', `<${root.name}>`);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgument('options', 'an object of options', options);
  const attributes = new Map(root.attributes);
  const top = attributes.has('top');
  if (top && options?.maxPageSize !== undefined) throw invalidArgument('options.maxPageSize', 'no page size with top: Dataverse does not combine top with paging (fetchxml/page-results)', options.maxPageSize);
  const ownCount = attributes.get('count');
  const defaultSize = options?.maxPageSize !== undefined ? pageSizeOf(options.maxPageSize, 'options.maxPageSize') : ownCount !== undefined ? pageSizeOf(Number(ownCount), "fetch's count") : undefined;
  const model = ctx.entityModel(entitySet);
  const entity = entityNameOf(xml);
  if (model !== undefined && entity !== undefined && entity !== model.logicalName) {
    throw invalidArgument('fetch', `a query on ${model.logicalName}, the table of the entity set ${entitySet} (Dataverse reads the entity set from the URL)`, `<entity name='${entity}'>`);
  }
  const prefer = composePrefer({ includeAnnotations: annotationsWith(options?.annotations) });
  const startPage = attributes.has('page') ? Number(attributes.get('page')) : 1;
  if (!Number.isSafeInteger(startPage) || startPage < 1) throw invalidArgument("fetch's page", 'a whole number ≥ 1', attributes.get('page'));
  const startCookie = attributes.get('paging-cookie');

  async function* pages(settings: PageSettings = {}): AsyncIterableIterator<ContinuablePage<T>> {
    if (settings === null || typeof settings !== 'object') throw invalidArgument('settings', '{ maxPageSize?, continuationToken? }', settings);
    if (top && settings.maxPageSize !== undefined) throw invalidArgument('settings.maxPageSize', 'no page size with top', settings.maxPageSize);
    const size = settings.maxPageSize !== undefined ? pageSizeOf(settings.maxPageSize, 'settings.maxPageSize') : defaultSize;
    // `count` is written for every paged query: without one, Dataverse's default page size applies.
    const count = top ? undefined : String(size ?? MAX_PAGE_SIZE);
    const first: Cursor = settings.continuationToken !== undefined ? cursorOf(settings.continuationToken) : { page: startPage, ...(startCookie ? { cookie: startCookie } : {}) };
    // Every cookie this walk has sent, and the rows that started the last page: a service that hands
    // back a cookie it already gave, or the same page again, would otherwise be walked forever.
    const sentCookies = new PageWalk();
    if (first.cookie !== undefined) sentCookies.visit(first.cookie);
    const seenPages = new PageWalk();

    const fetchPage = async (cursor: Cursor, signal: AbortSignal): Promise<FetchedPage<T, Cursor>> => {
      const text = top ? xml : withRootAttributes(xml, root, { count, page: String(cursor.page), 'paging-cookie': cursor.cookie });
      const url = `${ctx.apiRoot}${path}?fetchXml=${encodeURIComponent(text)}`;
      const { body, where } = url.length <= MAX_URL_LENGTH ? await getDirect(ctx, url, prefer, callOptions(options, signal)) : await getInBatch(ctx, url, prefer, callOptions(options, signal));
      let collection;
      let paging;
      try {
        collection = parseCollectionPage<T>(body);
        paging = readPaging(body);
      } catch (error) {
        if (!(error instanceof DynamicsError)) throw error;
        throw new DynamicsError(`${where}: ${error.message}`, { code: error.code, request: describeRequest({ method: 'GET', url }) });
      }
      const rows = collection.value;
      let next: Cursor | undefined;
      if (paging.moreRecords && !top) {
        if (rows.length === 0) throw cycle(where, 'an empty page says more records follow');
        // Any page seen before, not only the last one: pages by number with no cookie can cycle A, B, A.
        if (!seenPages.visit(digestOf(rows))) throw cycle(where, 'the page repeats the rows of the page before it, or of one earlier');
        next = { page: cursor.page + 1 };
        if (paging.pagingCookie !== undefined) {
          if (!sentCookies.visit(paging.pagingCookie)) throw cycle(where, 'the paging cookie is one this walk has already sent');
          next.cookie = paging.pagingCookie;
        }
      }
      const page = rows as ContinuablePage<T>;
      page.continuationToken = next === undefined ? undefined : tokenOf(next);
      if (collection.count !== undefined) page.count = collection.count;
      if (collection.totalRecordCount !== undefined) page.totalRecordCount = collection.totalRecordCount;
      if (collection.totalRecordCountLimitExceeded !== undefined) page.totalRecordCountLimitExceeded = collection.totalRecordCountLimitExceeded;
      return { page, next };
    };
    yield* prefetchPages(first, fetchPage, options?.abortSignal);
  }

  return pagedIterator(pages);
}

/** What identifies a page's rows: its first and last row (pages of one walk never share both). */
function digestOf(rows: readonly unknown[]): string {
  return createHash('sha1')
    .update(JSON.stringify(rows[0]) ?? '')
    .update('\u0000')
    .update(JSON.stringify(rows[rows.length - 1]) ?? '')
    .update(`\u0000${rows.length}`)
    .digest('base64');
}

function cycle(where: string, reason: string): DynamicsError {
  return new DynamicsError(`${where}: ${reason} (a cycle); stopping instead of walking the same rows again`, { code: ErrorCode.malformedResponse });
}

/** A page read with a GET of its own. */
async function getDirect(ctx: ClientContext, url: string, prefer: string | undefined, options: OperationOptions): Promise<{ body: Record<string, unknown>; where: string }> {
  const result: CallResult = await ctx.call({ method: 'GET', url, options, headers: { Prefer: prefer }, expect: PAGE });
  return { body: readJsonObject(result, 'a FetchXML page'), where: requestLine(result.request) };
}

/**
 * A page whose URL is too long for a request of its own: a GET inside `$batch`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data, "Use FetchXML with $batch").
 */
async function getInBatch(ctx: ClientContext, url: string, prefer: string | undefined, options: OperationOptions): Promise<{ body: Record<string, unknown>; where: string }> {
  const where = `GET ${url.slice(0, 120)}… (${url.length.toLocaleString('en-US')} characters, sent inside $batch)`;
  const [result] = await batch(ctx, [{ method: 'GET', url, ...(prefer === undefined ? {} : { headers: { Prefer: prefer } }) }], options);
  if (result === undefined) throw malformedResponse(`${where}: the $batch answer carried no part for the query`);
  if (result.error !== undefined) throw result.error;
  if (result.status !== 200) throw malformedResponse(`${where}: expected 200 inside $batch, got ${result.status}`);
  const body = result.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw malformedResponse(`${where}: expected a FetchXML page as a JSON object inside $batch`);
  return { body: body as Record<string, unknown>, where };
}
