/**
 * The shapes of a `$batch`, declared once: what a caller sends (operations and change sets), what
 * the encoder hands back, what the decoder reads and how the two are matched. `DynamicsClient`'s
 * public batch types are these (src/client/types.ts re-exports them).
 */
import type { DynamicsError } from '../../errors';
import type { HttpMethod } from '../../net/method';

/** HTTP methods Dataverse accepts inside a batch: the library's one {@link HttpMethod}. */
export type BatchMethod = HttpMethod;

/** One request inside a `$batch` (one operation of `DynamicsClient.batch`). */
export interface BatchOperation {
  method: BatchMethod;
  /**
   * Relative to the API root and already encoded (`accounts`, `accounts(<id>)`, `contacts?$select=fullname`,
   * as `entityPath()` + `buildQueryString()` write them), an absolute URL under the API root (an
   * `@odata.nextLink`), or `$<contentId>/…` for a record created earlier in the same change set.
   */
  url: string;
  /** Headers of this part (`If-Match`, `Prefer`, `MSCRM.*`, …). Default: none. */
  headers?: Readonly<Record<string, string>>;
  /**
   * The body: serialised as JSON unless it is a string (sent verbatim). Default: no body.
   * `"x@odata.bind": "$1"` refers to an earlier part of the same change set.
   */
  body?: unknown;
  /**
   * `Content-ID` of a part in a change set, so later parts of the same change set can use
   * `$<contentId>` in their URL or in `@odata.bind`. Default: assigned (1, 2, …, skipping ids you chose).
   */
  contentId?: string;
}

/** Operations that succeed or fail together (one transaction, a change set). GET is not allowed inside. */
export interface BatchChangeSet {
  changeSet: readonly BatchOperation[];
}

/** What a `$batch` holds: single operations and change sets, in order. */
export type BatchItem = BatchOperation | BatchChangeSet;

/** Dataverse's limit on operations per `$batch` (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api). */
export const MAX_BATCH_OPERATIONS = 1000;

/** Whether an item is a change set (as opposed to a single operation). */
export function isChangeSet(item: unknown): item is BatchChangeSet {
  return typeof item === 'object' && item !== null && 'changeSet' in item;
}

/** How many operations the items hold, a change set counting one per operation. */
export function countOperations(items: readonly BatchItem[]): number {
  let n = 0;
  for (const item of items) n += isChangeSet(item) ? (Array.isArray(item.changeSet) ? item.changeSet.length : 0) : 1;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Options for `encodeBatch`. */
export interface EncodeBatchOptions {
  /** The API root, e.g. `https://org.crm.dynamics.com/api/data/v9.2/`; part URLs are written as absolute paths under it. */
  apiRootUrl: string;
  /** The batch boundary. Default `batch_<random UUID>`. */
  boundary?: string;
  /** Change-set boundaries by change-set index. Default `changeset_<random UUID>`. */
  changeSetBoundary?: (changeSetIndex: number) => string;
  /** Adds `Prefer: odata.continue-on-error`: later operations run after a failure. Default false. */
  continueOnError?: boolean;
}

/** Where an operation sits in an encoded batch, in request order. */
export interface BatchOperationSlot {
  /** Index of the operation in the flattened request order. */
  index: number;
  /** Index of its change set among the batch's change sets, when it is in one. */
  changeSetIndex?: number;
  /** Its Content-ID (always set inside a change set). */
  contentId?: string;
  method: BatchMethod;
}

/** What `encodeBatch` returns. */
export interface EncodedBatch {
  /** The request body (CRLF line breaks). Send it as UTF-8. */
  body: string;
  /** `multipart/mixed; boundary="batch_…"`. */
  contentType: string;
  /** Headers to send with `POST $batch`: `Content-Type`, and `Prefer` when `continueOnError` is set. */
  headers: Record<string, string>;
  /** The batch boundary. */
  boundary: string;
  /** One slot per operation in request order, for `matchBatchResponses`. */
  operations: BatchOperationSlot[];
}

/** What `encodeBatchBody` returns: an {@link EncodedBatch} whose body is a string or, when long, its UTF-8 bytes. */
export type EncodedBatchBody = Omit<EncodedBatch, 'body'> & { body: string | Buffer };

// ---------------------------------------------------------------------------------------------
// Decoding

/** One response inside a `$batch` response. */
export interface BatchPartResponse {
  status: number;
  statusText: string;
  /**
   * Response headers with lower-cased names, in an object without a prototype: a part header named
   * `constructor` or `__proto__` is an ordinary entry, never something inherited.
   */
  headers: Record<string, string>;
  /** Parsed JSON when the part is JSON, the text otherwise, undefined when empty. */
  body: unknown;
  /** The part's Content-ID, when it had one. */
  contentId?: string;
  /** Index of the change-set response this part came from (0 for the first change set in the response). */
  changeSetIndex?: number;
  /**
   * Set when the part could not be read completely (`readBatchResponse` only): its JSON body does not
   * parse, the response ends inside it, or (with status 0) not even its status line could be read.
   * A `malformed_response` error saying which; the status, headers and Content-ID are as received.
   */
  malformed?: DynamicsError;
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * What happened to one operation of a `$batch`:
 * - `succeeded`: its part answered 1xx–3xx;
 * - `failed`: its part answered 4xx/5xx (for a failed change set: the operation the error names, or
 *   every operation when the error names none);
 * - `rolledBack`: its change set failed because of another operation, so nothing it did was kept;
 * - `notExecuted`: the batch stopped at an earlier failure (no `continueOnError`, a complete answer
 *   whose last part failed), so no part answered it;
 * - `unknown`: no readable part answered it, and nothing says it was skipped: the answer was cut
 *   short, came with fewer parts than operations for no stated reason, or its part could not be read.
 *   It may have been carried out: check before re-sending it.
 */
export type BatchOutcome = 'succeeded' | 'failed' | 'rolledBack' | 'notExecuted' | 'unknown';

/** One operation's result, in request order. */
export interface BatchOperationResult extends BatchOperationSlot {
  outcome: BatchOutcome;
  /** The response part that answered it (for `rolledBack`: the change set's error). Undefined when `notExecuted`, and when `unknown` because no part answered. */
  response?: BatchPartResponse;
}

/** Options of `matchBatchResponses`: how the answer was read and how the batch was sent. */
export interface MatchBatchOptions {
  /** Whether the answer ended with its close delimiter (`readBatchResponse`'s `complete`). Default: true. */
  complete?: boolean;
  /** Whether the batch was sent with `continueOnError` (then the service never stops early). Default: false. */
  continueOnError?: boolean;
}
