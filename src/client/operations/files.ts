/**
 * File and image columns through the Web API
 * (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data,
 * https://learn.microsoft.com/power-apps/developer/data-platform/image-column-data).
 *
 * Upload: up to `singleRequestLimitInBytes` (16 MiB by default, under Dataverse's 128 MB) one
 * `PATCH <record>/<column>` with the bytes; above it the chunked protocol: a `PATCH` with
 * `x-ms-transfer-mode: chunked` answers the `Location` (with its session token) and `x-ms-chunk-size`,
 * then one `PATCH <Location>` per chunk with `Content-Range`. Chunks are read from disk one at a time
 * (a stream of unknown size is first spooled to a temporary file), so memory holds one chunk whatever
 * the file's size. Every chunk is safe to re-send (same bytes, same offset): the pipeline re-sends it
 * after a lost answer, and when it still fails the chunk alone is tried again, from its offset.
 *
 * Download: `GET <record>/<column>/$value` with `Range: bytes=a-b`, one chunk per request, as the
 * caller reads the stream: the transport's `maxResponseBytes` bounds each answer, never the file.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DynamicsError, ErrorCode, FileColumnError } from '../../errors';
import { carriedOver } from '../../errors/DynamicsError';
import { requestLine } from '../../http/errors';
import { waitFor } from '../../http/wait';
import { backoffDelay } from '../../net/retry';
import { clip, displayUrl } from '../../net/excerpt';
import { headerValue } from '../../net/headers';
import { invalidArgument, malformedResponse } from '../../odata/fail';
import { validateName } from '../../odata/keys';
import { entityPath } from '../arguments';
import type { CallResult, ClientContext } from '../context';
import type { EntityKey, OperationOptions } from '../types';
import type { DownloadedFile, DownloadFileOptions, FileSource, UploadFileOptions } from '../workloadTypes';

const MIB = 1024 * 1024;
const DEFAULT_SINGLE_LIMIT = 16 * MIB;
/** Dataverse's single-request limit: "Allowed only if the file is <128 MB". */
const MAX_SINGLE_LIMIT = 128 * 1000 * 1000 - 1;
const DEFAULT_CHUNK = 4 * MIB;
const MAX_CHUNK = 64 * MIB;
const DEFAULT_CHUNK_RETRIES = 3;

/** The column's URL: `<apiRoot><entitySet>(<key>)/<column>`. */
function columnUrl(ctx: ClientContext, entitySet: string, key: EntityKey, column: string): string {
  return `${ctx.apiRoot}${entityPath(entitySet, key)}/${validateName(column, 'column')}`;
}

/** The service's refusals of the file itself become {@link FileColumnError}s; everything else stays as it was. */
function fileError(err: unknown): unknown {
  if (!(err instanceof DynamicsError) || err instanceof FileColumnError) return err;
  const code = err.code.toLowerCase();
  if (code !== '0x80044a02' && code !== '0x80072553') return err;
  const e = new FileColumnError(
    code === '0x80044a02'
      ? `${err.message} (the file is larger than the column's MaxSizeInKB allows)`
      : `${err.message} (an image column takes gif, jpeg, tiff, bmp or png up to 30 MB)`,
    {
      code: err.code,
      ...carriedOver(err),
    },
  );
  e.reason = code === '0x80044a02' ? 'file_too_large' : 'unsupported_image';
  return e;
}

function wholeNumber(value: unknown, argument: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidArgument(argument, `a whole number from ${min} to ${max}`, value);
  return value;
}

/** ASCII names go in the header too; only the query parameter carries other characters (file-column-data.md). */
function nameHeaders(fileName: string): Record<string, string | undefined> {
  return { 'x-ms-file-name': /^[\x20-\x7e]*$/.test(fileName) ? fileName : undefined };
}

/** Where the bytes come from: a buffer in memory, or an open file read at offsets. */
type Bytes = { kind: 'buffer'; data: Buffer } | { kind: 'file'; handle: fs.promises.FileHandle; size: number };

