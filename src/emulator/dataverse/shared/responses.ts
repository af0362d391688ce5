/** Response shapes the Web API answers with: JSON, no content, plain text, and Dataverse errors. */
import type { ApiResponse } from '../context';
import { DataverseHttpError, errorBody } from '../errors';

const JSON_TYPE = 'application/json; odata.metadata=minimal; odata.streaming=true';
const ERROR_TYPE = 'application/json; odata.metadata=minimal';

/** A JSON body as Dataverse sends it (minimal metadata, streaming). */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { 'Content-Type': JSON_TYPE, 'OData-Version': '4.0', ...headers }, body: JSON.stringify(body) };
}

/** 204 No Content. */
export function noContent(headers: Record<string, string> = {}): ApiResponse {
  return { status: 204, headers: { 'OData-Version': '4.0', ...headers }, body: '' };
}

/** A `text/plain` 200: a raw `$value` or a `$count`. */
export function textResponse(text: string): ApiResponse {
  return { status: 200, headers: { 'Content-Type': 'text/plain', 'OData-Version': '4.0' }, body: text };
}

/** A Dataverse error body with the error's status and headers (`Retry-After` on a 429). */
export function errorResponse(err: DataverseHttpError): ApiResponse {
  return {
    status: err.status,
    headers: { 'Content-Type': ERROR_TYPE, 'OData-Version': '4.0', ...err.headers },
    body: errorBody(err),
  };
}

/** Anything thrown that is not a Dataverse error: a 500 in Dataverse's shape (0x80040216, "unexpected error"). */
export function unexpectedError(err: unknown): DataverseHttpError {
  return err instanceof DataverseHttpError ? err : new DataverseHttpError(500, '0x80040216', `An unexpected error occurred: ${(err as Error).message}`);
}
