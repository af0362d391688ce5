/**
 * The one origin comparison of the library (RFC 6454 §4-5, as the WHATWG URL parser defines scheme,
 * host and port): the transport's last check before a request leaves, the `@odata.nextLink` check,
 * the `continuationToken` check and the escape hatch's absolute URLs all ask this module, so that a
 * URL cannot pass one of them and fail another (`HTTPS://HOST`, `https://host:443`, userinfo).
 */

/**
 * The origin of an absolute http(s) URL, lower-cased (`https://org.crm.dynamics.com`, a default port
 * dropped), or undefined when `url` is not an absolute http(s) URL or carries userinfo
 * (`https://user:pass@host/`): a bearer token is never sent to a URL that names credentials of its own.
 *
 * @example originOf('HTTPS://Org.crm.dynamics.com:443/api/data/v9.2/') // 'https://org.crm.dynamics.com'
 */
export function originOf(url: string): string | undefined {
  if (typeof url !== 'string') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username !== '' || parsed.password !== '') return undefined;
  // An empty userinfo (`https://@host/`) parses to no username, but it is userinfo all the same.
  if (authorityOf(url).includes('@')) return undefined;
  // The parser already lower-cases scheme and host; this covers an origin handed in by a caller.
  return parsed.origin.toLowerCase();
}

/** The authority of an absolute URL as written: between `//` and the first `/`, `?`, `#` or `\\` after it. */
function authorityOf(url: string): string {
  const start = url.indexOf('//');
  if (start < 0) return '';
  const rest = url.slice(start + 2);
  const end = rest.search(/[/?#\\]/);
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * Whether `url` is on `origin` (scheme, host and port compared as URLs define them: without regard
 * to case, a default port equal to none; userinfo refused). The path is not looked at. A fast path
 * covers the URLs the client builds itself (`origin` followed by `/`).
 *
 * @param origin - an origin as {@link originOf} returns it, or any URL whose origin is meant.
 */
export function sameOrigin(url: string, origin: string): boolean {
  if (typeof url !== 'string') return false;
  // The same authority, byte for byte, followed by the path: on the origin (unless the origin names userinfo itself).
  if (url.startsWith(origin) && url.charCodeAt(origin.length) === 47 /* / */ && !origin.includes('@')) return true;
  const target = originOf(url);
  return target !== undefined && target === originOf(origin);
}
