/**
 * Public types of the heavy workloads: bulk messages, change tracking, and file and image columns.
 * Kept apart from ./types.ts so that each capability's options sit together.
 */
import type { Readable } from 'node:stream';
import type { OperationOptions } from './types';

// ---------------------------------------------------------------------------------------------
// Bulk messages

/** Progress of a bulk call, reported after each chunk lands. */
export interface BulkProgress {
  /** Records applied so far (chunks that landed). */
  recordsDone: number;
  recordsTotal: number;
  chunksDone: number;
  chunksTotal: number;
}

/** Options of `createMultiple`, `updateMultiple`, `upsertMultiple` and `deleteMultiple`. */
export interface BulkOptions extends OperationOptions {
  /**
   * The table's logical name, for `@odata.type` (`Microsoft.Dynamics.CRM.<logicalName>`) on every target.
   * Default: from the client's `model` option (generated), else required.
   */
  logicalName?: string;
  /** `'elastic'` or `'standard'`. Default: from the client's `model`, else `'standard'`. */
  tableType?: 'standard' | 'elastic';
  /**
   * Records per request. Default: 1,000 on standard tables, 100 on elastic tables (Microsoft's
   * starting points, https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations).
   * A chunk is also cut before it would exceed `maxPayloadBytes`.
   */
  chunkSize?: number;
  /** Largest request body in bytes. Default and maximum: 116,850,000 (the 116.85 MB limit of a table with plug-ins). */
  maxPayloadBytes?: number;
  /**
   * Chunks in flight at once. The client's concurrency limit (the service's `x-ms-dop-hint`) still
   * applies on top. Default: 16.
   */
  concurrency?: number;
  /** Called after each chunk lands. */
  onProgress?: (progress: BulkProgress) => void;
  /**
   * When the table does not support the bulk message: `'batch'` sends the same records as `$batch`
   * change sets (one per chunk, at most 1,000 records, atomic like a bulk request on a standard
   * table). Default: `'none'`, a `BulkOperationError` with code `bulk_not_supported`.
   */
  fallback?: 'none' | 'batch';
}

/** Options of `createMultiple`. */
export interface CreateMultipleOptions extends BulkOptions {
  /**
   * Give every record without one a client-chosen GUID as its primary key before sending. This makes
   * a chunk safe to re-send after a lost answer (a reset, a timeout, a 502): a record that already
   * landed is refused as a duplicate instead of being created twice, and that refusal is read as
   * success. Without it such a chunk is never re-sent and its outcome is reported unknown. Needs the
   * primary key name (from the client's `model`, or `primaryKey`). Default: false.
   */
  clientIds?: boolean;
  /** The primary key column, for `clientIds`. Default: from the client's `model`. */
  primaryKey?: string;
}

// ---------------------------------------------------------------------------------------------
// Change tracking

/** One change: a row created or updated since the token (its selected columns), or a row deleted since. */
export type ChangeEntry<R> = { kind: 'upsert'; record: R } | { kind: 'delete'; id: string };

/** Options of `changes()`. */
export interface ChangesOptions<K extends string = string> extends OperationOptions {
  /** Columns to return for new and changed rows (`$select`). Strongly advised: without it every column comes. */
  select?: readonly K[];
  /** The token a previous sync ended with. Default: none, a full read of the table that ends with a token. */
  deltaToken?: string;
  /** Changes per page (`Prefer: odata.maxpagesize`), 1–5000. Default: the service's. */
  maxPageSize?: number;
}

/** A page of changes. The last page carries the new `deltaToken`; earlier ones a `continuationToken`. */
export type ChangePage<R> = ChangeEntry<R>[] & {
  /** The `@odata.nextLink` of this page; undefined on the last page. */
  continuationToken?: string;
  /** On the last page: the token to store and pass as `deltaToken` next time. */
  deltaToken?: string;
};

/**
 * The changes of a table, record by record (`for await`) or page by page (`byPage()`). Once iteration
 * has finished, `deltaToken` holds the token to store for the next sync.
 */
export interface ChangesIterator<R> extends AsyncIterableIterator<ChangeEntry<R>> {
  /** The new delta token: set when the last page has been read, undefined before. */
  readonly deltaToken: string | undefined;
  byPage(settings?: { continuationToken?: string }): AsyncIterableIterator<ChangePage<R>>;
}

// ---------------------------------------------------------------------------------------------
// Files and images

/** What `uploadFile` sends: bytes, a stream, or the path of a file on disk (read in chunks, never whole). */
export type FileSource = Buffer | Uint8Array | Readable | string;

/** Options of `uploadFile`. */
export interface UploadFileOptions extends OperationOptions {
  /** The file name stored with the file. Default: the path's base name, else required. */
  fileName?: string;
  /** The MIME type (sent as the request's `Content-Type`). Default: `application/octet-stream`. */
  mimeType?: string;
  /**
   * Largest file sent in one PATCH; larger ones use the chunked protocol. Default: 16 MiB, so memory
   * stays bounded whatever the source (Dataverse allows one request below 128 MB).
   */
  singleRequestLimitInBytes?: number;
  /** Bytes per chunk. Default: the service's `x-ms-chunk-size` (4 MiB). */
  chunkSizeInBytes?: number;
  /**
   * Attempts per chunk after a lost answer or a 5xx that the pipeline's own retries did not get past,
   * each re-sending the same bytes from the same offset after a pause (exponential backoff from 0.5 s,
   * with jitter; the abort signal ends it). Default: 3.
   */
  chunkRetries?: number;
  /** The total size, when the source is a stream and you know it (saves buffering the first chunk to find out). */
  size?: number;
  /** Called after each chunk is accepted. */
  onProgress?: (progress: { bytesSent: number; bytesTotal: number }) => void;
}

/** Options of `downloadFile`. */
export interface DownloadFileOptions extends OperationOptions {
  /** Image columns: `'full'` fetches the full-size image (`?size=full`) instead of the thumbnail. */
  size?: 'thumbnail' | 'full';
  /** Bytes asked for per request (`Range`). Default: 4 MiB. */
  chunkSizeInBytes?: number;
  /** Write to this path instead of returning a stream. */
  path?: string;
}

/** What `downloadFile` resolves with. */
export interface DownloadedFile {
  /** The file name the service stored (`x-ms-file-name`), when it sent one. */
  fileName?: string;
  /** The size in bytes (`x-ms-file-size`). */
  size: number;
  /** The MIME type (`mimetype`), when sent. */
  mimeType?: string;
  /** The bytes, read chunk by chunk as you consume them (absent when `path` was given). */
  stream?: Readable;
}
