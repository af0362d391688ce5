/**
 * Pairing the parts of a decoded `$batch` response with the operations that were sent, including
 * the single error part that answers for a whole failed change set (OData v4 Part 1 §11.7.4).
 */
import { malformedResponse } from '../fail';
import type { BatchOperationResult, BatchOperationSlot, BatchOutcome, BatchPartResponse, MatchBatchOptions } from './types';

/**
 * `{ ...slot, outcome, response }`, written out: the same properties in the same order, without an
 * object spread per operation (a spread of slots of varying shapes is the dearest step of matching).
 */
function resultOf(slot: BatchOperationSlot, outcome: BatchOutcome, response?: BatchPartResponse): BatchOperationResult {
  const result = { index: slot.index } as BatchOperationResult;
  if (slot.changeSetIndex !== undefined) result.changeSetIndex = slot.changeSetIndex;
  if (slot.contentId !== undefined) result.contentId = slot.contentId;
  result.method = slot.method;
  result.outcome = outcome;
  if (response !== undefined) result.response = response;
  return result;
}

/**
 * Pairs the decoded response parts with the encoded operations, in order. A successful change set
 * answers with one part per operation (matched by Content-ID); a failed change set answers with a
 * single error part in its place (OData v4 Part 1 §11.7.4), which is reported as `failed` for the
 * operation it names by Content-ID and `rolledBack` for the others.
 *
 * Operations no part answered are `notExecuted` only when the service said it stopped: a complete
 * answer, sent without `continueOnError`, whose last part failed (Dataverse stops at the first
 * failure). Otherwise (a truncated answer, fewer parts for no stated reason, a change set answered
 * in part) they are `unknown`: they may have been carried out. So is an operation whose part could
 * not be read at all (status 0).
 *
 * @throws DynamicsError `malformed_response` when the parts cannot belong to these operations (more
 *   parts than operations, a change-set response where a single operation was sent, Content-IDs
 *   that were not sent).
 */
export function matchBatchResponses(
  operations: readonly BatchOperationSlot[],
  parts: readonly BatchPartResponse[],
  options: MatchBatchOptions = {},
): BatchOperationResult[] {
  const complete = options.complete !== false;
  const results: BatchOperationResult[] = [];
  const outcomeOf = (part: BatchPartResponse): BatchOutcome => (part.status === 0 ? 'unknown' : part.status >= 400 ? 'failed' : 'succeeded');
  // What an operation no part answered is: skipped only when the service stopped at a failure.
  const unanswered = (): BatchOutcome => {
    const last = parts[parts.length - 1];
    return complete && options.continueOnError !== true && last !== undefined && last.status >= 400 ? 'notExecuted' : 'unknown';
  };
  let p = 0;
  let i = 0;
  while (i < operations.length) {
    const slot = operations[i];
    if (slot.changeSetIndex === undefined) {
      const part = parts[p];
      if (part === undefined) results.push(resultOf(slot, unanswered()));
      else {
        if (part.changeSetIndex !== undefined) {
          throw malformedResponse(`$batch response: part ${p + 1} is a change-set response, but operation ${i} was sent on its own`);
        }
        results.push(resultOf(slot, outcomeOf(part), part));
        p++;
      }
      i++;
      continue;
    }
    // The operations of this change set.
    let end = i;
    while (end < operations.length && operations[end].changeSetIndex === slot.changeSetIndex) end++;
    const group = operations.slice(i, end);
    const first = parts[p];
    if (first === undefined) {
      const outcome = unanswered();
      for (const s of group) results.push(resultOf(s, outcome));
    } else if (first.changeSetIndex === undefined) {
      // The change set failed as a whole: one part answers for all of it (or could not be read at all).
      p++;
      const named = first.contentId !== undefined && group.some((s) => s.contentId === first.contentId);
      const failed = first.status >= 400;
      for (const s of group) {
        const outcome: BatchOutcome = first.status === 0 ? 'unknown' : !failed ? 'succeeded' : !named || s.contentId === first.contentId ? 'failed' : 'rolledBack';
        results.push(resultOf(s, outcome, first));
      }
    } else {
      const csIndex = first.changeSetIndex;
      const answered: BatchPartResponse[] = [];
      while (p < parts.length && parts[p].changeSetIndex === csIndex) answered.push(parts[p++]);
      if (answered.length > group.length) {
        throw malformedResponse(`$batch response: change set ${slot.changeSetIndex} got ${answered.length} answers for ${group.length} operations`);
      }
      const byId = new Map<string, BatchPartResponse>();
      for (const part of answered) if (part.contentId !== undefined) byId.set(part.contentId, part);
      const sent = new Set(group.map((s) => s.contentId));
      const strangers = [...byId.keys()].filter((id) => !sent.has(id));
      // Some servers wrap a failed change set's single error in a change-set response.
      const failure = answered.find((a) => a.status >= 400);
      group.forEach((s, k) => {
        // Match by Content-ID (the server may answer a change set in any order), else by position.
        const part = (s.contentId !== undefined ? byId.get(s.contentId) : undefined) ?? (byId.size === 0 ? answered[k] : undefined);
        if (part !== undefined) {
          results.push(resultOf(s, outcomeOf(part), part));
          return;
        }
        if (failure !== undefined) {
          results.push(resultOf(s, 'rolledBack', failure));
          return;
        }
        if (strangers.length > 0) {
          throw malformedResponse(
            `$batch response: no answer for Content-ID ${s.contentId ?? '(none)'} of change set ${slot.changeSetIndex} (the answers name Content-IDs that were not sent: ${strangers.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 40))).join(', ')})`,
          );
        }
        // A change set commits as a whole: with some of its answers missing, the rest may well have been applied.
        results.push(resultOf(s, 'unknown'));
      });
    }
    i = end;
  }
  if (p < parts.length) {
    throw malformedResponse(`$batch response: ${parts.length} parts for ${operations.length} operations`);
  }
  return results;
}
