/**
 * `$batch` for the Dataverse Web API: the shapes (./types), the request encoder (./encode), the
 * response decoder (./decode) and the pairing of answers with operations (./match). Pure functions:
 * no I/O.
 */
export {
  countOperations,
  isChangeSet,
  MAX_BATCH_OPERATIONS,
  type BatchChangeSet,
  type BatchItem,
  type BatchMethod,
  type BatchOperation,
  type BatchOperationResult,
  type BatchOperationSlot,
  type BatchOutcome,
  type BatchPartResponse,
  type EncodeBatchOptions,
  type EncodedBatch,
  type EncodedBatchBody,
  type MatchBatchOptions,
} from './types';
export { encodeBatch, encodeBatchBody, splitOperations } from './encode';
export { decodeBatchResponse, multipartBoundary, readBatchResponse, type BatchResponseReading } from './decode';
export { matchBatchResponses } from './match';
