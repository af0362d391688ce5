/**
 * `$batch` encoding and decoding: multipart/mixed with change sets and Content-ID references,
 * framed as dp/webapi/execute-batch-operations-using-web-api.md shows (OData v4 Part 1 §11.7,
 * RFC 2046 §5.1). Our own small module, so that every byte on the wire is under test.
 */
import { randomUUID } from 'node:crypto';
import { DynamicsError, ErrorCode } from '../errors';
import { invalidArgument, malformedResponse } from './fail';

/** HTTP methods Dataverse accepts inside a batch. */
export type BatchMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** One request inside a `$batch`. */
export interface BatchOperation {
  method: BatchMethod;
  /**
   * The URL relative to the API root, already encoded (`entityPath()` + `buildQueryString()`):
   * `accounts(00000000-…)`, `tasks?$select=subject`, or a Content-ID reference such as `$1/Account_Tasks/$ref`.
   * An absolute URL under the API root (e.g. an `@odata.nextLink`) is accepted too.
   */
  url: string;
  /** Request headers for this operation (`If-Match`, `Prefer`, `MSCRM.*`, …). Default: none. */
  headers?: Readonly<Record<string, string>>;
  /** The body: serialised as JSON unless it is a string (sent verbatim). Default: no body. */
  body?: unknown;
  /**
   * `Content-ID` of an operation in a change set, so later operations of the same change set can use
   * `$<id>` in their URL or in `@odata.bind`. Default: assigned (1, 2, …, skipping ids you chose).
   */
  contentId?: string;
}

/** Operations that succeed or fail together (a change set). GET is not allowed inside. */
export interface BatchChangeSet {
  changeSet: readonly BatchOperation[];
}

/** What a `$batch` holds: single operations and change sets, in order. */
export type BatchItem = BatchOperation | BatchChangeSet;

/** Options for {@link encodeBatch}. */
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

/** What {@link encodeBatch} returns. */
export interface EncodedBatch {
  /** The request body (CRLF line breaks). Send it as UTF-8. */
  body: string;
  /** `multipart/mixed; boundary="batch_…"`. */
  contentType: string;
  /** Headers to send with `POST $batch`: `Content-Type`, and `Prefer` when `continueOnError` is set. */
  headers: Record<string, string>;
  /** The batch boundary. */
  boundary: string;
  /** One slot per operation in request order, for {@link matchBatchResponses}. */
  operations: BatchOperationSlot[];
}

/** Dataverse's limit on operations per `$batch` (execute-batch-operations-using-web-api.md). */
export const MAX_BATCH_OPERATIONS = 1000;

