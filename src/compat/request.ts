import { parseEntityReference } from '../client';
import { DynamicsError, ErrorCode } from '../errors';
import { isResponseByteLimit, MAX_RESPONSE_BYTES_LIMIT } from '../net/body';
import { isHeaderName, isHeaderValue } from '../net/headerSyntax';
import { sameOrigin } from '../net/origin';
import { isDuration, MAX_DURATION_TEXT } from '../net/timers';
import type { DynamicsEntityReference, DynamicsRequestConfig, ITokenSet } from './types';

/** What a compat call hands to `DynamicsClient.request`. */
export interface CallOptions {
  headers?: Record<string, string>;
  params?: Record<string, string | number | boolean>;
  timeoutInMs?: number;
  responseType?: 'json' | 'text' | 'arraybuffer';
  abortSignal?: AbortSignal;
  maxResponseBytes?: number;
}

/** The `AxiosRequestConfig` fields that are honoured; any other field present is reported once through `onIgnored`. */
const HONOURED = new Set(['headers', 'params', 'timeout', 'responseType', 'signal', 'maxContentLength']);

/** axios's per-method header groups, merged under the top-level headers (axios `mergeConfig` + `AxiosHeaders.concat`). */
const HEADER_GROUPS = ['common', 'delete', 'get', 'head', 'options', 'post', 'put', 'patch', 'purge', 'link', 'unlink'];

function invalid(message: string): DynamicsError {
  return new DynamicsError(message, { code: ErrorCode.invalidArgument });
}

/**
 * Turns the honoured part of an `AxiosRequestConfig` into the client's per-call options.
 *
 * @throws DynamicsError `invalid_argument`, naming the field, for values that cannot be honoured
 * (a `'stream'` response, a header value with a line break, an array query parameter): nothing is sent.
 */
export function toCallOptions(method: string, config: DynamicsRequestConfig | undefined, onIgnored: (field: string) => void): CallOptions {
  if (config === undefined || config === null) return {};
  if (typeof config !== 'object') throw invalid('options: expected an AxiosRequestConfig object ({ headers, params, timeout, responseType })');
  for (const [field, value] of Object.entries(config)) {
    if (value !== undefined && !HONOURED.has(field)) onIgnored(field);
  }
  const out: CallOptions = {};
  if (config.headers !== undefined && config.headers !== null) {
    const headers = flattenHeaders(method, config.headers);
    if (Object.keys(headers).length) out.headers = headers;
  }
  if (config.params !== undefined && config.params !== null) {
    const params = toParams(config.params);
    if (Object.keys(params).length) out.params = params;
  }
  if (config.timeout !== undefined) {
    // Above 2^31-1 ms node's timers fire at once: a huge "no timeout" would fail every call.
    if (!isDuration(config.timeout)) {
      throw invalid(`options.timeout: expected milliseconds, a finite number ≥ 0 (0 means the default) and ${MAX_DURATION_TEXT}`);
    }
    // axios reads 0 as "no timeout"; the client always has a deadline, so 0 keeps its default.
    if (config.timeout > 0) out.timeoutInMs = config.timeout;
  }
  if (config.responseType !== undefined) {
    const type = config.responseType;
    if (type !== 'json' && type !== 'text' && type !== 'arraybuffer') {
      throw invalid(`options.responseType: expected 'json', 'text' or 'arraybuffer' (got ${JSON.stringify(type)}; streams, blobs and documents are not supported)`);
    }
    out.responseType = type;
  }
  if (config.maxContentLength !== undefined && config.maxContentLength !== -1) {
    // axios's limit of the response body; -1 (its default) means the client's own limit.
    if (!isResponseByteLimit(config.maxContentLength)) {
      throw invalid(`options.maxContentLength: expected a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES_LIMIT} (1 GiB), or -1 for the default`);
    }
    out.maxResponseBytes = config.maxContentLength;
  }
  if (config.signal !== undefined && config.signal !== null) {
    if (!(config.signal instanceof AbortSignal)) throw invalid('options.signal: expected an AbortSignal');
    out.abortSignal = config.signal;
  }
  return out;
}

function isHeadersLike(value: unknown): value is { toJSON(asStrings?: boolean): object } {
  return typeof (value as { toJSON?: unknown } | null)?.toJSON === 'function';
}

function flattenHeaders(method: string, headers: NonNullable<DynamicsRequestConfig['headers']>): Record<string, string> {
  const top = isHeadersLike(headers) ? headers.toJSON(true) : headers;
  if (typeof top !== 'object' || top === null || Array.isArray(top)) throw invalid('options.headers: expected an object of header names to values');
  const out: Record<string, string> = {};
  const lower = method.toLowerCase();
  const source = top as Record<string, unknown>;
  const put = (values: Record<string, unknown>, where: string): void => {
    for (const [name, raw] of Object.entries(values)) {
      if (HEADER_GROUPS.includes(name) && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) continue;
      const value = headerText(raw, `${where}.${name}`);
      // Header names are case-insensitive: a later spelling replaces an earlier one.
      for (const existing of Object.keys(out)) if (existing.toLowerCase() === name.toLowerCase()) delete out[existing];
      if (value === undefined) continue;
      if (!isHeaderName(name)) throw invalid(`${where}: ${JSON.stringify(name)} is not a valid header name`);
      out[name] = value;
    }
  };
  for (const group of ['common', lower]) {
    const g = source[group];
    if (g !== null && typeof g === 'object' && !Array.isArray(g)) put((isHeadersLike(g) ? g.toJSON(true) : g) as Record<string, unknown>, `options.headers.${group}`);
  }
  put(source, 'options.headers');
  return out;
}

