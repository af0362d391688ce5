/**
 * OData protocol helpers for the Dataverse Web API: record keys, query strings and `Prefer`,
 * `$batch` encoding and decoding. Pure functions: no I/O.
 */
export {
  entityPath,
  formatKey,
  isGuid,
  normalizeGuid,
  parseEntityId,
  parseEntityReference,
  validateName,
  FORBIDDEN_KEY_CHARACTERS,
  type AlternateKey,
  type EntityReference,
  type KeyValue,
  type RecordKey,
} from './keys';
export {
  buildQuery,
  buildQueryString,
  type BuildQueryOptions,
  type ColumnTypes,
  composePrefer,
  guid,
  parsePreferenceApplied,
  stringLiteral,
  MAX_PAGE_SIZE,
  type BuiltQuery,
  type Expand,
  type Filter,
  type FilterObject,
  type OrderBy,
  type PreferenceApplied,
  type PreferOptions,
  type QueryOptions,
} from './query';
export {
  decodeBatchResponse,
  encodeBatch,
  matchBatchResponses,
  multipartBoundary,
  splitOperations,
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
} from './batch';
export { checkNextLink, parseCollectionPage, type CollectionPage } from './collection';
export { MAX_QUERY_DEPTH, MAX_QUERY_VALUES } from './prepare';
export { checkUrlLength, MAX_BATCH_URL_LENGTH, MAX_SEGMENT_LENGTH, MAX_URL_LENGTH } from './url';
export { buildApply, type ApplyAggregate, type ApplyFunction, type ApplySpec } from './apply';
export { isQueryFunction, queryFunctionText, QUERY_FUNCTIONS } from './queryFunctions';
export * from './fetchxml';
