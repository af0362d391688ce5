/**
 * Reading response bodies, once for the whole library: bounded in size (raw and decompressed),
 * decompressed without blocking the event loop, decoded as UTF-8 without a byte order mark.
 */
import { constants as bufferConstants } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import * as zlib from 'node:zlib';
import { TransportError } from './errors';
import { headerValue, type HeaderBag } from './headers';

/**
 * Default limit of one response body, raw and decompressed: 128 MiB. The largest real documents
 * (`$metadata` of a big organisation, a 5,000-row page with every column) are tens of MB.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024;

/** `Accept-Encoding` for every encoding {@link inflate} decodes. */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

/** Compressed bodies up to this size are inflated synchronously, with their output capped at {@link SYNC_INFLATE_MAX_OUTPUT}. */
const SYNC_INFLATE_MAX_INPUT = 16 * 1024;
const SYNC_INFLATE_MAX_OUTPUT = 1024 * 1024;

/** Body text as UTF-8, without a byte order mark (some front ends send one before JSON). */
export function decodeText(body: Buffer | string): string {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The outcome of {@link parseJson}. */
export type JsonParse = { ok: true; value: unknown; text: string } | { ok: false; error: Error; text: string };

/**
 * Parses a JSON body: the one JSON decoder of the library, used for successes and failures alike,
 * so that the same bytes parse (or fail) the same way whatever the status. Never throws.
 */
export function parseJson(body: Buffer | string): JsonParse {
  let text: string;
  try {
    text = decodeText(body);
  } catch (error) {
    // A body too large for a string (ERR_STRING_TOO_LONG) is not JSON we can read. node's error is
    // kept as is, its `code` with it (it may come from another realm, so no `instanceof Error`).
    return { ok: false, error: typeof error === 'object' && error !== null && 'message' in error ? (error as Error) : new Error(String(error)), text: '' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown, text };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error : new Error(String(error)), text };
  }
}

/** Whether the response says its body is JSON (`application/json`, `application/problem+json`, with or without OData parameters). */
export function isJsonContentType(headers: HeaderBag): boolean {
  const type = headerValue(headers, 'content-type');
  return type !== undefined && /^application\/(?:[\w.+-]*\+)?json\b/i.test(type.trimStart());
}

/** A {@link TransportError} `too_large` naming the limit. */
export function tooLarge(what: string, limit: number): TransportError {
  return new TransportError('too_large', `the ${what} is larger than maxResponseBytes (${limit} bytes); raise the limit if this response is expected`);
}

/**
 * Decompresses a body by its `Content-Encoding` (gzip, deflate with or without the zlib wrapper, br),
 * never to more than `maxBytes`. Small bodies are inflated synchronously with a small output cap
 * (cheaper than a thread-pool round trip); everything else, and anything that would inflate past that
 * cap, on the thread pool, so a decompression bomb neither blocks the event loop nor exhausts memory.
 *
 * @throws TransportError `too_large` past `maxBytes`, `undecodable` for a broken stream or an unknown encoding.
 */
