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
import { decodeText, isJsonContentType as isJson, parseJson } from '../net/body';
import { excerpt } from '../net/excerpt';
import { headerValue, requestIdOf as readRequestId } from '../net/headers';
import { parseServiceError } from './serviceError';
import { TransportError, type HttpRequest, type HttpResponse } from './types';

/** Headers never copied into an error: cookies carry session affinity, nothing a caller needs. */
const DROPPED_HEADERS = new Set(['set-cookie', 'authorization', 'www-authenticate-internal']);

/** The request as errors show it: method and URL, never headers. */
export function describeRequest(request: Pick<HttpRequest, 'method' | 'url'>): { method: string; url: string } {
  return { method: request.method, url: request.url };
}

/** Response headers as a plain, lower-cased record without cookies. */
export function plainResponseHeaders(headers: HttpResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (DROPPED_HEADERS.has(name)) continue;
    const value = headerValue(headers, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** `x-ms-service-request-id`, or `REQ_ID` / `request-id` as older front ends send it. */
export const requestIdOf = readRequestId;

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
  const quoted = excerpt(parsed.text);
  throw new DynamicsError(
    `${request.method} ${request.url}: the ${response.status} response is not valid JSON (${headerValue(response.headers, 'content-type') ?? 'no content-type'}, ${response.body.length} bytes): ${quoted}`,
    {
      code: ErrorCode.malformedResponse,
      status: response.status,
      body: quoted,
      requestId: requestIdOf(response.headers),
      request: describeRequest(request),
      headers: plainResponseHeaders(response.headers),
      cause: new Error(parsed.error.message),
    },
  );
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
  const message = `${info.message} (${request.method} ${request.url}${attempts})`;
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
  const where = `${request.method} ${request.url}${attempts}`;
  const options: DynamicsErrorOptions = {
    code: TRANSPORT_CODES[error.kind],
    retryAfterInMs: error.retryAfterInMs,
    request: describeRequest(request),
  };
  if (error.kind === 'timeout') return new TimeoutError(`${where}: ${error.message}`, options);
  if (error.kind !== 'network') return new DynamicsError(`${where}: ${error.message}`, options);
  return new NetworkError(`${where}: ${error.message}${error.errno ? ` (${error.errno})` : ''}`, options);
}
