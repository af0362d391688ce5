/**
 * Item 14 of issue 11: node's `ERR_STRING_TOO_LONG` (a body longer than the longest JavaScript
 * string, possible once `maxResponseBytes` is raised past 512 MiB) must become a DynamicsError on
 * every path that reads a body as text, never escape raw. The body is a zero-filled buffer one byte
 * past the limit: its pages are never touched (node refuses the decode before reading), so the test
 * costs no real memory.
 */
import { DynamicsError, ErrorCode } from '../../../src/errors';
import { parseJsonBody, responseText, statusError } from '../../../src/http/errors';
import { constants } from 'node:buffer';
import * as batch from '../../../src/odata/batch';
import { parseCollectionPage } from '../../../src/odata/collection';

const request = { method: 'GET' as const, url: 'https://org.example/api/data/v9.2/accounts' };
let huge: Buffer;

beforeAll(() => {
  huge = Buffer.alloc(constants.MAX_STRING_LENGTH + 1);
});

function thrown(run: () => unknown): DynamicsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

it('node does refuse to decode it (the premise)', () => {
  expect(() => huge.toString('utf8')).toThrow(expect.objectContaining({ code: 'ERR_STRING_TOO_LONG' }));
});

it('responseText (count, request() as text) gives response_too_large', () => {
  const error = thrown(() => responseText({ status: 200, headers: {}, body: huge }, request));
  expect(error.code).toBe(ErrorCode.responseTooLarge);
  expect(error.message).toMatch(/too long to read as text/);
});

it('parseJsonBody (every JSON answer) gives response_too_large', () => {
  expect(thrown(() => parseJsonBody({ status: 200, headers: { 'content-type': 'application/json' }, body: huge }, request)).code).toBe(ErrorCode.responseTooLarge);
});

it('statusError (a failed answer) still builds its error', () => {
  const error = statusError(500, { 'content-type': 'application/json' }, huge, request);
  expect(error).toBeInstanceOf(DynamicsError);
  expect(error.status).toBe(500);
  expect(error.message).toMatch(/too long to read as text/);
});

it('the $batch reader and the collection reader give DynamicsErrors', () => {
  expect(thrown(() => batch.decodeBatchResponse(huge, 'multipart/mixed; boundary=b')).code).toBe(ErrorCode.responseTooLarge);
  expect(thrown(() => batch.readBatchResponse(huge, 'multipart/mixed; boundary=b')).code).toBe(ErrorCode.responseTooLarge);
  expect(thrown(() => parseCollectionPage(huge)).code).toBe(ErrorCode.malformedResponse);
});
