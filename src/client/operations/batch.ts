/**
 * `$batch`: operations grouped into as few requests as Dataverse allows, and one result per operation
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api).
 * The wire format is odata's (src/odata/batch); this module decides what goes into which request and
 * turns the answers into {@link BatchResult}s.
 */
import { DynamicsError } from '../../errors';
import { statusError } from '../../http/errors';
import type { HttpRequest } from '../../http/types';
import { headerValue } from '../../net/headers';
import {
  countOperations,
  decodeBatchResponse,
  encodeBatch,
  isChangeSet,
  matchBatchResponses,
  MAX_BATCH_OPERATIONS,
  splitOperations,
  type BatchOperationSlot,
  type BatchPartResponse,
} from '../../odata/batch';
import { invalidArgument } from '../../odata/fail';
import { parseEntityId } from '../../odata/keys';
import type { ClientContext } from '../context';
import { BatchErrorCode, type BatchItem, type BatchOperation, type BatchOptions, type BatchResult } from '../types';

/** Sends `operations` in `$batch` requests, one after another. See `DynamicsClient.batch`. */
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
  const sent: BatchResult[] = [];
  let stopped = false;
  for (const group of groups) {
    if (stopped) {
      for (let i = countOperations(group); i > 0; i--) sent.push(notExecuted());
      continue;
    }
    const encoded = encodeBatch(group, { apiRootUrl: ctx.apiRoot, continueOnError });
    const readOnly = encoded.operations.every((slot) => slot.method === 'GET');
    const { response, request } = await ctx.call({
      method: 'POST',
      url: `${ctx.apiRoot}$batch`,
      body: encoded.body,
      options,
      headers: encoded.headers,
      retrySafe: readOnly,
      // Without continue-on-error the service answers the first failure's status with a multipart body.
      acceptStatus: (status, headers) => status < 500 && headerValue(headers, 'content-type')?.toLowerCase().startsWith('multipart/mixed') === true,
    });
    const parts = decodeBatchResponse(response.body, headerValue(response.headers, 'content-type'));
    for (const result of batchResults(group, encoded.operations, parts, request)) {
      sent.push(result);
      if (result.error !== undefined && !continueOnError) stopped = true;
    }
  }
  if (order === undefined) return sent;
  const out: BatchResult[] = new Array<BatchResult>(sent.length);
  sent.forEach((result, i) => {
    out[order[i]] = result;
  });
  return out;
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
    result.error = statusError(part.status, part.headers, part.body, { method: op.method, url: partUrl(op, batchRequest) });
  }
  return result;
}

function partUrl(op: BatchOperation, batchRequest: HttpRequest): string {
  return /^https?:/i.test(op.url) ? op.url : batchRequest.url.replace(/\$batch$/, '') + op.url;
}

/**
 * One result per operation of one `$batch`, from odata's `matchBatchResponses`: a failed change set
 * reports the service's error on the operation it names and `batch_rolled_back` on the others;
 * operations after a stop report `batch_not_executed`.
 */
function batchResults(group: readonly BatchItem[], slots: readonly BatchOperationSlot[], parts: BatchPartResponse[], batchRequest: HttpRequest): BatchResult[] {
  const ops: BatchOperation[] = [];
  for (const item of group) {
    if (isChangeSet(item)) ops.push(...item.changeSet);
    else ops.push(item);
  }
  return matchBatchResponses(slots, parts).map((match, i) => {
    const op = ops[i];
    if (match.outcome === 'notExecuted' || match.response === undefined) return notExecuted();
    if (match.outcome !== 'rolledBack') return partResult(match.response, op, batchRequest);
    const cause = statusError(match.response.status, match.response.headers, match.response.body, { method: op.method, url: partUrl(op, batchRequest) });
    return {
      status: match.response.status,
      headers: {},
      error: new DynamicsError(`Rolled back: another operation of the same change set failed (${cause.message})`, {
        code: BatchErrorCode.rolledBack,
        status: match.response.status,
        request: { method: op.method, url: partUrl(op, batchRequest) },
        cause,
      }),
    };
  });
}