export async function inflate(raw: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  if (encoding === undefined || raw.length === 0) return raw;
  const kind = encoding.trim().toLowerCase();
  if (kind === '' || kind === 'identity') return raw;
  let sync: (buf: Buffer, options: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;
  let async: (buf: Buffer, options: zlib.ZlibOptions | zlib.BrotliOptions, callback: zlib.CompressCallback) => void;
  let options: zlib.ZlibOptions | zlib.BrotliOptions = {};
  if (kind === 'gzip' || kind === 'x-gzip') {
    sync = zlib.gunzipSync;
    async = zlib.gunzip;
    // Tolerates a stream cut short at a flush point, as browsers and curl do.
    options = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  } else if (kind === 'deflate') {
    // Some servers send raw deflate without the zlib wrapper; the header byte tells them apart.
    const wrapped = (raw[0] & 0x0f) === 0x08;
    sync = wrapped ? zlib.inflateSync : zlib.inflateRawSync;
    async = wrapped ? zlib.inflate : zlib.inflateRaw;
  } else if (kind === 'br') {
    sync = zlib.brotliDecompressSync;
    async = zlib.brotliDecompress;
  } else {
    throw new TransportError('undecodable', `unsupported Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}`);
  }
  if (raw.length <= SYNC_INFLATE_MAX_INPUT) {
    try {
      return sync(raw, { ...options, maxOutputLength: Math.min(maxBytes, SYNC_INFLATE_MAX_OUTPUT) });
    } catch (error) {
      if (!isOutputTooLarge(error)) throw undecodable(kind, error);
      if (maxBytes <= SYNC_INFLATE_MAX_OUTPUT) throw tooLarge(`decompressed (${kind}) response body`, maxBytes);
      // Larger than the synchronous cap but perhaps within the limit: inflate off the loop.
    }
  }
  return new Promise<Buffer>((resolve, reject) => {
    async(raw, { ...options, maxOutputLength: maxBytes }, (error, result) => {
      if (error === null) resolve(result);
      else reject(isOutputTooLarge(error) ? tooLarge(`decompressed (${kind}) response body`, maxBytes) : undecodable(kind, error));
    });
  });
}

function isOutputTooLarge(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError;
}

function undecodable(kind: string, error: unknown): TransportError {
  return new TransportError('undecodable', `could not decode the ${kind} response body: ${error instanceof Error ? error.message : String(error)}`);
}

/** Options of {@link collectBody}. */
export interface CollectOptions {
  /** Limit of the raw (still compressed) body. */
  maxBytes: number;
  /** Called with the bytes received so far as they arrive (progress). */
  onData?: (receivedBytes: number) => void;
}

/**
 * Reads a response stream into one Buffer and calls `done` with it, or `fail` as soon as
 * `Content-Length` or the bytes received pass `maxBytes` (the socket is destroyed: nothing more is
 * read), or when the stream fails or closes early. Exactly one of the two is called, once.
 * Callbacks rather than a promise: this runs for every response, and a promise layer costs per call.
 */
export function readBody(res: IncomingMessage, maxBytes: number, onData: ((receivedBytes: number) => void) | undefined, done: (body: Buffer) => void, fail: (error: TransportError) => void): void {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    fail(tooLarge('response body (Content-Length)', maxBytes));
    return;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  let finished = false;
  const stop = (error: TransportError): void => {
    if (finished) return;
    finished = true;
    chunks.length = 0;
    fail(error);
  };
  res.on('data', (chunk: Buffer) => {
    if (finished) return;
    length += chunk.length;
    if (length > maxBytes) {
      res.destroy();
      stop(tooLarge('response body', maxBytes));
      return;
    }
    chunks.push(chunk);
    onData?.(length);
  });
  res.on('error', (error: NodeJS.ErrnoException) => {
    if (!finished) stop(new TransportError('network', error.message, error.code));
  });
  res.on('end', () => {
    if (finished) return;
    finished = true;
    done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
  });
  // The backstop: a stream that closes without 'end' or 'error' was cut short.
  // (Built only when needed: an Error captures a stack trace, too dear for every response.)
  res.on('close', () => {
    if (!finished) stop(new TransportError('network', 'the connection closed before the response body was complete', 'ECONNRESET'));
  });
}

/** {@link readBody} as a promise, for callers off the hot path. */
export function collectBody(res: IncomingMessage, options: CollectOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => readBody(res, options.maxBytes, options.onData, resolve, reject));
}

/** The longest JavaScript string, in UTF-16 code units (536,870,888 on 64-bit Node 20). */
export const MAX_STRING_LENGTH: number = bufferConstants.MAX_STRING_LENGTH;

/** The outcome of {@link tryDecodeText}. */
export type TextDecode = { ok: true; text: string } | { ok: false; error: TransportError };

/**
 * {@link decodeText} without throwing: a body too long for one JavaScript string (node's
 * `ERR_STRING_TOO_LONG`, possible only when `maxResponseBytes` was raised past
 * {@link MAX_STRING_LENGTH}) gives a {@link TransportError} `too_large` that says so.
 */
export function tryDecodeText(body: Buffer | string): TextDecode {
  try {
    return { ok: true, text: decodeText(body) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const message =
      code === 'ERR_STRING_TOO_LONG'
        ? `the response body (${body.length} bytes) is too long to read as text (the longest JavaScript string is ${MAX_STRING_LENGTH} characters); lower maxResponseBytes, or read it with responseType 'arraybuffer'`
        : `the response body could not be read as text: ${error instanceof Error ? error.message : String(error)}`;
    return { ok: false, error: new TransportError(code === 'ERR_STRING_TOO_LONG' ? 'too_large' : 'undecodable', message, code) };
  }
}

/**
 * The highest `maxResponseBytes` the library accepts: 1 GiB. Larger buffers approach the limits of
 * V8 and of zlib's one-shot output (a 2 GiB inflate aborts the process), and no Web API answer is
 * that large.
 */
export const MAX_RESPONSE_BYTES_LIMIT = 2 ** 30;

/** Whether `value` is a usable `maxResponseBytes`: a whole number from 1 to {@link MAX_RESPONSE_BYTES_LIMIT}. */
export function isResponseByteLimit(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_RESPONSE_BYTES_LIMIT;
}
