/**
 * `$batch`: operations grouped into as few requests as Dataverse allows, and one result per operation
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api).
 * The wire format is odata's (src/odata/batch); this module decides what goes into which request and
 * turns the answers into {@link BatchResult}s.
 */
import { DynamicsError, ThrottledError } from '../../errors';
import { describeRequest, requestLine, statusError } from '../../http/errors';
import type { HttpRequest, HttpResponse } from '../../http/types';
import { displayUrl, excerpt } from '../../net/excerpt';
import { headerValue } from '../../net/headers';
import {
  countOperations,
  encodeBatchBody,
  isChangeSet,
  matchBatchResponses,
  MAX_BATCH_OPERATIONS,
  readBatchResponse,
  splitOperations,
  type BatchOperationResult,
  type BatchOperationSlot,
  type BatchPartResponse,
  type BatchResponseReading,
  type EncodedBatchBody,
} from '../../odata/batch';
import { invalidArgument } from '../../odata/fail';
import { parseEntityId } from '../../odata/keys';
import type { ClientContext } from '../context';
import { BatchErrorCode, type BatchItem, type BatchOperation, type BatchOptions, type BatchResult } from '../types';

/** What a `$batch` answers with: 200 and a multipart body (any other status with a multipart body is read too, see `acceptStatus`). */
const BATCH_OK: readonly number[] = [200];

/** Whether an answer carries a multipart body: then it reports, part by part, what the service did. */
function isMultipart(headers: HttpResponse['headers']): boolean {
  return headerValue(headers, 'content-type')?.trimStart().toLowerCase().startsWith('multipart/mixed') === true;
}

/**
 * Sends `operations` in `$batch` requests, one after another. See `DynamicsClient.batch`.
 *
 * A multipart answer is read whatever its status (without continue-on-error the service answers with
 * the status of the part that failed, a 500 included, after earlier parts were committed), as far as
 * it can be read: a part that does not parse is that part's error, and operations no part answered
 * are `batch_outcome_unknown` unless the service said it stopped. When a request after the first fails
 * as a whole, the operations it carried report that (unknown, or not executed when the service
 * refused it before doing anything) and the results of the earlier requests are still returned.
 */
export async function batch(ctx: ClientContext, operations: readonly BatchItem[], options?: BatchOptions): Promise<BatchResult[]> {
  if (!Array.isArray(operations) || operations.length === 0) throw invalidArgument('operations', 'a non-empty array of operations and change sets', operations);
  const continueOnError = options?.continueOnError === true;
  // `order[i]` is the position in the caller's (flattened) list of the i-th operation as sent.
  const { items, order } = options?.atomic === true ? groupAtomic(operations) : { items: operations, order: undefined };
  const total = countOperations(items);
  if (options?.atomic === true && total > MAX_BATCH_OPERATIONS) {
    throw invalidArgument('operations', `at most ${MAX_BATCH_OPERATIONS} operations with atomic: true (one change set cannot be split across requests)`, `${total} operations`);
  }
  const groups = splitOperations(items);
  // Every request is encoded once before the first is sent, so that a bad operation in a later one is
  // refused before anything runs (not after earlier requests were committed); each is encoded again
  // when its turn comes, so that only one body is held at a time. A single request (up to 1,000
  // operations, the common case) keeps its one encoding.
  let first: EncodedBatchBody | undefined;
  for (const group of groups) {
    const encoded = encodeBatchBody(group, { apiRootUrl: ctx.apiRoot, continueOnError });
    if (groups.length === 1) first = encoded;
  }
  const sent: BatchResult[] = [];
  let stopped = false;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    if (stopped) {
      for (let i = countOperations(group); i > 0; i--) sent.push(notExecuted());
      continue;
    }
    const encoded = first ?? encodeBatchBody(group, { apiRootUrl: ctx.apiRoot, continueOnError });
    const readOnly = encoded.operations.every((slot) => slot.method === 'GET');
    let results: BatchResult[];
    try {
      const { response, request } = await ctx.call({
        method: 'POST',
        url: `${ctx.apiRoot}$batch`,
        body: encoded.body,
        options,
        headers: encoded.headers,
        retrySafe: readOnly,
        expect: BATCH_OK,
        // Without continue-on-error the service answers the first failure's status with a multipart
        // body; that answer reports committed parts, so it is read (and never re-sent), whatever the status.
        acceptStatus: (_status, headers) => isMultipart(headers),
      });
      results = readResults(group, encoded.operations, response, request, continueOnError);
    } catch (error) {
      // The first request failing as a whole is the batch failing: nothing is known to have run.
      if (g === 0 || !(error instanceof DynamicsError)) throw error;
      // A later one must not lose what the earlier ones did: its operations report the failure.
      results = wholeRequestFailed(countOperations(group), error);
    }
    for (const result of results) {
      sent.push(result);
      if (result.error !== undefined && !continueOnError) stopped = true;
    }
  }
  if (order === undefined) return sent;
  // A plain loop, on purpose. With \`sent.forEach((result, i) => { out[order[i]] = result; })\`, every
  // \`$batch\` of 100 with \`atomic: true\` cost about a third more CPU against the emulator: each
  // scavenge kept 1.1 MB alive instead of 0.3 MB (--trace-gc-nvp), about one batch's results more,
  // and promoted it. V8 kept something of the last call reachable; the loop leaves nothing behind.
  const out: BatchResult[] = new Array<BatchResult>(sent.length);
  for (let i = 0; i < sent.length; i++) out[order[i]] = sent[i];
  return out;
}

