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
import { parseServiceError } from '../odata/errors';
import { TransportError, headerValue, type HttpRequest, type HttpResponse } from './types';

/** Longest piece of a non-JSON body quoted in an error message. */
const MAX_EXCERPT = 200;

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
export function requestIdOf(headers: HttpResponse['headers']): string | undefined {
  return headerValue(headers, 'x-ms-service-request-id') ?? headerValue(headers, 'req_id') ?? headerValue(headers, 'request-id');
}

/** Whether the response says its body is JSON (`application/json`, with or without OData parameters). */
export function isJsonContentType(headers: HttpResponse['headers']): boolean {
  const type = headerValue(headers, 'content-type');
  return type !== undefined && /^application\/(?:[\w.+-]*\+)?json\b/i.test(type.trimStart());
}

/** Body text, without a UTF-8 byte order mark. */
export function bodyText(body: Buffer): string {
  const text = body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Parses a JSON response body; a body that is not valid JSON (truncated, an HTML page) becomes a
 * `malformed_response` DynamicsError that names the request, never a crash.
 */
export function parseJsonBody(response: HttpResponse, request: Pick<HttpRequest, 'method' | 'url'>): unknown {
  if (response.body.length === 0) return undefined;
  const text = bodyText(response.body);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new DynamicsError(
      `${request.method} ${request.url}: the ${response.status} response is not valid JSON (${headerValue(response.headers, 'content-type') ?? 'no content-type'}, ${response.body.length} bytes): ${excerpt(text)}`,
      {
        code: ErrorCode.malformedResponse,
        status: response.status,
        body: excerpt(text),
        requestId: requestIdOf(response.headers),
        request: describeRequest(request),
        headers: plainResponseHeaders(response.headers),
        cause: cause instanceof Error ? new Error(cause.message) : undefined,
      },
    );
  }
}

function excerpt(text: string): string {
  // Markup and runs of whitespace say nothing useful in a log line.
  const flat = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return flat.length > MAX_EXCERPT ? `${flat.slice(0, MAX_EXCERPT)}…` : flat;
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

/** The DynamicsError for a request that got no response. */
export function transportErrorToDynamicsError(error: TransportError, request: Pick<HttpRequest, 'method' | 'url' | 'attempts'>): DynamicsError {
  const attempts = request.attempts !== undefined && request.attempts > 1 ? ` after ${request.attempts} attempts` : '';
  const where = `${request.method} ${request.url}${attempts}`;
  const options: DynamicsErrorOptions = {
    code: error.kind === 'timeout' ? ErrorCode.timeout : error.kind === 'aborted' ? ErrorCode.aborted : error.kind === 'invalid' ? ErrorCode.invalidArgument : ErrorCode.network,
    retryAfterInMs: error.retryAfterInMs,
    request: describeRequest(request),
  };
  if (error.kind === 'timeout') return new TimeoutError(`${where}: ${error.message}`, options);
  if (error.kind === 'aborted' || error.kind === 'invalid') return new DynamicsError(`${where}: ${error.message}`, options);
  return new NetworkError(`${where}: ${error.message}${error.errno ? ` (${error.errno})` : ''}`, options);
}
