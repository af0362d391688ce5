/**
 * Reading a failed response: Dataverse's `{"error":{"code","message"}}` body
 * (compose-http-requests-handle-errors.md), or whatever a gateway sent instead, and `Retry-After`.
 */
import { ErrorCode } from '../errors';
import { parseJson, tryDecodeText } from '../net/body';
import { clip, excerpt, foreignText } from '../net/excerpt';
import { headerValue, requestIdOf, type HeaderBag } from '../net/headers';
import { redact } from '../net/redact';
import { parseRetryAfter } from '../net/retryAfter';

/** Header values as HTTP clients hand them over (names in any case). */
export type ResponseHeaders = HeaderBag;

/** What {@link parseServiceError} found in a failed response. */
export interface ServiceErrorInfo {
  /** Dataverse's hex code (`0x80040217`) when it sent one, otherwise `http_error` or `malformed_response`. */
  code: string;
  /** `HTTP 404 Not Found: <the service's message>` or a description of what came back instead. */
  message: string;
  /** The parsed JSON body, when the body was JSON; never an HTML page. */
  body?: unknown;
  /** The service's message alone, when it sent one. */
  serviceMessage?: string;
  /** `x-ms-service-request-id`, `REQ_ID` or `request-id`, when present. */
  requestId?: string;
  /** From `Retry-After`, in milliseconds, when present and valid. */
  retryAfterInMs?: number;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Longest snippet of a non-JSON body quoted in a message. */
const SNIPPET_CHARS = 120;
/** Longest service message kept (Dataverse messages are short; anything longer is not one). */
const MESSAGE_CHARS = 2000;
/** Longest error code, request id or content type kept (Dataverse's are 10 and 36 characters). */
const CODE_CHARS = 100;

/** The body as text; `null` when it is bytes too long for one JavaScript string (never node's raw ERR_STRING_TOO_LONG). */
function bodyToText(body: unknown): string | undefined | null {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) {
    const decoded = tryDecodeText(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    return decoded.ok ? decoded.text : null;
  }
  return undefined;
}

/** The message and code in the JSON error shapes a Dataverse URL can answer with. */
function fromJson(json: unknown): { code?: string; message?: string } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return {};
  const o = json as Record<string, unknown>;
  const error = o.error;
  // Dataverse / OData v4: { "error": { "code": "0x…", "message": "…" } }
  if (error !== null && typeof error === 'object' && !Array.isArray(error)) {
    const e = error as Record<string, unknown>;
    const code = typeof e.code === 'string' && e.code.trim() !== '' ? e.code.trim() : undefined;
    let message = typeof e.message === 'string' && e.message.trim() !== '' ? e.message : undefined;
    const inner = e.innererror as Record<string, unknown> | undefined;
    if (message === undefined && inner && typeof inner.message === 'string') message = inner.message;
    return { code, message };
  }
  // Entra ID / OAuth-style: { "error": "invalid_token", "error_description": "…" }
  if (typeof error === 'string') {
    return { message: typeof o.error_description === 'string' ? `${error}: ${o.error_description}` : error };
  }
  // ASP.NET Web API: { "Message": "…" }
  if (typeof o.Message === 'string') return { message: o.Message };
  if (typeof o.message === 'string') return { message: o.message };
  return {};
}

/**
 * Reads a failed response into a code and a message, whatever came back: Dataverse's JSON error
 * (whose `code` is "frequently empty", compose-http-requests-handle-errors.md), another JSON shape,
 * an HTML page from a gateway, truncated JSON, or nothing. Never throws; never puts more than a
 * short, credential-free snippet of a non-JSON body into the message.
 *
 * Codes: Dataverse's code when present; `http_error` for an empty body or JSON without a code;
 * `malformed_response` when the body is not JSON (HTML, text, truncated JSON).
 *
 * @param bodyText - the raw body (string or bytes); an already-parsed object is accepted too.
 * @example parseServiceError(502, { 'content-type': 'text/html' }, '<html><title>502 Bad Gateway</title>…')
 *   // { code: 'malformed_response', message: 'HTTP 502 Bad Gateway: the response was not JSON (text/html): "502 Bad Gateway"' }
 */
export function parseServiceError(status: number, headers: ResponseHeaders | undefined | null, bodyText: unknown): ServiceErrorInfo {
  const statusText = `HTTP ${status}${REASONS[status] ? ` ${REASONS[status]}` : ''}`;
  const info: ServiceErrorInfo = { code: ErrorCode.httpError, message: statusText };
  // Header values and the code are server text like the rest: redacted and bounded.
  const requestId = requestIdOf(headers);
  if (requestId !== undefined) info.requestId = foreignText(requestId, CODE_CHARS);
  const retryAfterInMs = parseRetryAfter(headerValue(headers, 'retry-after'));
  if (retryAfterInMs !== undefined) info.retryAfterInMs = retryAfterInMs;

  const contentType = (headerValue(headers, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  let parsed: unknown;
  let isJson = false;
  const text = bodyToText(bodyText);
  if (text === null) {
    info.code = ErrorCode.malformedResponse;
    info.message = `${statusText}: the body is too long to read as text`;
    return info;
  }
  if (text === undefined) {
    if (bodyText !== undefined && bodyText !== null && typeof bodyText === 'object') {
      parsed = bodyText;
      isJson = true;
    }
  } else if (text.trim() === '') {
    info.message = `${statusText} (empty body)`;
    return info;
  } else {
    const looksJson = /^\s*[{[]/.test(text);
    if (contentType.endsWith('json') || (contentType === '' && looksJson)) {
      const json = parseJson(text);
      if (!json.ok) {
        info.code = ErrorCode.malformedResponse;
        info.message = `${statusText}: the JSON error body does not parse (truncated?): "${excerpt(text.slice(0, 400), SNIPPET_CHARS)}"`;
        return info;
      }
      parsed = json.value;
      isJson = true;
    } else {
      info.code = ErrorCode.malformedResponse;
      info.message = `${statusText}: the response was not JSON (${contentType === '' ? 'no content type' : foreignText(contentType, CODE_CHARS)}): "${excerpt(text, SNIPPET_CHARS)}"`;
      return info;
    }
  }
  if (isJson) {
    info.body = redactJson(parsed);
    const { code, message } = fromJson(parsed);
    if (code !== undefined) info.code = foreignText(code, CODE_CHARS);
    if (message !== undefined) {
      // A service that echoes the request (the Authorization header, a form body) must not put a credential into the error.
      info.serviceMessage = clip(redact(message), MESSAGE_CHARS);
      info.message = `${statusText}: ${info.serviceMessage}`;
    } else {
      info.message = `${statusText}: the JSON body carried no error message`;
    }
  }
  return info;
}

/**
 * The body as the error keeps it: every string redacted, and bounded in size, so that a server echoing
 * a token or sending megabytes cannot put either into `error.body`.
 */
function redactJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return clip(redact(value), MESSAGE_CHARS);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[nested too deep]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactJson(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).slice(0, 100)) {
    // Keys are server text too; `__proto__` stays an ordinary entry.
    Object.defineProperty(out, foreignText(key, CODE_CHARS), { value: redactJson((value as Record<string, unknown>)[key], depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export { headerValue, parseRetryAfter };
