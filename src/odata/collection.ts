/**
 * Reading a collection page: `value`, `@odata.nextLink` and the count annotations
 * (query/page-results.md, query/count-rows.md).
 */
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
    const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw malformedResponse(`Collection response: the body is not JSON (${(cause as Error).message})`, { cause });
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
 * opaque and must be sent back as is (query/page-results.md). A link to another host or path would
 * hand the token to someone else, so it is refused.
 *
 * @throws DynamicsError `malformed_response` when the link is not an absolute URL under `apiRootUrl`.
 * @example checkNextLink(page.nextLink, 'https://org.crm.dynamics.com/api/data/v9.2/')
 */
export function checkNextLink(nextLink: string, apiRootUrl: string): string {
  let link: URL;
  let root: URL;
  try {
    link = new URL(nextLink);
    root = new URL(apiRootUrl);
  } catch (cause) {
    throw malformedResponse(`@odata.nextLink is not an absolute URL: ${JSON.stringify(String(nextLink).slice(0, 200))}`, { cause });
  }
  const rootPath = root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`;
  if (link.origin.toLowerCase() !== root.origin.toLowerCase() || !link.pathname.toLowerCase().startsWith(rootPath.toLowerCase())) {
    throw malformedResponse(`@odata.nextLink points outside the API root ${root.origin}${rootPath}: ${JSON.stringify(`${link.origin}${link.pathname}`.slice(0, 200))}`);
  }
  return nextLink;
}