/**
 * The results of one `$batch` answer. A multipart body is read as far as it can be; one that cannot
 * be paired with the operations at all (more parts than were sent, Content-IDs that were not sent)
 * leaves every operation of the request `batch_outcome_unknown`.
 *
 * @throws DynamicsError `malformed_response` when the answer is not multipart at all.
 */
function readResults(group: readonly BatchItem[], slots: readonly BatchOperationSlot[], response: HttpResponse, request: HttpRequest, continueOnError: boolean): BatchResult[] {
  let reading: BatchResponseReading;
  try {
    reading = readBatchResponse(response.body, headerValue(response.headers, 'content-type'));
  } catch (error) {
    if (!(error instanceof DynamicsError)) throw error;
    throw new DynamicsError(`${requestLine(request)}: ${error.message}`, { code: error.code, status: response.status, request: describeRequest(request) });
  }
  let matched: BatchOperationResult[];
  try {
    matched = matchBatchResponses(slots, reading.parts, { complete: reading.complete, continueOnError });
  } catch (error) {
    if (!(error instanceof DynamicsError)) throw error;
    const cause = new DynamicsError(`${requestLine(request)}: ${error.message}`, { code: error.code, status: response.status, request: describeRequest(request) });
    return slots.map(() => unknownOutcome('the answer cannot be paired with the operations sent', cause));
  }
  return batchResults(group, matched, request, reading.complete);
}

/**
 * The results of the operations of a request that failed as a whole, after earlier requests were
 * sent: `batch_not_executed` when the service refused it before doing anything (a 4xx other than 408
 * without a multipart body, throttling after every retry), `batch_outcome_unknown` otherwise (a
 * timeout, a reset, a 5xx, an unreadable answer: the operations may have run).
 */
function wholeRequestFailed(count: number, error: DynamicsError): BatchResult[] {
  const refused = error instanceof ThrottledError || (error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 408);
  const results: BatchResult[] = [];
  for (let i = 0; i < count; i++) {
    results.push(
      refused
        ? {
            status: 0,
            headers: {},
            error: new DynamicsError(`Not executed: the $batch request carrying this operation was refused as a whole (${error.message})`, { code: BatchErrorCode.notExecuted, cause: error }),
          }
        : unknownOutcome('the $batch request carrying this operation failed as a whole', error),
    );
  }
  return results;
}

function unknownOutcome(reason: string, cause?: DynamicsError): BatchResult {
  return {
    status: 0,
    headers: {},
    error: new DynamicsError(`Outcome unknown: ${reason}${cause === undefined ? '' : ` (${cause.message})`}; the operation may have been carried out, so check before re-sending it.`, {
      code: BatchErrorCode.outcomeUnknown,
      ...(cause === undefined ? {} : { cause }),
    }),
  };
}

/**
 * `atomic: true`: every write into one change set, placed where the first write was; GETs keep their
 * order around it. Returns the items and, per operation as sent, its index in the caller's list.
 */
