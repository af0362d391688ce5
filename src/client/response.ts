/**
 * Reading the answers the capabilities share: a JSON body, and the record id of `OData-EntityId`.
 */
import { DynamicsError, ErrorCode } from '../errors';
import { parseJsonBody } from '../http/errors';
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

/**
 * The record id of the `OData-EntityId` header a create answers with
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api).
 *
 * @throws DynamicsError `malformed_response` when the header is missing or names no record id.
 */
export function entityIdOf({ response, request }: Pick<CallResult, 'response' | 'request'>): string {
  const header = headerValue(response.headers, 'odata-entityid');
  if (header === undefined) {
    throw new DynamicsError(`${request.method} ${request.url}: the ${response.status} response has no OData-EntityId header`, {
      code: ErrorCode.malformedResponse,
      status: response.status,
      request: { method: request.method, url: request.url },
    });
  }
  const id = parseEntityId(header);
  if (typeof id !== 'string') {
    throw new DynamicsError(`${request.method} ${request.url}: OData-EntityId names no record id: ${header.slice(0, 200)}`, {
      code: ErrorCode.malformedResponse,
      status: response.status,
      request: { method: request.method, url: request.url },
    });
  }
  return id;
}
