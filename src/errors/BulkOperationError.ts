import { DynamicsError, type DynamicsErrorOptions } from './DynamicsError';

/** How one chunk of a bulk call ended. */
export type BulkChunkStatus =
  /** The service applied it. */
  | 'succeeded'
  /** The service refused it: on a standard table nothing of it was applied. */
  | 'failed'
  /** An elastic table applied some of its records and refused others (see `failedRecords`). */
  | 'partial'
  /** Its answer was lost (a reset, a timeout, a 502) and re-sending it could have duplicated rows: it may or may not have been applied. */
  | 'unknown'
  /** It was never sent (an earlier chunk failed, or the call was aborted). */
  | 'not_sent';

/** One chunk of a bulk call: which input records it held and how it ended. */
export interface BulkChunkReport {
  /** Position of the chunk, from 0. */
  index: number;
  /** Index in the input of its first record. */
  start: number;
  /** Index in the input after its last record (`start + count`). */
  end: number;
  status: BulkChunkStatus;
}

/** A record an elastic table refused inside a chunk that otherwise landed. */
export interface BulkRecordFailure {
  /** Index in the caller's input. */
  index: number;
  /** The record's id, when the service named it. */
  id?: string;
  /** The HTTP status the service gave that record. */
  status: number;
}

/** What {@link BulkOperationError} is built from. */
export interface BulkOperationErrorOptions extends DynamicsErrorOptions {
  /** The bulk message: `CreateMultiple`, `UpdateMultiple`, `UpsertMultiple` or `DeleteMultiple`. */
  message: string;
  chunks: readonly BulkChunkReport[];
  /** CreateMultiple: the ids of every record known to be created, at its input index. */
  ids?: ReadonlyArray<string | undefined>;
  failedRecords?: readonly BulkRecordFailure[];
}

/**
 * A bulk call (`createMultiple`, `updateMultiple`, `upsertMultiple`, `deleteMultiple`) that did not
 * land whole. `chunks` says what happened to every chunk, so the caller can resume with the records
 * that did not land (`pendingIndexes()`); `cause` is the service's error (or the network's).
 *
 * Codes: `bulk_chunk_failed` (the service refused a chunk), `bulk_outcome_unknown` (a chunk's answer
 * was lost and it could not be re-sent safely), `bulk_not_supported` (the table has no such message),
 * `aborted`.
 *
 * @example
 * ```ts
 * try { await client.createMultiple('accounts', rows); }
 * catch (err) {
 *   if (err instanceof BulkOperationError && err.code === 'bulk_chunk_failed') retryLater(err.pendingIndexes().map((i) => rows[i]));
 * }
 * ```
 */
export class BulkOperationError extends DynamicsError {
  override name = 'BulkOperationError';
  /** The bulk message that was sent. */
  readonly bulkMessage: string;
  /** Every chunk, in order, with the input indexes it held and how it ended. */
  readonly chunks: readonly BulkChunkReport[];
  /** CreateMultiple: created ids at their input indexes (undefined where not known to be created). */
  readonly ids?: ReadonlyArray<string | undefined>;
  /** Elastic tables: the records refused inside chunks that otherwise landed. */
  readonly failedRecords: readonly BulkRecordFailure[];

  constructor(text: string, options: BulkOperationErrorOptions) {
    super(text, options);
    this.bulkMessage = options.message;
    this.chunks = options.chunks;
    if (options.ids !== undefined) this.ids = options.ids;
    this.failedRecords = options.failedRecords ?? [];
  }

  /** Input indexes of the records that surely did not land: chunks `failed` or `not_sent`, and refused records of `partial` ones. */
  pendingIndexes(): number[] {
    const out: number[] = [];
    for (const c of this.chunks) if (c.status === 'failed' || c.status === 'not_sent') for (let i = c.start; i < c.end; i++) out.push(i);
    for (const f of this.failedRecords) out.push(f.index);
    return out.sort((a, b) => a - b);
  }

  /** Input indexes of the records whose outcome is unknown (chunks `unknown`): check before re-sending them. */
  unknownIndexes(): number[] {
    const out: number[] = [];
    for (const c of this.chunks) if (c.status === 'unknown') for (let i = c.start; i < c.end; i++) out.push(i);
    return out;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), bulkMessage: this.bulkMessage, chunks: this.chunks, failedRecords: this.failedRecords };
  }
}
