/**
 * Our own stable error codes, used when Dataverse sent none (its `error.code` is "frequently
 * empty", compose-http-requests-handle-errors.md) or when no response arrived at all.
 */
export const ErrorCode = {
  /** An argument to a method was missing or malformed; nothing was sent. */
  invalidArgument: 'invalid_argument',
  /** Configuration (options or environment variables) failed validation. */
  invalidConfiguration: 'invalid_configuration',
  /** The token endpoint refused or failed; see `entraErrorCodes`. */
  authenticationFailed: 'authentication_failed',
  /** The service answered 429 (or 503 with Retry-After) more often than `maxRetries` allowed. */
  throttled: 'throttled',
  /** The response could not be understood (an HTML error page, truncated JSON, a bad multipart body). */
  malformedResponse: 'malformed_response',
  /** A response body (raw or decompressed) was larger than `maxResponseBytes`. */
  responseTooLarge: 'response_too_large',
  /** The connection failed (reset, refused, DNS, TLS). */
  network: 'network_error',
  /** The request took longer than `timeoutInMs`. */
  timeout: 'timeout',
  /** The caller's AbortSignal fired. */
  aborted: 'aborted',
  /** A record failed validation against its generated zod schema. */
  validation: 'validation_failed',
  /** An HTTP error whose body carried no Dataverse code. */
  httpError: 'http_error',
  /** A bulk message refused a chunk (see `BulkOperationError.chunks`). */
  bulkChunkFailed: 'bulk_chunk_failed',
  /** A bulk chunk's answer was lost and re-sending it could have duplicated rows: it may or may not have landed. */
  bulkOutcomeUnknown: 'bulk_outcome_unknown',
  /** The table does not support this bulk message (use `{ fallback: 'batch' }`). */
  bulkNotSupported: 'bulk_not_supported',
  /** Change tracking: the delta token expired; run a full sync. */
  deltaTokenExpired: 'delta_token_expired',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Dataverse service protection codes (api-limits.md). */
export const ServiceProtectionCode = {
  numberOfRequests: '0x80072322',
  executionTime: '0x80072321',
  concurrentRequests: '0x80072326',
} as const;
