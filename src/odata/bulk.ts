/**
 * The wire format of the bulk messages (https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations):
 * `{"Targets":[{…,"@odata.type":"Microsoft.Dynamics.CRM.<logicalName>"},…]}`, cut into chunks by count
 * and by encoded size, and the per-record failures of an elastic table.
 */
import { serializeJson } from '../net/json';
import { invalidArgument } from './fail';

/**
 * Largest bulk request body: 116.85 MB. Above it Dataverse fails with "Message size exceeded when
 * sending context to Sandbox" whenever a plug-in is registered on the table (bulk-operations.md). Read
 * as decimal megabytes, the smaller reading, so a chunk is under the limit whichever is meant.
 */
export const MAX_BULK_PAYLOAD_BYTES = 116_850_000;

/** Bytes of `{"Targets":[` and `]}` around the records. */
const ENVELOPE_BYTES = '{"Targets":['.length + ']}'.length;

/** One request's worth of records. */
export interface BulkChunk {
  /** Input index of the first record. */
  start: number;
  /** Input index after the last record. */
  end: number;
  /** The request body, `{"Targets":[…]}`, built when read (a caller that only plans chunks never pays for it). */
  readonly body: string;
  /** Its size in bytes (UTF-8). */
  bytes: number;
}

/**
 * Encodes `records` one at a time and groups them into chunks of at most `chunkSize` records and
 * `maxBytes` bytes. A generator: only the chunk being built is held, so a caller that sends as it goes
 * keeps memory flat however many records there are.
 *
 * @param prepare - turns an input record into the target to send (adds `@odata.type`); may throw.
 * @throws DynamicsError `invalid_argument` naming the record that cannot be written as JSON or is larger than `maxBytes` on its own.
 */
export function* chunkTargets(
  records: readonly object[],
  chunkSize: number,
  maxBytes: number,
  prepare: (record: object, index: number) => object,
  argument = 'records',
): Generator<BulkChunk> {
  let parts: string[] = [];
  let bytes = ENVELOPE_BYTES;
  let start = 0;
  for (let i = 0; i < records.length; i++) {
    const json = serializeJson(prepare(records[i] as object, i), `${argument}[${i}]`);
    const size = Buffer.byteLength(json) + (parts.length > 0 ? 1 : 0);
    if (ENVELOPE_BYTES + Buffer.byteLength(json) > maxBytes) {
      throw invalidArgument(`${argument}[${i}]`, `a record under the bulk payload limit of ${maxBytes} bytes once encoded`, `a record of ${Buffer.byteLength(json)} bytes`);
    }
    if (parts.length > 0 && (parts.length >= chunkSize || bytes + size > maxBytes)) {
      yield chunkOf(start, i, parts, bytes);
      parts = [];
      bytes = ENVELOPE_BYTES;
      start = i;
    }
    bytes += Buffer.byteLength(json) + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) yield chunkOf(start, records.length, parts, bytes);
}

function chunkOf(start: number, end: number, parts: readonly string[], bytes: number): BulkChunk {
  return {
    start,
    end,
    bytes,
    get body() {
      return `{"Targets":[${parts.join(',')}]}`;
    },
  };
}

/** A record an elastic table refused: its index within the request's `Targets`, its id, its status. */
export interface BulkTargetFailure {
  requestIndex: number;
  id?: string;
  status: number;
}

/**
 * Reads the per-record failures of an elastic table's bulk error. The SDK documents them as JSON
 * `[{RequestIndex, Id, StatusCode}]` in `ErrorDetails["Plugin.BulkApiErrorDetails"]`; the Web API's
 * shape is not documented, so this takes the annotation as a JSON string or as an array, and returns
 * undefined for anything else (the caller then treats the whole chunk as failed).
 */
export function parseBulkFailures(errorBody: unknown): BulkTargetFailure[] | undefined {
  const error = (errorBody as { error?: Record<string, unknown> } | undefined)?.error;
  if (error === null || typeof error !== 'object') return undefined;
  let raw: unknown;
  for (const key of Object.keys(error)) if (key.endsWith('BulkApiErrorDetails')) raw = error[key];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(raw)) return undefined;
  const out: BulkTargetFailure[] = [];
  for (const item of raw) {
    const r = item as Record<string, unknown> | null;
    const index = r?.['RequestIndex'];
    const status = r?.['StatusCode'];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || typeof status !== 'number') return undefined;
    const id = r?.['Id'];
    out.push({ requestIndex: index, status, ...(typeof id === 'string' ? { id } : {}) });
  }
  return out;
}
