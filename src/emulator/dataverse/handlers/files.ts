/**
 * File and image columns through the Web API
 * (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data,
 * https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data):
 *
 * - Upload in one request: `PATCH <set>(<id>)/<column>` with the bytes and `x-ms-file-name` → 204
 *   (the server reads at most 128 MiB, the documented single-request limit).
 * - Chunked: `PATCH …/<column>?x-ms-file-name=<name>` with `x-ms-transfer-mode: chunked` → 200 with
 *   `Location: …/<column>?sessiontoken=<token>` and `x-ms-chunk-size: 4194304`; then each chunk is a
 *   `PATCH <Location>` with `Content-Range: bytes <first>-<last>/<total>` → 206, the last → 204. A
 *   chunk sent again (its answer was lost) is accepted; a chunk past the next expected byte is a 400.
 * - Download: `GET …/<column>/$value` → 200 with the bytes, or with `Range: bytes=a-b` → 206, at most
 *   `x-ms-chunk-size` bytes per answer; headers `x-ms-file-size`, `x-ms-file-name`, `mimetype`.
 *   An image column answers its thumbnail, and `?size=full` the full image (204 when none is stored).
 * - `DELETE …/<column>` → 204.
 * - Limits: a file column's `MaxSizeInKB` (32 MB by default; `sample_file` of the default schema is
 *   configured for 10 GB, the API's maximum), `0x80044a02` when exceeded; images: gif, jpeg, tiff,
 *   bmp or png up to 30 MB, else `0x80072553`.
 *
 * The emulator does not resize images: its thumbnail is a fixed 1×1 PNG, so that a client asking for
 * the full image can tell it got it. The message-based protocol (InitializeFileBlocksUpload, …) is
 * not emulated.
 */
