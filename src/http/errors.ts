import {
  AuthenticationError,
  DynamicsError,
  ErrorCode,
  NetworkError,
  NotFoundError,
  PreconditionFailedError,
  ThrottledError,
  TimeoutError,
  type DynamicsErrorOptions,
} from '../errors';
import { decodeText, isJsonContentType as isJson, parseJson, tryDecodeText } from '../net/body';
import { displayUrl, excerpt, foreignText, MAX_URL_CHARS } from '../net/excerpt';
import { headerValue, requestIdOf as readRequestId } from '../net/headers';
import { serviceAdvice } from './serviceAdvice';
import { parseServiceError } from './serviceError';
import { TransportError, type HttpRequest, type HttpResponse } from './types';

/** Headers never copied into an error: cookies carry session affinity, nothing a caller needs. */
const DROPPED_HEADERS = new Set(['set-cookie', 'authorization', 'www-authenticate-internal']);

/**
 * The request as errors show it: method and URL, never headers. The URL is redacted and cut to
 * 2,048 characters (net's `displayUrl`): a server may echo the bearer token into an
 * `@odata.nextLink`, and a 1 MB filter must not make a 1 MB error.
 */
export function describeRequest(request: Pick<HttpRequest, 'method' | 'url'>): { method: string; url: string } {
  return { method: request.method, url: displayUrl(request.url) };
}

/** `METHOD url` for an error message, with the URL as {@link describeRequest} shows it. */
export function requestLine(request: Pick<HttpRequest, 'method' | 'url'>): string {
  return `${request.method} ${displayUrl(request.url)}`;
}

/**
 * Response headers as a plain, lower-cased record without cookies, every value redacted and cut to
 * 2,048 characters: a server that echoes the `Authorization` header into a header of its own must
 * not put the token into `error.response.headers`. A header named `__proto__` is kept as an ordinary
 * entry, never taken for the record's prototype. `redact: false` keeps values as sent, for the
 * headers of a successful answer handed to the caller (`request()`), which are data, not an error.
 */
export function plainResponseHeaders(headers: HttpResponse['headers'], options: { redact?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const redacted = options.redact !== false;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (DROPPED_HEADERS.has(lower)) continue;
    // node's names are lower-case already: read the value directly (headerValue's case-insensitive scan is for the others).
    const raw = lower === name ? (headers as Record<string, unknown>)[name] : headerValue(headers, name);
    if (raw === undefined) continue;
    const value = typeof raw === 'string' ? raw : Array.isArray(raw) ? raw.join(', ') : String(raw);
    const shown = redacted ? foreignText(value, MAX_URL_CHARS) : value;
    if (name === '__proto__') Object.defineProperty(out, name, { value: shown, enumerable: true, writable: true, configurable: true });
    else out[lower] = shown;
  }
  return out;
}

/** `x-ms-service-request-id`, or `REQ_ID` / `request-id` as older front ends send it; redacted and bounded like any server text. */
export function requestIdOf(headers: HttpResponse['headers']): string | undefined {
  const id = readRequestId(headers);
  return id === undefined ? undefined : foreignText(id, 100);
}

/** Whether the response says its body is JSON (`application/json`, with or without OData parameters). */
export const isJsonContentType = isJson;

/** Body text, without a UTF-8 byte order mark. */
export const bodyText = decodeText;

/**
 * Parses a JSON response body; a body that is not valid JSON (truncated, an HTML page) becomes a
 * `malformed_response` DynamicsError that names the request, never a crash.
 */
export function parseJsonBody(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url'>): unknown {
  if (response.body.length === 0) return undefined;
  const parsed = parseJson(response.body);
  if (parsed.ok) return parsed.value;
  if ((parsed.error as NodeJS.ErrnoException).code === 'ERR_STRING_TOO_LONG') {
    throw responseTooLongForText(response, request);
  }
  const quoted = excerpt(parsed.text);
  const contentType = foreignText(headerValue(response.headers, 'content-type') ?? 'no content-type', 100);
  throw new DynamicsError(`${requestLine(request)}: the ${response.status} response is not valid JSON (${contentType}, ${response.body.length} bytes): ${quoted}`, {
    code: ErrorCode.malformedResponse,
    status: response.status,
    body: quoted,
    requestId: requestIdOf(response.headers),
    request: describeRequest(request),
    headers: plainResponseHeaders(response.headers),
    // JSON.parse's message quotes the body it choked on: redacted like the body itself.
    cause: new Error(foreignText(parsed.error.message)),
  });
}

/**
 * The body of a response as text.
 *
 * @throws DynamicsError `response_too_large` when it is too long for one JavaScript string
 *   (only possible with `maxResponseBytes` raised past 512 MiB), never node's raw `ERR_STRING_TOO_LONG`.
 */
export function responseText(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url'>): string {
  const decoded = tryDecodeText(response.body);
  if (decoded.ok) return decoded.text;
  throw responseTooLongForText(response, request);
}