async function readAt(bytes: Bytes, offset: number, length: number, scratch: Buffer): Promise<Buffer> {
  if (bytes.kind === 'buffer') return bytes.data.subarray(offset, offset + length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await bytes.handle.read(scratch, read, length - read, offset + read);
    if (bytesRead === 0) throw invalidArgument('source', `a file that does not shrink while it is uploaded (it ended at byte ${offset + read}, not ${offset + length})`);
    read += bytesRead;
  }
  return scratch.subarray(0, length);
}

/** Writes a stream to a temporary file (bounded memory) and returns its path. */
async function spool(stream: Readable): Promise<string> {
  const file = path.join(os.tmpdir(), `dynamics-odata-upload-${randomUUID()}`);
  try {
    await pipeline(stream, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (error) {
    // A stream that fails or is aborted part-way leaves nothing behind.
    await fs.promises.rm(file, { force: true });
    throw error;
  }
  return file;
}

/** Uploads `source` into a file or image column. See `DynamicsClient.uploadFile`. */
export async function uploadFile(ctx: ClientContext, entitySet: string, key: EntityKey, column: string, source: FileSource, options?: UploadFileOptions): Promise<void> {
  const url = columnUrl(ctx, entitySet, key, column);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgument('options', 'an object of options', options);
  const o = options ?? {};
  const singleLimit = wholeNumber(o.singleRequestLimitInBytes, 'options.singleRequestLimitInBytes', 0, MAX_SINGLE_LIMIT) ?? DEFAULT_SINGLE_LIMIT;
  const chunkOption = wholeNumber(o.chunkSizeInBytes, 'options.chunkSizeInBytes', 1024, MAX_CHUNK);
  const retries = wholeNumber(o.chunkRetries, 'options.chunkRetries', 0, 20) ?? DEFAULT_CHUNK_RETRIES;
  wholeNumber(o.size, 'options.size', 0, Number.MAX_SAFE_INTEGER);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidArgument('options.onProgress', 'a function', o.onProgress);
  if (o.mimeType !== undefined && (typeof o.mimeType !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(o.mimeType))) throw invalidArgument('options.mimeType', 'a MIME type such as application/pdf', o.mimeType);
  let fileName = o.fileName;
  if (fileName === undefined && typeof source === 'string') fileName = path.basename(source);
  if (typeof fileName !== 'string' || fileName === '' || fileName.length > 255 || /[\u0000-\u001f\u007f]/.test(fileName)) {
    throw invalidArgument('options.fileName', 'the file name to store (1–255 characters, no control characters)', fileName);
  }
  const name = fileName;

  let spooled: string | undefined;
  let bytes: Bytes;
  if (Buffer.isBuffer(source) || source instanceof Uint8Array) {
    bytes = { kind: 'buffer', data: Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength) };
  } else if (typeof source === 'string') {
    const handle = await fs.promises.open(source, 'r').catch((err: NodeJS.ErrnoException) => {
      throw invalidArgument('source', `a readable file (${err.code ?? err.message})`, source);
    });
    bytes = { kind: 'file', handle, size: (await handle.stat()).size };
  } else if (source instanceof Readable) {
    spooled = await spool(source);
    const handle = await fs.promises.open(spooled, 'r');
    bytes = { kind: 'file', handle, size: (await handle.stat()).size };
  } else {
    throw invalidArgument('source', 'a Buffer, a Uint8Array, a Readable or a file path', source);
  }
  try {
    const size = bytes.kind === 'buffer' ? bytes.data.length : bytes.size;
    const query = `?x-ms-file-name=${encodeURIComponent(name)}`;
    if (size <= singleLimit) {
      const body = bytes.kind === 'buffer' ? bytes.data : await readAt(bytes, 0, size, Buffer.allocUnsafe(size));
      await ctx
        .call({
          method: 'PATCH',
          url: url + query,
          body,
          options: o,
          headers: { 'Content-Type': o.mimeType ?? 'application/octet-stream', ...nameHeaders(name) },
          // Writing the same bytes to the column again leaves it as it was.
          retrySafe: true,
          expect: [200, 204],
        })
        .catch((err: unknown) => {
          throw fileError(err);
        });
      o.onProgress?.({ bytesSent: size, bytesTotal: size });
      return;
    }
    await uploadChunked(ctx, url + query, name, bytes, size, chunkOption, retries, o);
  } finally {
    if (bytes.kind === 'file') await bytes.handle.close();
    if (spooled !== undefined) await fs.promises.rm(spooled, { force: true });
  }
}

async function uploadChunked(ctx: ClientContext, url: string, name: string, bytes: Bytes, size: number, chunkOption: number | undefined, retries: number, o: UploadFileOptions): Promise<void> {
  let start: CallResult;
  try {
    start = await ctx.call({
      method: 'PATCH',
      url,
      options: o,
      headers: { 'x-ms-transfer-mode': 'chunked', ...nameHeaders(name) },
      // Starting a session again only leaves an unused session behind.
      retrySafe: true,
      expect: [200],
    });
  } catch (err) {
    throw fileError(err);
  }
  const location = headerValue(start.response.headers, 'location');
  // The session's URL carries the token; it must be on this environment, or the bearer token would go elsewhere.
  if (location === undefined || !location.startsWith(`${ctx.origin}/`)) {
    throw malformedResponse(`${requestLine(start.request)}: the answer to a chunked upload carries no Location on ${ctx.origin} (got ${location === undefined ? 'none' : JSON.stringify(clip(displayUrl(location), 200))})`, { status: start.response.status });
  }
  const announced = Number(headerValue(start.response.headers, 'x-ms-chunk-size'));
  const chunkSize = chunkOption ?? (Number.isInteger(announced) && announced > 0 && announced <= MAX_CHUNK ? announced : DEFAULT_CHUNK);
  const scratch = bytes.kind === 'file' ? Buffer.allocUnsafe(chunkSize) : Buffer.alloc(0);
  for (let offset = 0; offset < size; offset += chunkSize) {
    const length = Math.min(chunkSize, size - offset);
    const last = offset + length >= size;
    const body = await readAt(bytes, offset, length, scratch);
    for (let attempt = 0; ; attempt++) {
      try {
        await ctx.call({
          method: 'PATCH',
          url: location,
          body,
          options: o,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${offset}-${offset + length - 1}/${size}`, ...nameHeaders(name) },
          // The same bytes at the same offset: the service keeps them once.
          retrySafe: true,
          expect: last ? [200, 204] : [206],
        });
        break;
      } catch (err) {
        const e = fileError(err);
        // Only a lost answer or a server failure is tried again, from this chunk's offset.
        const retryable = e instanceof DynamicsError && !(e instanceof FileColumnError) && (e.code === ErrorCode.network || e.code === ErrorCode.timeout || (e.status !== undefined && e.status >= 500));
        if (!retryable || attempt >= retries || o.abortSignal?.aborted === true) throw e;
        // The pipeline has already re-sent what it could: pause (exponential backoff with jitter)
        // before trying this chunk again, rather than at once against a server that just failed.
        await waitFor(backoffDelay(attempt), { abortSignal: o.abortSignal, deadline: Infinity }, 'the pause before re-sending a chunk').catch(() => {
          throw e;
        });
      }
    }
    o.onProgress?.({ bytesSent: offset + length, bytesTotal: size });
  }
}

/** Reads a file or image column chunk by chunk. See `DynamicsClient.downloadFile`. */
export async function downloadFile(ctx: ClientContext, entitySet: string, key: EntityKey, column: string, options?: DownloadFileOptions): Promise<DownloadedFile | null> {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgument('options', 'an object of options', options);
  const o = options ?? {};
  if (o.size !== undefined && o.size !== 'full' && o.size !== 'thumbnail') throw invalidArgument('options.size', "'full' or 'thumbnail'", o.size);
  const chunkSize = wholeNumber(o.chunkSizeInBytes, 'options.chunkSizeInBytes', 1024, MAX_CHUNK) ?? DEFAULT_CHUNK;
  if (o.path !== undefined && (typeof o.path !== 'string' || o.path === '')) throw invalidArgument('options.path', 'a file path to write to', o.path);
  const url = `${columnUrl(ctx, entitySet, key, column)}/$value${o.size === 'full' ? '?size=full' : ''}`;

  const fetchRange = async (offset: number): Promise<{ body: Buffer; total: number; result: CallResult }> => {
    const result = await ctx.call({ method: 'GET', url, options: o, headers: { Range: `bytes=${offset}-${offset + chunkSize - 1}` }, expect: [200, 204, 206] });
    const { response } = result;
    if (response.status === 204) return { body: Buffer.alloc(0), total: -1, result };
    const declared = Number(headerValue(response.headers, 'x-ms-file-size'));
    if (response.status === 200) {
      // The service sent the whole file instead of the range: that is the file.
      if (offset !== 0) throw malformedResponse(`${requestLine(result.request)}: asked for bytes from ${offset}, got the whole file (200)`, { status: 200 });
      return { body: response.body, total: response.body.length, result };
    }
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headerValue(response.headers, 'content-range') ?? '');
    const total = range && range[3] !== '*' ? Number(range[3]) : declared;
    if (range && Number(range[1]) !== offset) throw malformedResponse(`${requestLine(result.request)}: asked for bytes from ${offset}, got a range from ${range[1]}`, { status: 206 });
    if (!Number.isSafeInteger(total) || total < 0) throw malformedResponse(`${requestLine(result.request)}: a 206 without the file's size (x-ms-file-size or Content-Range)`, { status: 206 });
    if (response.body.length === 0 || response.body.length > chunkSize || offset + response.body.length > total) {
      throw malformedResponse(`${requestLine(result.request)}: a range of ${response.body.length} bytes at ${offset} does not fit a file of ${total} bytes`, { status: 206 });
    }
    return { body: response.body, total, result };
  };

  const first = await fetchRange(0);
  if (first.total === -1) return null;
  const headers = first.result.response.headers;
  const total = first.total;
  const fileName = headerValue(headers, 'x-ms-file-name');
  const mimeType = headerValue(headers, 'mimetype');
  // The generator below holds the first chunk only until it hands it on (not the whole first answer).
  let pending: Buffer | undefined = first.body;

  async function* chunks(): AsyncGenerator<Buffer> {
    const head = pending as Buffer;
    pending = undefined;
    let offset = head.length;
    yield head;
    while (offset < total) {
      const next = await fetchRange(offset);
      if (next.total !== total) throw malformedResponse(`${requestLine(next.result.request)}: the file's size changed from ${total} to ${next.total} bytes during the download`);
      yield next.body;
      offset += next.body.length;
    }
  }
  const stream = Readable.from(chunks(), { objectMode: false, highWaterMark: 1 });
  const info: DownloadedFile = { size: total, ...(fileName !== undefined ? { fileName } : {}), ...(mimeType !== undefined ? { mimeType } : {}) };
  if (o.path === undefined) return { ...info, stream };
  const out = fs.createWriteStream(o.path, { mode: 0o600 });
  await once(out, 'open');
  await pipeline(stream, out);
  return info;
}

/** `DELETE <record>/<column>`: removes the file or image. See `DynamicsClient.deleteFile`. */
export async function deleteFile(ctx: ClientContext, entitySet: string, key: EntityKey, column: string, options?: OperationOptions): Promise<void> {
  await ctx.call({ method: 'DELETE', url: columnUrl(ctx, entitySet, key, column), options, expect: [200, 204] });
}
