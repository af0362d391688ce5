/**
 * Reading a collection page: `value`, `@odata.nextLink` and the count annotations
 * (query/page-results.md, query/count-rows.md).
 */
import { displayUrl, foreignText } from '../net/excerpt';
import { originOf } from '../net/origin';
import { malformedResponse } from './fail';

/** One page of a collection response. */
export interface CollectionPage<T = Record<string, unknown>> {
  /** The records of this page. */
  value: T[];
  /** `@odata.nextLink`: the URL of the next page, to be followed unmodified; undefined on the last page. */
  nextLink?: string;
  /** `@odata.count` (with `$count=true`; Dataverse caps it at 5000). */
  count?: number;
  /** `@Microsoft.Dynamics.CRM.totalrecordcount`, when that annotation was asked for. */
  totalRecordCount?: number;
  /** `@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded`, when that annotation was asked for. */
  totalRecordCountLimitExceeded?: boolean;
  /** `@odata.context`. */
  context?: string;
}

/**
 * Reads a collection response body (text, bytes or already-parsed JSON) into a page.
 *
 * @throws DynamicsError `malformed_response` when the body is not JSON, has no `value` array, or
 *   carries a non-string `@odata.nextLink`.
 * @example parseCollectionPage('{"value":[{"name":"A"}],"@odata.nextLink":"https://…"}')
 */
export function parseCollectionPage<T = Record<string, unknown>>(body: unknown): CollectionPage<T> {
  let json: unknown = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    try {
      // Decoding is inside the try: bytes too long for a string (ERR_STRING_TOO_LONG) are malformed too.
      const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
      json = JSON.parse(text);
    } catch (cause) {
      // JSON.parse's message quotes the body: redacted like any server text.
      const reason = foreignText((cause as Error).message);
      throw malformedResponse(`Collection response: the body is not JSON (${reason})`, { cause: new Error(reason) });
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw malformedResponse('Collection response: expected a JSON object with a "value" array');
  }
  const o = json as Record<string, unknown>;
  if (!Array.isArray(o.value)) throw malformedResponse('Collection response: expected a "value" array');
  const page: CollectionPage<T> = { value: o.value as T[] };
  const next = o['@odata.nextLink'];
  if (next !== undefined && next !== null) {
    if (typeof next !== 'string' || next.trim() === '') throw malformedResponse('Collection response: "@odata.nextLink" is not a URL');
    page.nextLink = next;
  }
  if (typeof o['@odata.count'] === 'number') page.count = o['@odata.count'];
  if (typeof o['@Microsoft.Dynamics.CRM.totalrecordcount'] === 'number') page.totalRecordCount = o['@Microsoft.Dynamics.CRM.totalrecordcount'];
  if (typeof o['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] === 'boolean') {
    page.totalRecordCountLimitExceeded = o['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'];
  }
  if (typeof o['@odata.context'] === 'string') page.context = o['@odata.context'];
  return page;
}

/**
 * Checks that an `@odata.nextLink` (or any server-given URL the client will call with its bearer
 * token) stays under the API root, and returns it unmodified: the `$skiptoken` paging cookie is
 * opaque and must be sent back as is (query/page-results.md). A link to another origin or path would
 * hand the token to someone else, so it is refused. Origins are compared by net's one comparison
 * (src/net/origin.ts), the one the transport applies before sending: scheme and host without regard
 * to case, a default port equal to none, and a link carrying userinfo (`https://user@host/…`) refused.
 *
 * @throws DynamicsError `malformed_response` when the link is not an absolute URL under `apiRootUrl`.
 * @example checkNextLink(page.nextLink, 'https://org.crm.dynamics.com/api/data/v9.2/')
 */
export function checkNextLink(nextLink: string, apiRootUrl: string): string {
  const problem = outsideApiRoot(nextLink, apiRootUrl);
  if (problem !== undefined) throw malformedResponse(`@odata.nextLink ${problem}`);
  return nextLink;
}

/**
 * Why `url` is not under `apiRootUrl` (same origin as {@link originOf} sees it, path under the root's,
 * no userinfo), in words that follow the name of what was checked; undefined when it is.
 */
export function outsideApiRoot(url: unknown, apiRootUrl: string): string | undefined {
  const rootOrigin = originOf(apiRootUrl);
  if (rootOrigin === undefined) return `cannot be checked: the API root ${JSON.stringify(apiRootUrl.slice(0, 200))} is not an absolute URL`;
  const rootPath = new URL(apiRootUrl).pathname.replace(/\/?$/, '/');
  if (typeof url !== 'string') return `is not a URL (got ${typeof url})`;
  const shown = JSON.stringify(displayUrl(url).slice(0, 200));
  let link: URL;
  try {
    link = new URL(url);
  } catch {
    return `is not an absolute URL: ${shown}`;
  }
  const origin = originOf(url);
  if (origin === undefined && (link.protocol === 'https:' || link.protocol === 'http:')) return `carries userinfo, which the bearer token is never sent with: ${shown}`;
  if (origin !== rootOrigin || !link.pathname.toLowerCase().startsWith(rootPath.toLowerCase())) {
    return `points outside the API root ${rootOrigin}${rootPath}: ${shown}`;
  }
  return undefined;
}