function responseTooLongForText(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url'>): DynamicsError {
  const decoded = tryDecodeText(response.body);
  const reason = decoded.ok ? 'the response body is too long to read as text' : decoded.error.message;
  return new DynamicsError(`${requestLine(request)}: ${reason}`, {
    code: decoded.ok || decoded.error.kind === 'too_large' ? ErrorCode.responseTooLarge : ErrorCode.malformedResponse,
    status: response.status,
    requestId: requestIdOf(response.headers),
    request: describeRequest(request),
    headers: plainResponseHeaders(response.headers),
  });
}

/** Status classes as a message names them. */
function describeStatuses(expected: readonly number[]): string {
  return expected.length === 1 ? String(expected[0]) : `${expected.slice(0, -1).join(', ')} or ${expected[expected.length - 1]}`;
}

/**
 * The DynamicsError for an answer whose status the operation does not expect: a redirect (never
 * followed: the bearer token stays on the environment, and a write must not look done when it was
 * only redirected), a 1xx, or a 2xx the operation has no reading for. Code `malformed_response`, with
 * the status and the `Location` header named, so that a 302 from a proxy's login page is recognisable.
 *
 * @param expected - the statuses the operation succeeds with, or undefined for "any 2xx".
 */
export function unexpectedStatusError(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url'>, expected: readonly number[] | undefined): DynamicsError {
  const location = headerValue(response.headers, 'location');
  const reason = location === undefined ? '' : ` (Location: ${displayUrl(location)})`;
  const redirect = response.status >= 300 && response.status < 400 ? '; redirects are never followed, so the request may not have been carried out' : '';
  const wanted = expected === undefined ? 'a 2xx status' : describeStatuses(expected);
  return new DynamicsError(`${requestLine(request)}: expected ${wanted}, got HTTP ${response.status}${reason}${redirect}`, {
    code: ErrorCode.malformedResponse,
    status: response.status,
    requestId: requestIdOf(response.headers),
    request: describeRequest(request),
    headers: plainResponseHeaders(response.headers),
  });
}

/**
 * The DynamicsError for a failed response (status ≥ 400): the subclass a caller acts on
 * (`AuthenticationError` 401/403, `NotFoundError` 404, `PreconditionFailedError` 412, `ThrottledError`
 * 429, or 503 with `Retry-After`, after retries), Dataverse's hex code when it sent one, its message,
 * the request id, the requested wait, and the request's method and URL. A body that is not a Dataverse
 * error (an HTML page from a gateway, truncated JSON) gives code `malformed_response` (odata's
 * `parseServiceError` reads every shape).
 */
export function responseError(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url' | 'attempts'>): DynamicsError {
  return statusError(response.status, response.headers, response.body, request);
}

/**
 * {@link responseError} from the pieces of a response: also used for the parts of a `$batch` response,
 * whose bodies are already decoded.
 */
export function statusError(
  status: number,
  headers: HttpResponse['headers'],
  body: unknown,
  request: Pick<HttpRequest, 'method' | 'url' | 'attempts'>,
): DynamicsError {
  const info = parseServiceError(status, headers, body);
  const attempts = request.attempts !== undefined && request.attempts > 1 ? `, after ${request.attempts} attempts` : '';
  const options: DynamicsErrorOptions = {
    code: info.code,
    status,
    body: info.body,
    requestId: info.requestId,
    retryAfterInMs: info.retryAfterInMs,
    request: describeRequest(request),
    headers: plainResponseHeaders(headers),
  };
  // A known cause gets its fix named in the message (./serviceAdvice.ts).
  const message = `${info.message}${serviceAdvice({ status, code: info.code, serviceMessage: info.serviceMessage })} (${requestLine(request)}${attempts})`;
  switch (status) {
    case 401:
    case 403:
      return new AuthenticationError(message, options);
    case 404:
      return new NotFoundError(message, options);
    case 412:
      return new PreconditionFailedError(message, options);
    case 429:
      return new ThrottledError(message, options);
    case 503:
      return info.retryAfterInMs !== undefined ? new ThrottledError(message, options) : new DynamicsError(message, options);
    default:
      return new DynamicsError(message, options);
  }
}

const TRANSPORT_CODES: Readonly<Record<TransportError['kind'], string>> = {
  network: ErrorCode.network,
  timeout: ErrorCode.timeout,
  aborted: ErrorCode.aborted,
  invalid: ErrorCode.invalidArgument,
  too_large: ErrorCode.responseTooLarge,
  undecodable: ErrorCode.malformedResponse,
};

/** The DynamicsError for a request that got no response. */
export function transportErrorToDynamicsError(error: TransportError, request: Pick<HttpRequest, 'method' | 'url' | 'attempts'>): DynamicsError {
  const attempts = request.attempts !== undefined && request.attempts > 1 ? ` after ${request.attempts} attempts` : '';
  const where = `${requestLine(request)}${attempts}`;
  const options: DynamicsErrorOptions = {
    code: TRANSPORT_CODES[error.kind],
    retryAfterInMs: error.retryAfterInMs,
    request: describeRequest(request),
  };
  if (error.kind === 'timeout') return new TimeoutError(`${where}: ${error.message}`, options);
  if (error.kind !== 'network') return new DynamicsError(`${where}: ${error.message}`, options);
  return new NetworkError(`${where}: ${error.message}${error.errno ? ` (${error.errno})` : ''}`, options);
}
