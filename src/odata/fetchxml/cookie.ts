/**
 * FetchXML paging cookies through the Web API
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results).
 *
 * A page that has more after it carries `@Microsoft.Dynamics.CRM.morerecords: true` and
 * `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`, an XML element
 * `<cookie pagenumber="2" pagingcookie="%253ccookie%2520page…" istracking="False" />` whose
 * `pagingcookie` is URL-encoded twice. The next request sends it back, decoded, as the `<fetch>`
 * element's `paging-cookie` attribute with `page` one higher.
 *
 * What the service has been seen to send besides, all accepted here: a `pagingcookie` encoded once
 * (a v9.1 capture), `morerecords: false` on the last page instead of leaving it out, both annotations
 * absent on the last page, and an empty `pagingcookie` (some queries, such as those ordered by a
 * linked table's column, have no cookie: the walk then goes on by page number alone).
 */
import { foreignText } from '../../net/excerpt';
import { malformedResponse } from '../fail';
import { readStartTag } from './xml';

/** The annotation carrying the paging cookie. */
export const PAGING_COOKIE_ANNOTATION = 'Microsoft.Dynamics.CRM.fetchxmlpagingcookie';
/** The annotation saying whether more pages follow. */
export const MORE_RECORDS_ANNOTATION = 'Microsoft.Dynamics.CRM.morerecords';

/** Longest paging cookie accepted (it holds a page's first and last values of each order column). */
export const MAX_PAGING_COOKIE_CHARS = 1_000_000;

/** What a FetchXML page says about the next one. */
export interface FetchXmlPaging {
  /** `@Microsoft.Dynamics.CRM.morerecords` was `true`. */
  moreRecords: boolean;
  /**
   * The paging cookie to send back as `paging-cookie`, decoded (`<cookie page="1">…</cookie>`);
   * undefined when the page carried none or an empty one (page by number then).
   */
  pagingCookie?: string;
  /** The `pagenumber` the service wrote, for diagnostics only: it is not reliable (the docs show the same number on consecutive pages). */
  pageNumber?: number;
}

/** Percent-decodes until the text is the cookie element itself: it arrives encoded twice, or once. */
function decodeCookie(value: string): string {
  let text = value.trim();
  for (let round = 0; round < 3 && !text.startsWith('<') && /%[0-9A-Fa-f]{2}/.test(text); round++) {
    try {
      text = decodeURIComponent(text);
    } catch {
      throw malformedResponse('FetchXML page: the paging cookie is not validly percent-encoded');
    }
  }
  if (!text.startsWith('<')) throw malformedResponse(`FetchXML page: the paging cookie does not decode to a <cookie> element: ${JSON.stringify(foreignText(text, 80))}`);
  return text;
}

/**
 * Reads the paging annotations of a FetchXML page.
 *
 * @param body - the page's JSON object.
 * @throws DynamicsError `malformed_response` for annotations of the wrong type, a cookie annotation
 *   that is not a `<cookie …/>` element, or a `pagingcookie` that does not decode to one.
 * @example readPaging({ '@Microsoft.Dynamics.CRM.morerecords': true, '@Microsoft.Dynamics.CRM.fetchxmlpagingcookie': '<cookie pagenumber="2" pagingcookie="%253ccookie%2520page%253d%25221%2522%253e%253c%252fcookie%253e" istracking="False" />' })
 *   // { moreRecords: true, pagingCookie: '<cookie page="1"></cookie>', pageNumber: 2 }
 */
export function readPaging(body: Readonly<Record<string, unknown>>): FetchXmlPaging {
  const more = body[`@${MORE_RECORDS_ANNOTATION}`];
  if (more !== undefined && more !== null && typeof more !== 'boolean') {
    throw malformedResponse(`FetchXML page: @${MORE_RECORDS_ANNOTATION} is not true or false: ${JSON.stringify(foreignText(String(more), 40))}`);
  }
  const paging: FetchXmlPaging = { moreRecords: more === true };
  const annotation = body[`@${PAGING_COOKIE_ANNOTATION}`];
  if (annotation === undefined || annotation === null || annotation === '') return paging;
  if (typeof annotation !== 'string') throw malformedResponse(`FetchXML page: @${PAGING_COOKIE_ANNOTATION} is not a string`);
  if (annotation.length > MAX_PAGING_COOKIE_CHARS) throw malformedResponse(`FetchXML page: the paging cookie is longer than ${MAX_PAGING_COOKIE_CHARS} characters`);
  const trimmed = annotation.trim();
  const tag = trimmed.startsWith('<') ? readStartTag(trimmed, 0) : undefined;
  if (tag === undefined || tag.name !== 'cookie') {
    throw malformedResponse(`FetchXML page: @${PAGING_COOKIE_ANNOTATION} is not a <cookie … /> element: ${JSON.stringify(foreignText(trimmed, 80))}`);
  }
  const attributes = new Map(tag.attributes);
  const pageNumber = Number(attributes.get('pagenumber'));
  if (Number.isSafeInteger(pageNumber) && pageNumber > 0) paging.pageNumber = pageNumber;
  const cookie = attributes.get('pagingcookie');
  if (cookie !== undefined && cookie.trim() !== '') paging.pagingCookie = decodeCookie(cookie);
  return paging;
}