function groupAtomic(operations: readonly BatchItem[]): { items: BatchItem[]; order: number[] } {
  const before: BatchOperation[] = [];
  const after: BatchOperation[] = [];
  const writes: BatchOperation[] = [];
  const beforeIdx: number[] = [];
  const afterIdx: number[] = [];
  const writeIdx: number[] = [];
  let index = 0;
  operations.forEach((item, i) => {
    const ops = isChangeSet(item) ? item.changeSet : [item];
    if (!Array.isArray(ops)) throw invalidArgument(`operations[${i}].changeSet`, 'an array of operations', ops);
    for (const op of ops) {
      if (op !== null && typeof op === 'object' && op.method === 'GET') {
        if (writes.length === 0) {
          before.push(op);
          beforeIdx.push(index);
        } else {
          after.push(op);
          afterIdx.push(index);
        }
      } else {
        writes.push(op);
        writeIdx.push(index);
      }
      index++;
    }
  });
  const items: BatchItem[] = [...before, ...(writes.length > 0 ? [{ changeSet: writes }] : []), ...after];
  return { items, order: [...beforeIdx, ...writeIdx, ...afterIdx] };
}

function notExecuted(): BatchResult {
  return {
    status: 0,
    headers: {},
    error: new DynamicsError('Not executed: the batch stopped at an earlier failure (pass continueOnError to run every part).', { code: BatchErrorCode.notExecuted }),
  };
}

function partResult(part: BatchPartResponse, op: BatchOperation, batchRequest: HttpRequest): BatchResult {
  const result: BatchResult = { status: part.status, headers: part.headers, body: part.body };
  const entityId = part.headers['odata-entityid'];
  if (entityId !== undefined) {
    try {
      const id = parseEntityId(entityId);
      if (typeof id === 'string') result.entityId = id;
    } catch {
      // A part without a usable entity id still reports its status and body.
    }
  }
  if (part.status >= 400) {
    const url = partUrl(op, batchRequest);
    const error = statusError(part.status, part.headers, part.body, { method: op.method, url });
    result.error = error;
    // A failed part's body is an error body: kept as the error keeps it (redacted, bounded).
    result.body = error.body ?? (typeof part.body === 'string' ? excerpt(part.body) : undefined);
  } else if (part.malformed !== undefined) {
    const url = partUrl(op, batchRequest);
    result.error = new DynamicsError(`${part.malformed.message} (${op.method} ${displayUrl(url)})`, {
      code: part.malformed.code,
      status: part.status,
      request: { method: op.method, url: displayUrl(url) },
      cause: part.malformed,
    });
  }
  return result;
}

function partUrl(op: BatchOperation, batchRequest: HttpRequest): string {
  return /^https?:/i.test(op.url) ? op.url : batchRequest.url.replace(/\$batch$/, '') + op.url;
}

/**
 * One result per operation of one `$batch`, from odata's `matchBatchResponses`: a failed change set
 * reports the service's error on the operation it names and `batch_rolled_back` on the others;
 * operations after a stop report `batch_not_executed`, those no part answered otherwise
 * `batch_outcome_unknown`.
 */
function batchResults(group: readonly BatchItem[], matched: readonly BatchOperationResult[], batchRequest: HttpRequest, complete: boolean): BatchResult[] {
  const ops: BatchOperation[] = [];
  for (const item of group) {
    if (isChangeSet(item)) ops.push(...item.changeSet);
    else ops.push(item);
  }
  return matched.map((match, i) => {
    const op = ops[i];
    if (match.outcome === 'notExecuted') return notExecuted();
    if (match.outcome === 'unknown' || match.response === undefined) {
      const reason =
        match.response?.malformed !== undefined
          ? `its part of the answer could not be read (${match.response.malformed.message})`
          : complete
            ? 'the answer has no part for it'
            : 'the answer was cut short before its part';
      return unknownOutcome(reason);
    }
    if (match.outcome !== 'rolledBack') return partResult(match.response, op, batchRequest);
    const url = partUrl(op, batchRequest);
    const cause = statusError(match.response.status, match.response.headers, match.response.body, { method: op.method, url });
    return {
      status: match.response.status,
      headers: {},
      error: new DynamicsError(`Rolled back: another operation of the same change set failed (${cause.message})`, {
        code: BatchErrorCode.rolledBack,
        status: match.response.status,
        request: { method: op.method, url: displayUrl(url) },
        cause,
      }),
    };
  });
}