import { randomUUID } from 'node:crypto';
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { DataverseHttpError, dvErrors } from '../errors';
import { parseQueryString } from '../query';
import type { ColumnInfo, EntitySetInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { noContent } from '../shared/responses';
import { isFileColumn, isImageColumn } from '../shared/tables';

/** The chunk size the service announces and serves: 4 MiB (file-column-data.md). */
export const CHUNK_SIZE = 4 * 1024 * 1024;
/** Default `MaxSizeInKB` of a file column: 32,768 KB. */
export const DEFAULT_FILE_MAX_BYTES = 32 * 1024 * 1024;
/** Largest file the API handles: 10 GB (image-column-data.md), what `sample_file` is configured for. */
const LARGE_FILE_MAX_BYTES = 10 * 1024 * 1024 * 1024;
/** Largest image: 30 MB (image-column-data.md). */
export const IMAGE_MAX_BYTES = 30 * 1024 * 1024;

/** Per column: `MaxSizeInKB` set by the default schema's maker; other file columns have the default. */
const MAX_BYTES_BY_COLUMN: Readonly<Record<string, number>> = { sample_file: LARGE_FILE_MAX_BYTES };

/** A valid 1×1 transparent PNG: the emulator's stand-in for every thumbnail. */
const THUMBNAIL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

interface StoredFile {
  chunks: Buffer[];
  size: number;
  name: string;
  mimeType: string;
}

/**
 * Open chunked uploads. Microsoft documents no lifetime or limit for an upload session (only the
 * error "The upload session token is not valid or has expired"); the emulator chooses: a session
 * unused for {@link UPLOAD_IDLE_MS} expires, and at most {@link MAX_OPEN_UPLOADS} stay open (a new
 * one ends the session unused for longest). Without a bound, every abandoned upload kept its chunks
 * for the emulator's life.
 */
export const MAX_OPEN_UPLOADS = 64;
export const UPLOAD_IDLE_MS = 15 * 60_000;

interface UploadSession {
  /** `Date.now()` of the session's last request. */
  usedAt: number;
  key: string;
  set: EntitySetInfo;
  id: string;
  column: ColumnInfo;
  name: string;
  chunks: Buffer[];
  received: number;
  total?: number;
}

const fileTooBig = () => new DataverseHttpError(400, '0x80044a02', 'Attachment file size is too big.');
const imageFailure = (message: string) => new DataverseHttpError(400, '0x80072553', message);

/** The MIME type of an image from its first bytes, or undefined when it is none of the types Dataverse takes. */
function imageType(bytes: Buffer): string | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 4 && bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (bytes.length >= 2 && bytes.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
  if (bytes.length >= 4 && (bytes.subarray(0, 4).equals(Buffer.from([0x49, 0x49, 0x2a, 0x00])) || bytes.subarray(0, 4).equals(Buffer.from([0x4d, 0x4d, 0x00, 0x2a])))) return 'image/tiff';
  return undefined;
}

function maxBytes(column: ColumnInfo, image: boolean): number {
  return image ? IMAGE_MAX_BYTES : (MAX_BYTES_BY_COLUMN[column.name] ?? DEFAULT_FILE_MAX_BYTES);
}

function queryValue(ctx: RequestContext, name: string): string | undefined {
  return parseQueryString(ctx.req.query).find((p) => p.name === name)?.value;
}

/** The file name: the header wins over the query parameter (file-column-data.md). */
function fileName(ctx: RequestContext): string | undefined {
  const header = ctx.req.headers['x-ms-file-name'];
  const name = header !== undefined && header !== '' ? header : queryValue(ctx, 'x-ms-file-name');
  return name === undefined || name === '' ? undefined : name;
}

function isBinaryColumn(set: EntitySetInfo, column: ColumnInfo): 'file' | 'image' | undefined {
  if (isFileColumn(set, column)) return 'file';
  if (isImageColumn(set, column)) return 'image';
  return undefined;
}

function sliceOf(file: StoredFile, start: number, end: number): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (const chunk of file.chunks) {
    const lo = Math.max(start, offset);
    const hi = Math.min(end, offset + chunk.length);
    if (lo < hi) parts.push(chunk.subarray(lo - offset, hi - offset));
    offset += chunk.length;
    if (offset >= end) break;
  }
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/** Files and images of one emulator instance: stored bytes and open upload sessions live in its closure. */
export const files: Handler = {
  name: 'files',
  routes: () => {
    const stored = new Map<string, StoredFile>();
    const sessions = new Map<string, UploadSession>();
    const keyOf = (set: EntitySetInfo, id: string, column: string) => `${set.name}|${id}|${column}`;

    /** Keeps a completed upload and points the row's columns at it. */
    const commit = (ctx: RequestContext, set: EntitySetInfo, id: string, column: ColumnInfo, kind: 'file' | 'image', name: string, chunks: Buffer[], size: number): void => {
      let mimeType = 'application/octet-stream';
      if (kind === 'image') {
        const type = imageType(chunks[0] ?? Buffer.alloc(0));
        if (type === undefined) throw imageFailure('The image is not in a supported format: gif, jpeg, tiff, bmp or png.');
        if (size > IMAGE_MAX_BYTES) throw imageFailure(`File size is too big. MaxSize: ${IMAGE_MAX_BYTES / 1024} KB.`);
        mimeType = type;
      } else if (size > maxBytes(column, false)) throw fileTooBig();
      const changes: Row = {};
      if (kind === 'file') {
        changes[column.name] = randomUUID();
        changes[`${column.name}_name`] = name;
      } else {
        changes[column.name] = THUMBNAIL.toString('base64');
        changes[`${column.name}id`] = randomUUID();
        if (set.columns.has(`${column.name}_timestamp`)) changes[`${column.name}_timestamp`] = Date.now();
        if (set.columns.has(`${column.name}_url`)) changes[`${column.name}_url`] = `/Image/download.aspx?Entity=${set.logicalName}&Attribute=${column.name}&Id=${id}&Timestamp=${Date.now()}`;
      }
      ctx.env.store.update(set.name, id, changes, ctx.now);
      stored.set(keyOf(set, id, column.name), { chunks, size, name, mimeType });
    };

    const upload = (ctx: RequestContext, { set, row, column }: Target<'property'>): ApiResponse | undefined => {
      const kind = isBinaryColumn(set, column);
      if (!kind) return undefined;
      const id = normaliseId(row[set.key]);
      const token = queryValue(ctx, 'sessiontoken');
      if (token !== undefined) return chunk(ctx, token, set, id, column, kind);
      const name = fileName(ctx) ?? (kind === 'image' ? 'image' : undefined);
      if (name === undefined) throw dvErrors.badRequest('The file name is missing: send the x-ms-file-name header or query parameter.');
      if ((ctx.req.headers['x-ms-transfer-mode'] ?? '').toLowerCase() === 'chunked') {
        const sessionToken = randomUUID().replace(/-/g, '');
        const now = Date.now();
        // Map order is use order (a session is moved to the end on use): the first ones are the idlest.
        for (const [token, open] of sessions) {
          if (now - open.usedAt <= UPLOAD_IDLE_MS && sessions.size < MAX_OPEN_UPLOADS) break;
          sessions.delete(token);
        }
        sessions.set(sessionToken, { usedAt: now, key: keyOf(set, id, column.name), set, id, column, name, chunks: [], received: 0 });
        return {
          status: 200,
          headers: {
            'OData-Version': '4.0',
            'Accept-Ranges': 'bytes',
            Location: `${ctx.base}/${set.name}(${id})/${column.name}?sessiontoken=${sessionToken}`,
            'x-ms-chunk-size': String(CHUNK_SIZE),
            'Access-Control-Expose-Headers': 'x-ms-chunk-size',
          },
          body: '',
        };
      }
      const bytes = ctx.req.bytes ?? Buffer.from(ctx.req.body, 'utf8');
      commit(ctx, set, id, column, kind, name, [Buffer.from(bytes)], bytes.length);
      return noContent();
    };

    const chunk = (ctx: RequestContext, token: string, set: EntitySetInfo, id: string, column: ColumnInfo, kind: 'file' | 'image'): ApiResponse => {
      const session = sessions.get(token);
      const now = Date.now();
      const expired = session !== undefined && now - session.usedAt > UPLOAD_IDLE_MS;
      if (expired) sessions.delete(token);
      if (!session || expired || session.key !== keyOf(set, id, column.name)) throw dvErrors.badRequest('The upload session token is not valid or has expired.', '0x80040203');
      // Moved to the end of the map: its order is use order.
      session.usedAt = now;
      sessions.delete(token);
      sessions.set(token, session);
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(ctx.req.headers['content-range'] ?? '');
      if (!range) throw dvErrors.badRequest("A chunk needs a 'Content-Range: bytes <first>-<last>/<total>' header.");
      const first = Number(range[1]);
      const last = Number(range[2]);
      const total = Number(range[3]);
      const bytes = ctx.req.bytes ?? Buffer.from(ctx.req.body, 'utf8');
      if (last < first || last >= total || bytes.length !== last - first + 1) throw dvErrors.badRequest(`The Content-Range 'bytes ${first}-${last}/${total}' does not match the ${bytes.length} bytes sent.`);
      if (session.total !== undefined && session.total !== total) throw dvErrors.badRequest(`The total size ${total} differs from the ${session.total} of earlier chunks.`);
      // Refused before the bytes are kept: the declared size is over the column's limit.
      if (kind === 'file' && total > maxBytes(column, false)) {
        sessions.delete(token);
        throw fileTooBig();
      }
      if (kind === 'image' && total > IMAGE_MAX_BYTES) {
        sessions.delete(token);
        throw imageFailure(`File size is too big. MaxSize: ${IMAGE_MAX_BYTES / 1024} KB.`);
      }
      session.total = total;
      if (first > session.received) throw dvErrors.badRequest(`Chunk out of order: the next byte expected is ${session.received}, this chunk starts at ${first}.`);
      if (last + 1 > session.received) {
        // A chunk sent again after a lost answer overlaps what was received: keep only the new bytes.
        session.chunks.push(Buffer.from(bytes.subarray(session.received - first)));
        session.received = last + 1;
      }
      if (session.received < total) return { status: 206, headers: { 'OData-Version': '4.0' }, body: '' };
      sessions.delete(token);
      commit(ctx, set, id, column, kind, session.name, session.chunks, total);
      return noContent();
    };

    const download = (ctx: RequestContext, { set, row, column }: Target<'propertyValue'>): ApiResponse | undefined => {
      const kind = isBinaryColumn(set, column);
      if (!kind) return undefined;
      const id = normaliseId(row[set.key]);
      const file = stored.get(keyOf(set, id, column.name));
      if (kind === 'image' && queryValue(ctx, 'size') !== 'full') {
        if (row[column.name] == null) return noContent();
        return { status: 200, headers: { 'Content-Type': 'image/png', 'x-ms-file-size': String(THUMBNAIL.length), mimetype: 'image/png' }, body: '', bytes: THUMBNAIL };
      }
      if (!file) return noContent();
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'x-ms-file-size': String(file.size),
        'x-ms-file-name': file.name,
        mimetype: file.mimeType,
        'Access-Control-Expose-Headers': 'x-ms-file-size; x-ms-file-name; mimetype',
      };
      const rangeHeader = ctx.req.headers['range'];
      if (rangeHeader === undefined) return { status: 200, headers, body: '', bytes: sliceOf(file, 0, file.size) };
      const m = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader);
      if (!m) throw dvErrors.badRequest(`The Range header '${rangeHeader}' is not of the form 'bytes=<first>-<last>'.`);
      const first = Number(m[1]);
      if (first >= file.size) {
        return { status: 416, headers: { 'Content-Range': `bytes */${file.size}`, 'Content-Type': 'application/json; odata.metadata=minimal' }, body: JSON.stringify({ error: { code: '0x80040203', message: 'The requested range is not satisfiable.' } }) };
      }
      const lastAsked = m[2] === '' ? file.size - 1 : Math.min(Number(m[2]), file.size - 1);
      // At most one chunk per answer, as the service announces with x-ms-chunk-size.
      const last = Math.min(lastAsked, first + CHUNK_SIZE - 1);
      return {
        status: 206,
        headers: { ...headers, 'x-ms-chunk-size': String(CHUNK_SIZE), 'Content-Range': `bytes ${first}-${last}/${file.size}` },
        body: '',
        bytes: sliceOf(file, first, last + 1),
      };
    };

    const remove = (ctx: RequestContext, { set, row, column }: Target<'property'>): ApiResponse | undefined => {
      const kind = isBinaryColumn(set, column);
      if (!kind) return undefined;
      const id = normaliseId(row[set.key]);
      stored.delete(keyOf(set, id, column.name));
      const changes: Row = { [column.name]: null };
      if (kind === 'file') changes[`${column.name}_name`] = null;
      else changes[`${column.name}id`] = null;
      ctx.env.store.update(set.name, id, changes, ctx.now);
      return noContent();
    };

    return {
      property: { PATCH: (t, ctx) => upload(ctx, t), DELETE: (t, ctx) => remove(ctx, t) },
      propertyValue: { GET: (t, ctx) => download(ctx, t) },
    };
  },
};
