/**
 * How a call of the client becomes a pipeline request, in one place for every capability: the
 * headers every request carries, the caller's per-call options (headers, impersonation, timeout,
 * abort signal), the body's serialisation, and whether re-sending after an ambiguous failure is safe.
 */
import type { HttpRequest, HttpResponse } from '../http/types';
import { isHeaderName, isHeaderValue } from '../net/headerSyntax';
import { serializeJson } from '../net/json';
import type { HttpMethod } from '../net/method';
import { checkUrlLength } from '../odata/url';
import { invalidArgument } from '../odata/fail';
import { normalizeGuid } from '../odata/keys';
import type { OperationOptions } from './types';

/**
 * Headers every request carries
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors).
 */
const COMMON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: 'application/json',
  'OData-MaxVersion': '4.0',
  'OData-Version': '4.0',
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
  /** Error statuses that are still a usable answer (a stopped `$batch`). */
  acceptStatus?: (status: number, headers: HttpResponse['headers']) => boolean;
}

/**
 * The pipeline request for `spec`: headers (ours, then the method's, then the caller's), the deadline
 * (the call's `timeoutInMs`, else `defaultTimeoutInMs`), the abort signal, the serialised body and
 * the retry safety.
 *
 * @throws DynamicsError `invalid_argument` for a bad per-call option, a body that cannot be written as
 *   JSON, or a URL longer than Dataverse accepts (nothing is sent).
 */
export function prepareRequest(spec: CallSpec, defaultTimeoutInMs: number): HttpRequest {
  const options = spec.options;
  const isRead = spec.method === 'GET';
  const headers: Record<string, string> = { ...(spec.body === undefined ? (isRead ? READ_HEADERS : COMMON_HEADERS) : WRITE_HEADERS) };
  if (spec.headers !== undefined) {
    for (const name of Object.keys(spec.headers)) {
      const value = spec.headers[name];
      if (value !== undefined) headers[name] = value;
    }
  }
  let timeoutInMs = defaultTimeoutInMs;
  if (options !== undefined) {
    if (options.headers !== undefined) mergeCallerHeaders(headers, options.headers);
    if (options.impersonate !== undefined) {
      const id = options.impersonate?.callerObjectId;
      headers.CallerObjectId = normalizeGuid(id, 'options.impersonate.callerObjectId');
    }
    if (options.timeoutInMs !== undefined) {
      if (typeof options.timeoutInMs !== 'number' || !(options.timeoutInMs > 0)) throw invalidArgument('options.timeoutInMs', 'a number of milliseconds > 0', options.timeoutInMs);
      timeoutInMs = options.timeoutInMs;
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
  checkUrlLength(spec.url, 'url');
  return {
    method: spec.method,
    url: spec.url,
    headers,
    body,
    abortSignal: options?.abortSignal,
    deadline: Date.now() + timeoutInMs,
    retrySafe: spec.retrySafe ?? isRetrySafe(spec.method, headers),
  };
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
