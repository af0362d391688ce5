/**
 * How a call of the client becomes a pipeline request, in one place for every capability: the
 * headers every request carries, the caller's per-call options (headers, impersonation, timeout,
 * abort signal), the body's serialisation, and whether re-sending after an ambiguous failure is safe.
 */
import type { HttpRequest, HttpResponse } from '../http/types';
import { ACCEPT_ENCODING, isResponseByteLimit, MAX_RESPONSE_BYTES_LIMIT } from '../net/body';
import { isHeaderName, isHeaderValue } from '../net/headerSyntax';
import { serializeJson } from '../net/json';
import { isDuration, MAX_DURATION_TEXT } from '../net/timers';
import type { HttpMethod } from '../net/method';
import { checkUrlLength } from '../odata/url';
import { invalidArgument } from '../odata/fail';
import { normalizeGuid } from '../odata/keys';
import { applyRequestOptions } from './requestOptions';
import type { OperationOptions } from './types';

/**
 * Headers every request carries
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
 */
const COMMON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: 'application/json',
  'OData-MaxVersion': '4.0',
  'OData-Version': '4.0',
  // Here rather than added by the transport, so that it need not copy the headers of every request.
  'Accept-Encoding': ACCEPT_ENCODING,
});

/** Reads also send `If-None-Match: null`: a cached representation must never come back as 304. */
const READ_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...COMMON_HEADERS, 'If-None-Match': 'null' });

const WRITE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...COMMON_HEADERS, 'Content-Type': 'application/json; charset=utf-8' });

/** What a capability asks the client to send; {@link prepareRequest} turns it into a pipeline request. */
export interface CallSpec {
  method: HttpMethod;
  /** Absolute URL on the client's origin. */
  url: string;
  /** Serialised as JSON unless it is a string or a Buffer (sent as is). */
  body?: unknown;
  /** What an error names when `body` cannot be written as JSON (`'record'`, `'params'`). Default `'body'`. */
  bodyArgument?: string;
  /** The caller's per-call options. */
  options?: OperationOptions;
  /** Method-specific headers (If-Match, Prefer, …), applied before the caller's own; undefined values are left out. */
  headers?: Record<string, string | undefined>;
  /** Overrides the method-based retry safety of {@link isRetrySafe} (a `$batch` of GETs is safe). */
  retrySafe?: boolean;
  /**
   * Error statuses that are still a usable answer (a `$batch` answered with a multipart body). Such
   * an answer is also never re-sent (the pipeline's `isFinal`): it reports work that was done.
   */
  acceptStatus?: (status: number, headers: HttpResponse['headers']) => boolean;
  /**
   * The statuses below 400 this call succeeds with (`[204]` for a delete). Anything else below 400 (a
   * redirect, which is never followed; a 1xx; a 2xx the operation has no reading for) is a
   * `malformed_response` error naming the status and `Location`. Default: any 2xx.
   */
  expect?: readonly number[];
}

/**
 * The pipeline request for `spec`: headers (ours, then the method's, then the caller's), the deadline
 * (the call's `timeoutInMs`, else `defaultTimeoutInMs`), the abort signal, the serialised body and
 * the retry safety.
 *
 * @throws DynamicsError `invalid_argument` for a bad per-call option, a body that cannot be written as
 *   JSON, or a URL longer than Dataverse accepts (nothing is sent).
 */