const METHODS = new Set<string>(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** RFC 2046 §5.1.1 bchars, without the space (we never quote-dependent boundaries). */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/;
/** A part's URL goes into a request line: printable ASCII without spaces (it must already be encoded). */
const URL_CHARS = /^[\x21-\x7e]+$/;
const CONTENT_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const REFERENCE = /^\$([A-Za-z0-9_.-]+)(?=$|[/?(])/;

function isChangeSet(item: unknown): item is BatchChangeSet {
  return typeof item === 'object' && item !== null && 'changeSet' in item;
}

function findHeader(headers: Readonly<Record<string, string>> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) return headers[key];
  return undefined;
}

/** `/api/data/v9.2/` from the API root URL. */
function rootPath(apiRootUrl: string): { origin: string; path: string } {
  let url: URL;
  try {
    url = new URL(apiRootUrl);
  } catch {
    throw invalidArgument('apiRootUrl', 'an absolute URL such as "https://org.crm.dynamics.com/api/data/v9.2/"', apiRootUrl);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalidArgument('apiRootUrl', 'an http(s) URL', apiRootUrl);
  }
  return { origin: url.origin, path: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/` };
}

/** The Content-ID a URL starts with (`$1/…`), if any. `$metadata` and friends are not references. */
function referenceIn(url: unknown, isReference: (name: string) => boolean): string | undefined {
  const m = typeof url === 'string' ? REFERENCE.exec(url) : null;
  return m && isReference(m[1]) ? m[1] : undefined;
}

/** References to Content-IDs in `@odata.bind` values (a string, or an array of strings). */
function bindReferences(body: unknown, isReference: (name: string) => boolean): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  const refs: string[] = [];
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!key.endsWith('@odata.bind')) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      const ref = referenceIn(v, isReference);
      if (ref !== undefined) refs.push(ref);
    }
  }
  return refs;
}

function prepareOperation(
  op: BatchOperation,
  where: string,
  root: { origin: string; path: string },
  isReference: (name: string) => boolean,
): { requestLine: string; headers: string[]; body?: string } {
  if (op === null || typeof op !== 'object') throw invalidArgument(where, 'an operation { method, url, headers?, body?, contentId? }', op);
  if (typeof op.method !== 'string' || !METHODS.has(op.method)) {
    throw invalidArgument(`${where}.method`, 'one of GET, POST, PATCH, PUT, DELETE', op.method);
  }
  if (typeof op.url !== 'string' || op.url === '') throw invalidArgument(`${where}.url`, 'a URL relative to the API root, such as "accounts"', op.url);
  let target: string;
  if (/^https?:\/\//i.test(op.url)) {
    const prefix = root.origin + root.path;
    if (!op.url.startsWith(prefix)) {
      throw invalidArgument(`${where}.url`, `a URL relative to the API root, or an absolute URL starting with ${prefix}`, op.url);
    }
    target = root.path + op.url.slice(prefix.length);
  } else if (op.url.startsWith('/')) {
    throw invalidArgument(`${where}.url`, 'a URL relative to the API root, without a leading "/" (e.g. "accounts")', op.url);
  } else if (referenceIn(op.url, isReference) !== undefined) {
    // `$1/…` is resolved by the server against the operation with Content-ID 1.
    target = op.url;
  } else {
    target = root.path + op.url;
  }
  if (!URL_CHARS.test(target)) {
    throw invalidArgument(`${where}.url`, 'an encoded URL without spaces, line breaks or non-ASCII characters (build it with entityPath and buildQueryString)', op.url);
  }
  if (/\$batch(?=$|[/?])/.test(target)) throw invalidArgument(`${where}.url`, 'no nested $batch (Dataverse refuses batches inside batches)', op.url);

  const headers: string[] = [];
  const given = op.headers ?? {};
  if (typeof given !== 'object' || given === null) throw invalidArgument(`${where}.headers`, 'an object of header names to values', given);
  for (const [name, value] of Object.entries(given)) {
    if (!HEADER_NAME.test(name)) throw invalidArgument(`${where}.headers`, 'valid header names', name);
    if (typeof value !== 'string' || BAD_HEADER_VALUE.test(value)) {
      throw invalidArgument(`${where}.headers.${name}`, 'a string without line breaks or control characters', value);
    }
    if (name.toLowerCase() === 'content-id') {
      throw invalidArgument(`${where}.headers.${name}`, 'no Content-ID header (use the contentId field)', value);
    }
    headers.push(`${name}: ${value}`);
  }
  let body: string | undefined;
  if (op.body !== undefined) {
    if (op.method === 'GET' || op.method === 'DELETE') throw invalidArgument(`${where}.body`, `no body on a ${op.method}`, op.body);
    if (typeof op.body === 'string') body = op.body;
    else {
      try {
        body = JSON.stringify(op.body);
      } catch (cause) {
        throw new DynamicsError(`${where}.body: expected a JSON-serialisable value (${(cause as Error).message})`, {
          code: ErrorCode.invalidArgument,
          cause,
        });
      }
      if (body === undefined) throw invalidArgument(`${where}.body`, 'a JSON-serialisable value', op.body);
    }
    // The documented parts carry `type=entry` (execute-batch-operations-using-web-api.md).
    if (findHeader(given, 'content-type') === undefined) headers.unshift('Content-Type: application/json; type=entry');
  }
  return { requestLine: `${op.method} ${target} HTTP/1.1`, headers, body };
}

function frameOperation(prepared: { requestLine: string; headers: string[]; body?: string }, contentId: string | undefined): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (contentId !== undefined) lines.push(`Content-ID: ${contentId}`);
  lines.push('', prepared.requestLine, ...prepared.headers, '', prepared.body ?? '');
  return lines.join('\r\n');
}

/**
 * The caller's boundary, checked, or a fresh random one. A boundary must not occur in the content
 * it encloses (RFC 2046 §5.1.1); a random UUID never does in practice, but we check anyway.
 */
function pickBoundary(chosen: unknown, fresh: () => string, content: string, argument: string): string {
  if (chosen === undefined) {
    let boundary: string;
    do boundary = fresh();
    while (content.includes(`--${boundary}`));
    return boundary;
  }
  if (typeof chosen !== 'string' || !BOUNDARY.test(chosen)) {
    throw invalidArgument(argument, "a multipart boundary of 1 to 70 letters, digits or '()+_,-./:=?", chosen);
  }
  if (content.includes(`--${chosen}`)) throw invalidArgument(argument, 'a boundary that does not occur in the content it encloses', chosen);
  return chosen;
}

/**
 * Encodes a `$batch` request body: single operations and change sets, in order.
 *
 * Each part is `Content-Type: application/http` + `Content-Transfer-Encoding: binary`, the request
 * line uses the absolute path under the API root (`POST /api/data/v9.2/tasks HTTP/1.1`), JSON
 * bodies carry `Content-Type: application/json; type=entry`, and every change-set operation has a
 * `Content-ID`, exactly as the documented change-set request.
 *
 * @throws DynamicsError `invalid_argument` for: no operations; more than 1000; a GET, an empty or a
 *   nested change set; a duplicate Content-ID; a `$n` reference (URL or `@odata.bind`) to a
 *   Content-ID not defined earlier in the same change set; a URL with spaces or outside the API root;
 *   a header with a line break; a body on GET/DELETE.
 * @example encodeBatch([{ changeSet: [{ method: 'POST', url: 'accounts', body: { name: 'A' } }] }], { apiRootUrl })
 */
export function encodeBatch(items: readonly BatchItem[], options: EncodeBatchOptions): EncodedBatch {
  if (!Array.isArray(items) || items.length === 0) throw invalidArgument('operations', 'a non-empty array of operations and change sets', items);
  if (options === null || typeof options !== 'object') throw invalidArgument('options', 'an object with apiRootUrl', options);
  const root = rootPath(options.apiRootUrl);
  const total = countOperations(items);
  if (total > MAX_BATCH_OPERATIONS) {
    throw invalidArgument('operations', `at most ${MAX_BATCH_OPERATIONS} operations per $batch (split them with splitOperations)`, `${total} operations`);
  }

  // Content-IDs must be unique in the batch; collect the chosen ones before assigning the rest.
  const used = new Set<string>();
  items.forEach((item, i) => {
    const ops = isChangeSet(item) ? item.changeSet : [item];
    if (!Array.isArray(ops)) return;
    ops.forEach((op, j) => {
      const id = op?.contentId;
      if (id === undefined) return;
      const where = isChangeSet(item) ? `operations[${i}].changeSet[${j}].contentId` : `operations[${i}].contentId`;
      if (typeof id !== 'string' || !CONTENT_ID.test(id)) throw invalidArgument(where, 'letters, digits, "_", "." or "-" (1-64)', id);
      if (used.has(id)) throw invalidArgument(where, 'a Content-ID unique within the batch', id);
      used.add(id);
    });
  });
  // Numeric `$n` is always a reference; other names only when some operation carries that Content-ID.
  const isReference = (name: string): boolean => /^\d+$/.test(name) || used.has(name);
  let nextId = 1;
  const assignId = (): string => {
    while (used.has(String(nextId))) nextId++;
    const id = String(nextId++);
    used.add(id);
    return id;
  };

  const chunks: string[] = [];
  const slots: BatchOperationSlot[] = [];
  let changeSetIndex = 0;
  items.forEach((item, i) => {
    if (isChangeSet(item)) {
      const where = `operations[${i}].changeSet`;
      if (!Array.isArray(item.changeSet) || item.changeSet.length === 0) throw invalidArgument(where, 'a non-empty array of operations', item.changeSet);
      const csIndex = changeSetIndex++;
      const defined = new Set<string>();
      const parts = item.changeSet.map((op, j) => {
        const at = `${where}[${j}]`;
        if (isChangeSet(op)) throw invalidArgument(at, 'an operation (change sets cannot be nested)', op);
        const prepared = prepareOperation(op, at, root, isReference);
        if (op.method === 'GET') {
          throw invalidArgument(`${at}.method`, 'POST, PATCH, PUT or DELETE (a change set cannot contain GET; put reads directly in the batch)', op.method);
        }
        const refs = bindReferences(op.body, isReference);
        const urlRef = referenceIn(op.url, isReference);
        if (urlRef !== undefined) refs.push(urlRef);
        for (const ref of refs) {
          if (!defined.has(ref)) {
            throw invalidArgument(
              at,
              `references only to Content-IDs defined earlier in the same change set (Dataverse answers 400 to a forward reference); "$${ref}" is not`,
              op.url,
            );
          }
        }
        const contentId = op.contentId ?? assignId();
        defined.add(contentId);
        slots.push({ index: slots.length, changeSetIndex: csIndex, contentId, method: op.method });
        return frameOperation(prepared, contentId);
      });
      const csBoundary = pickBoundary(
        options.changeSetBoundary ? options.changeSetBoundary(csIndex) : undefined,
        () => `changeset_${randomUUID()}`,
        parts.join(''),
        `changeSetBoundary(${csIndex})`,
      );
      // The empty line after the close delimiter matches the documented request.
      const text =
        `Content-Type: multipart/mixed; boundary="${csBoundary}"\r\n\r\n` +
        parts.map((p) => `--${csBoundary}\r\n${p}\r\n`).join('') +
        `--${csBoundary}--\r\n\r\n`;
      chunks.push(text);
    } else {
      const at = `operations[${i}]`;
      const prepared = prepareOperation(item, at, root, isReference);
      const refs = bindReferences(item.body, isReference);
      const urlRef = referenceIn(item.url, isReference);
      if (urlRef !== undefined) refs.push(urlRef);
      if (refs.length > 0) {
        throw invalidArgument(at, `Content-ID references ("$${refs[0]}") only inside a change set, after the operation they name`, item.url);
      }
      slots.push({ index: slots.length, method: item.method, ...(item.contentId === undefined ? {} : { contentId: item.contentId }) });
      chunks.push(`${frameOperation(prepared, item.contentId)}\r\n`);
    }
  });

  const boundary = pickBoundary(options.boundary, () => `batch_${randomUUID()}`, chunks.join(''), 'boundary');
  const body = chunks.map((c) => `--${boundary}\r\n${c}`).join('') + `--${boundary}--\r\n`;
  const contentType = `multipart/mixed; boundary="${boundary}"`;
  const headers: Record<string, string> = { 'Content-Type': contentType };
  if (options.continueOnError) headers.Prefer = 'odata.continue-on-error';
  return { body, contentType, headers, boundary, operations: slots };
}

function countOperations(items: readonly BatchItem[]): number {
  let n = 0;
  for (const item of items) n += isChangeSet(item) ? (Array.isArray(item.changeSet) ? item.changeSet.length : 0) : 1;
  return n;
}

/**
 * Splits operations into `$batch`es of at most `maxPerBatch` operations, in order. A change set is
 * never split across batches (it is one transaction).
 *
 * @param maxPerBatch - default 1000 (Dataverse's limit).
 * @throws DynamicsError `invalid_argument` when a change set alone exceeds `maxPerBatch`.
 */
export function splitOperations(items: readonly BatchItem[], maxPerBatch: number = MAX_BATCH_OPERATIONS): BatchItem[][] {
  if (!Number.isInteger(maxPerBatch) || maxPerBatch < 1 || maxPerBatch > MAX_BATCH_OPERATIONS) {
    throw invalidArgument('maxPerBatch', `a whole number from 1 to ${MAX_BATCH_OPERATIONS}`, maxPerBatch);
  }
  if (!Array.isArray(items)) throw invalidArgument('operations', 'an array of operations and change sets', items);
  const batches: BatchItem[][] = [];
  let current: BatchItem[] = [];
  let size = 0;
  items.forEach((item, i) => {
    const n = isChangeSet(item) ? (Array.isArray(item.changeSet) ? item.changeSet.length : 0) : 1;
    if (n > maxPerBatch) {
      throw invalidArgument(
        `operations[${i}].changeSet`,
        `at most ${maxPerBatch} operations in one change set (a change set is one transaction and cannot be split)`,
        `${n} operations`,
      );
    }
    if (size + n > maxPerBatch && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += n;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** One response inside a `$batch` response. */
export interface BatchPartResponse {
  status: number;
  statusText: string;
  /** Response headers with lower-cased names. */
  headers: Record<string, string>;
  /** Parsed JSON when the part is JSON, the text otherwise, undefined when empty. */
  body: unknown;
  /** The part's Content-ID, when it had one. */
  contentId?: string;
  /** Index of the change-set response this part came from (0 for the first change set in the response). */
  changeSetIndex?: number;
}

/** Reads the `boundary` parameter of a multipart Content-Type (quoted or not). */
export function multipartBoundary(contentType: string | undefined | null): string | undefined {
  if (typeof contentType !== 'string' || !/^\s*multipart\/mixed\b/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const value = m ? (m[1] ?? m[2]) : undefined;
  return value && value.length > 0 && value.length <= 200 ? value : undefined;
}

/** Largest body we try to decode (Dataverse's own request limit is far smaller per part). */
const MAX_RESPONSE_CHARS = 512 * 1024 * 1024;

interface RawPart {
  headers: Record<string, string>;
  content: string;
}

/**
 * Splits a multipart body into its parts. A delimiter is `--boundary` at the start of a line,
 * followed by `--` (the close delimiter), optional spaces, and a line end (or the end of the body
 * after the close delimiter). The line break before a delimiter belongs to it (RFC 2046 §5.1.1).
 * Every loop advances, so garbage can only end in a thrown error.
 */
function splitParts(text: string, boundary: string, context: string): string[] {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  // Find the first delimiter at a line start (anything before it is preamble).
  let pos = text.startsWith(delimiter) ? 0 : -1;
  if (pos < 0) {
    const found = text.indexOf(`\n${delimiter}`);
    if (found < 0) throw malformedResponse(`${context}: no part starts with "${delimiter}"`);
    pos = found + 1;
  }
  for (;;) {
    let after = pos + delimiter.length;
    const closing = text.startsWith('--', after);
    if (closing) after += 2;
    while (text[after] === ' ' || text[after] === '\t') after++;
    if (closing) return parts;
    if (text[after] === '\r') after++;
    if (text[after] !== '\n') {
      throw malformedResponse(`${context}: the delimiter "${delimiter}" is not followed by a line break${after >= text.length ? ' (the body is truncated)' : ''}`);
    }
    const start = after + 1;
    // The next delimiter at a line start, skipping look-alikes such as a longer boundary.
    let search = start - 1;
    let next = -1;
    for (;;) {
      const found = text.indexOf(`\n${delimiter}`, search);
      if (found < 0) break;
      const tail = text.slice(found + 1 + delimiter.length, found + 1 + delimiter.length + 2);
      if (tail === '--' || tail === '' || /^[ \t\r\n]/.test(tail)) {
        next = found;
        break;
      }
      search = found + 1;
    }
    if (next < 0) throw malformedResponse(`${context}: the body ends before the closing delimiter "${delimiter}--" (truncated)`);
    const end = next > start && text[next - 1] === '\r' ? next - 1 : next;
    parts.push(text.slice(start, Math.max(start, end)));
    pos = next + 1;
  }
}

/** Splits header lines from the rest at the first empty line. Without an empty line, all is headers. */
function splitHeaders(text: string, context: string): { headers: Record<string, string>; rest: string } {
  const m = /\r?\n\r?\n/.exec(text);
  let head: string;
  let rest: string;
  if (/^\r?\n/.test(text)) {
    head = '';
    rest = text.replace(/^\r?\n/, '');
  } else if (m) {
    head = text.slice(0, m.index);
    rest = text.slice(m.index + m[0].length);
  } else {
    head = text;
    rest = '';
  }
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0 || !HEADER_NAME.test(line.slice(0, colon).trim())) {
      throw malformedResponse(`${context}: bad header line ${JSON.stringify(line.slice(0, 100))}`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { headers, rest };
}

function isJsonType(contentType: string | undefined): boolean {
  return typeof contentType === 'string' && /^\s*application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType);
}

function decodeHttpPart(raw: RawPart, context: string, changeSetIndex: number | undefined): BatchPartResponse {
  const ct = raw.headers['content-type'];
  if (ct !== undefined && !/^\s*application\/http\b/i.test(ct)) {
    throw malformedResponse(`${context}: expected Content-Type application/http, got ${JSON.stringify(ct.slice(0, 100))}`);
  }
  const lineEnd = /\r?\n/.exec(raw.content);
  const statusLine = (lineEnd ? raw.content.slice(0, lineEnd.index) : raw.content).trim();
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$/.exec(statusLine);
  if (!m) throw malformedResponse(`${context}: bad status line ${JSON.stringify(statusLine.slice(0, 100))}`);
  const { headers, rest } = splitHeaders(lineEnd ? raw.content.slice(lineEnd.index + lineEnd[0].length) : '', context);
  let body: unknown;
  const text = rest.replace(/(\r?\n)+$/, '');
  if (text.trim() !== '') {
    if (isJsonType(headers['content-type']) || (headers['content-type'] === undefined && /^\s*[{[]/.test(text))) {
      try {
        body = JSON.parse(text);
      } catch (cause) {
        throw malformedResponse(`${context}: the JSON body does not parse (${(cause as Error).message})`, { cause });
      }
    } else body = text;
  }
  const contentId = raw.headers['content-id'] ?? headers['content-id'];
  const part: BatchPartResponse = { status: Number(m[1]), statusText: (m[2] ?? '').trim(), headers, body };
  if (contentId !== undefined) part.contentId = contentId;
  if (changeSetIndex !== undefined) part.changeSetIndex = changeSetIndex;
  return part;
}

/**
 * Decodes a `$batch` response body into one entry per answered operation, in order, including the
 * parts of change-set responses (with `changeSetIndex`). Accepts CRLF or bare LF line breaks and a
 * missing final line break. When `contentType` carries no boundary (the documented examples omit
 * the header), the boundary is taken from the first `--` line.
 *
 * @throws DynamicsError `malformed_response` (ErrorCode.malformedResponse) for a truncated or garbled
 *   body, never anything else.
 */
export function decodeBatchResponse(body: string | Uint8Array, contentType: string | undefined | null): BatchPartResponse[] {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array) text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  else throw malformedResponse('$batch response: expected a text body');
  if (text.length > MAX_RESPONSE_CHARS) throw malformedResponse('$batch response: the body is too large to decode');
  if (typeof contentType === 'string' && isJsonType(contentType)) {
    throw malformedResponse('$batch response: expected multipart/mixed, got a JSON body (an error for the whole batch?)');
  }
  let boundary = multipartBoundary(contentType ?? undefined);
  if (boundary === undefined) {
    if (typeof contentType === 'string' && contentType.trim() !== '' && !/^\s*multipart\/mixed\b/i.test(contentType)) {
      throw malformedResponse(`$batch response: expected multipart/mixed, got ${JSON.stringify(contentType.slice(0, 100))}`);
    }
    const first = /^--([^\r\n]{1,200}?)[ \t]*\r?$/m.exec(text);
    if (!first) throw malformedResponse('$batch response: no boundary in Content-Type and no "--boundary" line in the body');
    boundary = first[1];
  }
  const results: BatchPartResponse[] = [];
  let changeSetIndex = 0;
  splitParts(text, boundary, '$batch response').forEach((partText, i) => {
    const context = `$batch response part ${i + 1}`;
    const { headers, rest } = splitHeaders(partText, context);
    const inner = multipartBoundary(headers['content-type']);
    if (inner !== undefined) {
      const cs = changeSetIndex++;
      splitParts(rest, inner, `${context} (change set)`).forEach((subText, j) => {
        const subContext = `${context} (change set part ${j + 1})`;
        const sub = splitHeaders(subText, subContext);
        if (multipartBoundary(sub.headers['content-type']) !== undefined) throw malformedResponse(`${subContext}: nested change sets`);
        results.push(decodeHttpPart({ headers: sub.headers, content: sub.rest }, subContext, cs));
      });
    } else if (/^\s*multipart\//i.test(headers['content-type'] ?? '')) {
      throw malformedResponse(`${context}: a multipart part without a boundary`);
    } else {
      results.push(decodeHttpPart({ headers, content: rest }, context, undefined));
    }
  });
  return results;
}

// ---------------------------------------------------------------------------------------------
// Matching responses to operations

/**
 * What happened to one operation of a `$batch`:
 * - `succeeded`: its part answered 1xx–3xx;
 * - `failed`: its part answered 4xx/5xx (for a failed change set: the operation the error names, or
 *   every operation when the error names none);
 * - `rolledBack`: its change set failed because of another operation, so nothing it did was kept;
 * - `notExecuted`: the batch stopped at an earlier failure (no `continueOnError`), so no part answered it.
 */
export type BatchOutcome = 'succeeded' | 'failed' | 'rolledBack' | 'notExecuted';

/** One operation's result, in request order. */
export interface BatchOperationResult extends BatchOperationSlot {
  outcome: BatchOutcome;
  /** The response part that answered it (for `rolledBack`: the change set's error). Undefined when `notExecuted`. */
  response?: BatchPartResponse;
}

/**
 * Pairs the decoded response parts with the encoded operations, in order. A successful change set
 * answers with one part per operation (matched by Content-ID); a failed change set answers with a
 * single error part in its place (OData v4 Part 1 §11.7.4), which is reported as `failed` for the
 * operation it names by Content-ID and `rolledBack` for the others; operations after the point where
 * the batch stopped are `notExecuted`.
 *
 * @throws DynamicsError `malformed_response` when the parts cannot belong to these operations (more
 *   parts than operations, a change-set response where a single operation was sent, unknown Content-IDs).
 */
export function matchBatchResponses(
  operations: readonly BatchOperationSlot[],
  parts: readonly BatchPartResponse[],
): BatchOperationResult[] {
  const results: BatchOperationResult[] = [];
  const outcomeOf = (part: BatchPartResponse): BatchOutcome => (part.status >= 400 ? 'failed' : 'succeeded');
  let p = 0;
  let i = 0;
  while (i < operations.length) {
    const slot = operations[i];
    if (slot.changeSetIndex === undefined) {
      const part = parts[p];
      if (part === undefined) results.push({ ...slot, outcome: 'notExecuted' });
      else {
        if (part.changeSetIndex !== undefined) {
          throw malformedResponse(`$batch response: part ${p + 1} is a change-set response, but operation ${i} was sent on its own`);
        }
        results.push({ ...slot, outcome: outcomeOf(part), response: part });
        p++;
      }
      i++;
      continue;
    }
    // The operations of this change set.
    let end = i;
    while (end < operations.length && operations[end].changeSetIndex === slot.changeSetIndex) end++;
    const group = operations.slice(i, end);
    const first = parts[p];
    if (first === undefined) {
      for (const s of group) results.push({ ...s, outcome: 'notExecuted' });
    } else if (first.changeSetIndex === undefined) {
      // The change set failed as a whole: one part answers for all of it.
      p++;
      const named = first.contentId !== undefined && group.some((s) => s.contentId === first.contentId);
      const failed = first.status >= 400;
      for (const s of group) {
        const outcome: BatchOutcome = !failed ? 'succeeded' : !named || s.contentId === first.contentId ? 'failed' : 'rolledBack';
        results.push({ ...s, outcome, response: first });
      }
    } else {
      const csIndex = first.changeSetIndex;
      const answered: BatchPartResponse[] = [];
      while (p < parts.length && parts[p].changeSetIndex === csIndex) answered.push(parts[p++]);
      if (answered.length > group.length) {
        throw malformedResponse(`$batch response: change set ${slot.changeSetIndex} got ${answered.length} answers for ${group.length} operations`);
      }
      const byId = new Map<string, BatchPartResponse>();
      for (const part of answered) if (part.contentId !== undefined) byId.set(part.contentId, part);
      group.forEach((s, k) => {
        // Match by Content-ID (the server may answer a change set in any order), else by position.
        const part = (s.contentId !== undefined ? byId.get(s.contentId) : undefined) ?? (byId.size === 0 ? answered[k] : undefined);
        if (part !== undefined) {
          results.push({ ...s, outcome: outcomeOf(part), response: part });
          return;
        }
        // Some servers wrap a failed change set's single error in a change-set response.
        const failure = answered.find((a) => a.status >= 400);
        if (failure === undefined) {
          throw malformedResponse(`$batch response: no answer for Content-ID ${s.contentId ?? '(none)'} of change set ${slot.changeSetIndex}`);
        }
        results.push({ ...s, outcome: 'rolledBack', response: failure });
      });
    }
    i = end;
  }
  if (p < parts.length) {
    throw malformedResponse(`$batch response: ${parts.length} parts for ${operations.length} operations`);
  }
  return results;
}
