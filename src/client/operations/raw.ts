/**
 * The escape hatch: any request on the environment, through the same pipeline (token, retries,
 * throttling, errors) as the typed methods.
 */
import { isJsonContentType } from '../../net/body';
import { plainResponseHeaders } from '../../http/errors';
import { displayUrl } from '../../net/excerpt';
import { HTTP_METHODS, isHttpMethod, type HttpMethod } from '../../net/method';
import { sameOrigin } from '../../net/origin';
import { invalidArgument } from '../../odata/fail';
import { composePrefer } from '../../odata/query';
import type { ClientContext } from '../context';
import { readJson, readText } from '../response';
import type { RawRequestOptions, RawResponse } from '../types';

const RESPONSE_TYPES: ReadonlySet<string> = new Set(['json', 'text', 'arraybuffer']);

/** `method path` with `body`, answered as `{ status, headers, data }`. See `DynamicsClient.request`. */
export async function request<T>(ctx: ClientContext, method: HttpMethod, path: string, body?: unknown, options?: RawRequestOptions): Promise<RawResponse<T>> {
  const m = typeof method === 'string' ? method.toUpperCase() : method;
  if (!isHttpMethod(m)) throw invalidArgument('method', `one of ${HTTP_METHODS.join(', ')}`, method);
  let url = resolvePath(ctx, path);
  if (options?.params !== undefined) url = appendParams(url, options.params);
  const responseType = options?.responseType ?? 'json';
  if (!RESPONSE_TYPES.has(responseType)) throw invalidArgument('options.responseType', "'json', 'text' or 'arraybuffer'", responseType);
  const prefer = options?.prefer === undefined ? undefined : composePrefer({ extra: options.prefer });
  const result = await ctx.call({ method: m, url, body, options, headers: { Prefer: prefer } });
  const { response } = result;
  let data: unknown;
  if (responseType === 'arraybuffer') data = response.body;
  else if (responseType === 'text') data = readText(result);
  else if (response.body.length === 0) data = undefined;
  else if (isJsonContentType(response.headers)) data = readJson(result);
  else data = readText(result);
  return { status: response.status, headers: plainResponseHeaders(response.headers, { redact: false }), data: data as T };
}

/**
 * An absolute URL for `path`: relative to the API root (`accounts?$top=1`), from the environment URL
 * when it starts with `/api/`, or an absolute URL that must be on the client's origin, since the
 * bearer token is never sent anywhere else.
 */
function resolvePath(ctx: ClientContext, path: unknown): string {
  if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a path relative to the API root such as "accounts", or an absolute URL on the same origin', path);
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
    // net's one origin comparison, as the transport applies it: case-insensitive, userinfo refused.
    if (!sameOrigin(path, ctx.origin)) {
      throw invalidArgument('path', `a URL on ${ctx.origin}, without userinfo (the bearer token is never sent to another origin)`, displayUrl(path));
    }
    return encodeLoosely(path, 'path');
  }
  if (path.startsWith('//')) throw invalidArgument('path', 'a path relative to the API root (a "//host" URL would leave the origin)', path);
  if (path.startsWith('/api/')) return ctx.origin + encodeLoosely(path, 'path');
  return ctx.apiRoot + encodeLoosely(path.replace(/^\/+/, ''), 'path');
}

/** Whether {@link encodeLoosely} has anything to encode (the same characters as its replace, without the `g` flag). */
const NEEDS_ENCODING = /%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]|["<>\\^`{|}]/u;

/**
 * Percent-encodes what cannot go on the wire (spaces, quotes, non-ASCII, a `%` not starting an escape)
 * and leaves the rest, so a path that is already encoded passes through unchanged.
 */
function encodeLoosely(text: string, argument: string): string {
  // Most paths need nothing: one test, without the replace's match and string building.
  if (!NEEDS_ENCODING.test(text)) return text;
  try {
    return text.replace(/%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]|["<>\\^`{|}]/gu, (c) => encodeURIComponent(c));
  } catch {
    throw invalidArgument(argument, 'well-formed Unicode text', text);
  }
}

function appendParams(url: string, params: Record<string, string | number | boolean | undefined>): string {
  if (params === null || typeof params !== 'object') throw invalidArgument('options.params', 'an object of query parameters', params);
  const parts: string[] = [];
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (value === undefined) continue;
    // `$` and `@` stay literal in names: OData system options and parameter aliases.
    try {
      parts.push(`${encodeURIComponent(name).replace(/%24/g, '$').replace(/%40/g, '@')}=${encodeURIComponent(String(value))}`);
    } catch {
      // encodeURIComponent throws a URIError for a lone surrogate.
      throw invalidArgument(`options.params.${name}`, 'well-formed Unicode text (found a lone surrogate)', value);
    }
  }
  if (parts.length === 0) return url;
  return `${url}${url.includes('?') ? '&' : '?'}${parts.join('&')}`;
}