export function prepareRequest(spec: CallSpec, defaultTimeoutInMs: number, defaultMaxResponseBytes?: number): HttpRequest {
  const options = spec.options;
  const isRead = spec.method === 'GET';
  const headers: Record<string, string> = { ...(spec.body === undefined ? (isRead ? READ_HEADERS : COMMON_HEADERS) : WRITE_HEADERS) };
  if (spec.headers !== undefined) {
    for (const name of Object.keys(spec.headers)) {
      const value = spec.headers[name];
      if (value === undefined) continue;
      // The method's headers carry caller values too (an etag, preferences): never a line break.
      if (!isHeaderValue(value)) throw invalidArgument(`headers.${name}`, 'a string value without line breaks or control characters', value);
      headers[name] = value;
    }
  }
  let url = spec.url;
  let timeoutInMs = defaultTimeoutInMs;
  let maxResponseBytes = defaultMaxResponseBytes;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw invalidArgument('options', 'an object of per-call options', options);
    url = applyRequestOptions(headers, options, spec.method, url);
    if (options.headers !== undefined) mergeCallerHeaders(headers, options.headers);
    if (options.impersonate !== undefined) {
      const id = options.impersonate?.callerObjectId;
      headers.CallerObjectId = normalizeGuid(id, 'options.impersonate.callerObjectId');
    }
    if (options.timeoutInMs !== undefined) {
      // Above 2^31-1 ms node's timers fire at once: a "no timeout" of Number.MAX_SAFE_INTEGER would fail every call.
      if (!isDuration(options.timeoutInMs) || !(options.timeoutInMs > 0)) {
        throw invalidArgument('options.timeoutInMs', `a number of milliseconds > 0 and ${MAX_DURATION_TEXT}`, options.timeoutInMs);
      }
      timeoutInMs = options.timeoutInMs;
    }
    if (options.maxResponseBytes !== undefined) {
      if (!isResponseByteLimit(options.maxResponseBytes)) {
        throw invalidArgument('options.maxResponseBytes', `a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES_LIMIT} (1 GiB)`, options.maxResponseBytes);
      }
      maxResponseBytes = options.maxResponseBytes;
    }
    if (options.abortSignal !== undefined && !(options.abortSignal instanceof AbortSignal)) throw invalidArgument('options.abortSignal', 'an AbortSignal', options.abortSignal);
  }
  let body: string | Buffer | undefined;
  if (spec.body !== undefined) {
    if (typeof spec.body === 'string' || Buffer.isBuffer(spec.body)) body = spec.body;
    else body = serializeJson(spec.body, spec.bodyArgument ?? 'body');
  }
  // Refused before anything is sent. The seam for a later issue: a GET too long for a URL of its own
  // is to be sent inside $batch here instead (the documented workaround, see src/odata/url.ts).
  checkUrlLength(url, 'url');
  const request: HttpRequest = {
    method: spec.method,
    url,
    headers,
    body,
    abortSignal: options?.abortSignal,
    deadline: Date.now() + timeoutInMs,
    retrySafe: spec.retrySafe ?? isRetrySafe(spec.method, headers),
  };
  if (maxResponseBytes !== undefined) request.maxResponseBytes = maxResponseBytes;
  const accept = spec.acceptStatus;
  if (accept !== undefined) request.isFinal = (response) => response.status >= 400 && accept(response.status, response.headers);
  return request;
}

/**
 * Whether re-sending after an ambiguous failure (a 502, a 504, a reset: the first attempt may have
 * been applied) cannot duplicate a write: reads, PUT and DELETE are idempotent (RFC 9110 §9.2.2), and
 * a PATCH with `If-Match` or `If-None-Match` can only apply once
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api).
 * A POST never is.
 */
export function isRetrySafe(method: HttpMethod, headers: Readonly<Record<string, string>>): boolean {
  if (method === 'GET' || method === 'PUT' || method === 'DELETE') return true;
  return method === 'PATCH' && (hasHeader(headers, 'if-match') || hasHeader(headers, 'if-none-match'));
}

function hasHeader(headers: Readonly<Record<string, string>>, lowerName: string): boolean {
  for (const name of Object.keys(headers)) if (name.toLowerCase() === lowerName) return true;
  return false;
}

/** Caller headers win over ours, whatever their case; a value with a line break or a control character is refused (header injection). */
function mergeCallerHeaders(headers: Record<string, string>, extra: Record<string, string>): void {
  if (extra === null || typeof extra !== 'object') throw invalidArgument('options.headers', 'an object of header names to string values', extra);
  for (const name of Object.keys(extra)) {
    const value = extra[name];
    if (value === undefined) continue;
    if (!isHeaderValue(value) || !isHeaderName(name)) {
      throw invalidArgument(`options.headers.${name}`, 'a string value without line breaks', value);
    }
    const lower = name.toLowerCase();
    if (lower === 'authorization') throw invalidArgument('options.headers.Authorization', 'no Authorization header (the client sets the bearer token)', '…');
    for (const existing of Object.keys(headers)) if (existing.toLowerCase() === lower && existing !== name) delete headers[existing];
    headers[name] = value;
  }
}
