/**
 * Reading the answers the capabilities share: a JSON body, a JSON object, text, and the record id
 * of `OData-EntityId`. Anything else than what the operation reads is a `malformed_response` error
 * naming the request, never a value the caller would take for a record.
 */
import { DynamicsError, ErrorCode } from '../errors';
import { describeRequest, parseJsonBody, plainResponseHeaders, requestIdOf, requestLine, responseText } from '../http/errors';
import { foreignText } from '../net/excerpt';
import { headerValue } from '../net/headers';
import { parseEntityId } from '../odata/keys';
import type { CallResult } from './context';

/**
 * The JSON body of an answer (undefined when empty).
 *
 * @throws DynamicsError `malformed_response` naming the request when the body is not JSON.
 */
export function readJson(result: Pick<CallResult, 'response' | 'request'>): unknown {
  return parseJsonBody(result.response, result.request);
}

/** What a JSON value is, in the words of an error message. */
function kindOf(value: unknown): string {
  if (value === undefined) return 'an empty body';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * The JSON object an answer must carry (a record, a collection page, an operation's result).
 *
 * @param what - what the object is, for the message: `'the record'`, `'a collection page'`.
 * @throws DynamicsError `malformed_response` naming the request when the body is empty, not JSON, or
 *   JSON that is not an object (`null`, an array, a string, a number).
 */
export function readJsonObject(result: Pick<CallResult, 'response' | 'request'>, what: string): Record<string, unknown> {
  const value = readJson(result);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  const { response, request } = result;
  throw new DynamicsError(`${requestLine(request)}: expected ${what} as a JSON object, got ${kindOf(value)} with HTTP ${response.status}`, {
    code: ErrorCode.malformedResponse,
    status: response.status,
    requestId: requestIdOf(response.headers),
    request: describeRequest(request),
    headers: plainResponseHeaders(response.headers),
  });
}

/**
 * The body of an answer as text.
 *
 * @throws DynamicsError `response_too_large` when it is too long for a JavaScript string.
 */
export function readText(result: Pick<CallResult, 'response' | 'request'>): string {
  return responseText(result.response, result.request);
}

/**
 * The record id of the `OData-EntityId` header a create answers with
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api).
 *
 * @throws DynamicsError `malformed_response` when the header is missing or names no record id; its
 *   message says that the create itself succeeded, so that nobody re-sends it.
 */
export function entityIdOf({ response, request }: Pick<CallResult, 'response' | 'request'>): string {
  const header = headerValue(response.headers, 'odata-entityid');
  if (header === undefined) {
    throw new DynamicsError(`${requestLine(request)}: the write succeeded (HTTP ${response.status}) but the response has no OData-EntityId header, so the record's id is unknown; do not re-send it`, {
      code: ErrorCode.malformedResponse,
      status: response.status,
      request: describeRequest(request),
    });
  }
  let id: unknown;
  try {
    id = parseEntityId(header);
  } catch {
    id = undefined;
  }
  if (typeof id !== 'string') {
    throw new DynamicsError(`${requestLine(request)}: the write succeeded (HTTP ${response.status}) but OData-EntityId names no record id, so it is unknown; do not re-send it: ${foreignText(header)}`, {
      code: ErrorCode.malformedResponse,
      status: response.status,
      request: describeRequest(request),
    });
  }
  return id;
}