function headerText(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) text = value.join(', ');
  else throw invalid(`${where}: expected a string, number, boolean or string array`);
  // A line break would let a value inject headers (RFC 9110 §5.5): refuse instead of sending.
  if (!isHeaderValue(text)) throw invalid(`${where}: a header value may not contain line breaks or control characters`);
  return text;
}

function toParams(params: NonNullable<DynamicsRequestConfig['params']>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (params instanceof URLSearchParams) {
    for (const [name, value] of params) {
      if (name in out) throw invalid(`options.params: ${JSON.stringify(name)} is given twice; Web API query options take one value each`);
      out[name] = value;
    }
    return out;
  }
  if (typeof params !== 'object' || Array.isArray(params)) throw invalid('options.params: expected an object of query parameters or a URLSearchParams');
  for (const [name, value] of Object.entries(params as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[name] = value;
    else if (value instanceof Date) out[name] = value.toISOString();
    else throw invalid(`options.params.${name}: expected a string, number, boolean or Date (Web API query options take one value each)`);
  }
  return out;
}

/**
 * Resolves the `url` argument: a full Web API URL on the resource's host is used as given; a path is
 * resolved against `DYNAMICS_RESOURCE` (`api/data/v9.2/accounts` and `/api/data/v9.2/accounts` alike).
 *
 * @param resourceOrigin - `new URL(resource).origin`, when the caller has it already (saves a parse per call).
 * @throws DynamicsError `invalid_argument` for a URL on another host: the token is only for the resource.
 */
export function resolveUrl(url: unknown, resource: string, resourceOrigin?: string): string {
  if (typeof url !== 'string' || url.trim() === '') {
    throw invalid('url: expected a Web API URL (https://<org>.crm.dynamics.com/api/data/v9.2/accounts) or a path relative to DYNAMICS_RESOURCE (api/data/v9.2/accounts)');
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) {
    // net's one origin comparison, the transport's: case-insensitive, and no userinfo. For a URL
    // on the resource, the common case, it answers without parsing it.
    if (sameOrigin(url, resourceOrigin ?? new URL(resource).origin)) return url;
    const base = new URL(resource);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw invalid('url: not a valid URL');
    }
    // Not on the resource by net's one origin comparison, the transport's (case-insensitive, no userinfo).
    const why = target.username !== '' || target.password !== '' ? 'one with userinfo' : `one on ${target.origin}`;
    throw invalid(`url: expected a URL on ${base.origin} (DYNAMICS_RESOURCE), got ${why}; the token is only valid for the resource`);
  }
  // Appended like axios's baseURL + url, so the caller's encoding reaches the wire as written.
  const prefix = resource.endsWith('/') ? resource : `${resource}/`;
  return prefix + url.replace(/^\/+/, '');
}

/**
 * What a compat call returns for a response: the body; for `204 No Content` with `OData-EntityId`
 * (a create, or an update/upsert, which Dataverse answers with it too), `{ id, entityId }`; for any
 * other empty success (a delete), `{}`.
 */
export function toResult(
  response: { status: number; headers: Readonly<Record<string, string>>; data: unknown },
  responseType: CallOptions['responseType'],
  onMalformedEntityId: (header: string) => void,
): unknown {
  const entityId = response.headers['odata-entityid'];
  if (response.status === 204 || (isEmpty(response.data) && entityId !== undefined)) {
    return entityId ? entityReference(entityId, onMalformedEntityId) : {};
  }
  if ((responseType ?? 'json') === 'json' && isEmpty(response.data)) return {};
  return response.data;
}

function isEmpty(data: unknown): boolean {
  return data === undefined || data === '' || (Buffer.isBuffer(data) && data.length === 0);
}

function entityReference(header: string, onMalformed: (header: string) => void): DynamicsEntityReference {
  try {
    const { key } = parseEntityReference(header);
    if (typeof key === 'string') return { id: key, entityId: header };
  } catch {
    // The write succeeded; a header we cannot read must not turn it into a failure the caller might retry.
    onMalformed(header);
    return { id: '', entityId: header };
  }
  // An alternate key: keep it as the server wrote it between the parentheses.
  const segment = header.slice(header.lastIndexOf('/') + 1);
  const open = segment.indexOf('(');
  return { id: decodeURIComponent(segment.slice(open + 1, -1)), entityId: header };
}

/** The token as an Entra v1 token endpoint answers: numeric fields as decimal strings. */
export function toTokenSet(
  set: { accessToken: string; tokenType: string; expiresOn: Date; scopes: readonly string[]; refreshToken?: string },
  resource: string,
  now = Date.now(),
): ITokenSet {
  const expiresOn = Math.floor(set.expiresOn.getTime() / 1000);
  const tokenSet: ITokenSet = {
    token_type: set.tokenType || 'Bearer',
    access_token: set.accessToken,
    expires_in: String(Math.max(0, expiresOn - Math.floor(now / 1000))),
    expires_on: String(expiresOn),
    resource,
  };
  if (set.refreshToken) tokenSet.refresh_token = set.refreshToken;
  if (set.scopes.length) tokenSet.scope = set.scopes.join(' ');
  return tokenSet;
}
