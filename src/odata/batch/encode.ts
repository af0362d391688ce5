/**
 * `$batch` request encoding: multipart/mixed with change sets and Content-ID references, framed as
 * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
 * shows (OData v4 Part 1 §11.7, RFC 2046 §5.1). Our own small module, so that every byte on the wire
 * is under test.
 */
import { randomUUID } from 'node:crypto';
import { headerValue } from '../../net/headers';
import { isHeaderName, isHeaderValue } from '../../net/headerSyntax';
import { isHttpMethod } from '../../net/method';
import { serializeJson } from '../../net/json';
import { invalidArgument } from '../fail';
import { checkUrlLength, MAX_BATCH_URL_LENGTH } from '../url';
import {
  countOperations,
  isChangeSet,
  MAX_BATCH_OPERATIONS,
  type BatchItem,
  type BatchOperation,
  type BatchOperationSlot,
  type EncodeBatchOptions,
  type EncodedBatch,
  type EncodedBatchBody,
} from './types';

/** RFC 2046 §5.1.1 bchars, without the space (we never quote-dependent boundaries). */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/;
/** A part's URL goes into a request line: printable ASCII without spaces (it must already be encoded). */
const URL_CHARS = /^[\x21-\x7e]+$/;
const CONTENT_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const REFERENCE = /^\$([A-Za-z0-9_.-]+)(?=$|[/?(])/;

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
  const refs: string[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return refs;
  // Indexed loops here and below, not for-of: these run for every operation, mostly before V8 has
  // optimised them, and an unoptimised for-of allocates an iterator each time.
  const keys = Object.keys(body);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    if (!key.endsWith('@odata.bind')) continue;
    const value = (body as Record<string, unknown>)[key];
    if (!Array.isArray(value)) {
      const ref = referenceIn(value, isReference);
      if (ref !== undefined) refs.push(ref);
      continue;
    }
    for (let v = 0; v < value.length; v++) {
      const ref = referenceIn(value[v], isReference);
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
  if (!isHttpMethod(op.method)) {
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
  // A request inside $batch may have a URL up to 64 KB (compose-http-requests-handle-errors.md).
  if (root.origin.length + target.length > MAX_BATCH_URL_LENGTH) checkUrlLength(root.origin + target, `${where}.url`, MAX_BATCH_URL_LENGTH);
  if (/\$batch(?=$|[/?])/.test(target)) throw invalidArgument(`${where}.url`, 'no nested $batch (Dataverse refuses batches inside batches)', op.url);

  const headers: string[] = [];
  const given = op.headers ?? NO_HEADERS;
  if (typeof given !== 'object' || given === null) throw invalidArgument(`${where}.headers`, 'an object of header names to values', given);
  const entries = given === NO_HEADERS ? NO_ENTRIES : Object.entries(given);
  for (let e = 0; e < entries.length; e++) {
    const name = entries[e][0];
    const value = entries[e][1];
    if (!isHeaderName(name)) throw invalidArgument(`${where}.headers`, 'valid header names', name);
    if (!isHeaderValue(value)) {
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
      body = serializeJson(op.body, `${where}.body`);
    }
    // The documented change-set request (see the page cited at the top) writes `type=entry` on every JSON part.
    if (given === NO_HEADERS || headerValue(given, 'content-type') === undefined) headers.unshift('Content-Type: application/json; type=entry');
  }
  return { requestLine: `${op.method} ${target} HTTP/1.1`, headers, body };
}

function frameOperation(prepared: { requestLine: string; headers: string[]; body?: string }, contentId: string | undefined): string {
  // One string built by concatenation (V8 ropes), not an array of lines joined: this runs for every operation.
  let text = contentId === undefined ? PART_HEAD : `${PART_HEAD}Content-ID: ${contentId}\r\n`;
  text += `\r\n${prepared.requestLine}\r\n`;
  const headers = prepared.headers;
  for (let h = 0; h < headers.length; h++) text += `${headers[h]}\r\n`;
  return `${text}\r\n${prepared.body ?? ''}`;
}

/** The MIME headers every operation's part starts with. */
const PART_HEAD = 'Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n';

/** The entries of {@link NO_HEADERS}. */
const NO_ENTRIES: ReadonlyArray<[string, string]> = Object.freeze([]) as ReadonlyArray<[string, string]>;

/** `op.headers` when the operation has none: nothing to check or copy. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The caller's boundary, checked, or a fresh random one. A boundary must not occur in the content
 * it encloses (RFC 2046 §5.1.1): a chosen one is looked for in the framed content (`framed`, built only then); a fresh
 * one only in what the caller wrote (`written`: request lines, headers, bodies, Content-IDs), since
 * the framing around it cannot contain a random UUID that did not exist when it was written. A random
 * UUID never occurs in practice; the check keeps it so without flattening every framed part.
 */
function pickBoundary(chosen: unknown, fresh: () => string, framed: () => readonly string[], written: readonly string[], argument: string): string {
  const occursIn = (pieces: readonly string[], boundary: string): boolean => {
    const delimiter = `--${boundary}`;
    for (let p = 0; p < pieces.length; p++) if (pieces[p].includes(delimiter)) return true;
    return false;
  };
  if (chosen === undefined) {
    let boundary: string;
    do boundary = fresh();
    while (occursIn(written, boundary));
    return boundary;
  }
  if (typeof chosen !== 'string' || !BOUNDARY.test(chosen)) {
    throw invalidArgument(argument, "a multipart boundary of 1 to 70 letters, digits or '()+_,-./:=?", chosen);
  }
  // The framed pieces joined as the body joins them, so that an occurrence is found wherever it is.
  if (framed().join('\r\n').includes(`--${chosen}`)) throw invalidArgument(argument, 'a boundary that does not occur in the content it encloses', chosen);
  return chosen;
}

/** The text of an operation its caller wrote, for {@link pickBoundary}. */
function writtenText(prepared: { requestLine: string; headers: string[]; body?: string }, contentId: string | undefined, into: string[]): void {
  into.push(prepared.requestLine);
  const headers = prepared.headers;
  for (let h = 0; h < headers.length; h++) into.push(headers[h]);
  if (prepared.body !== undefined) into.push(prepared.body);
  if (contentId !== undefined) into.push(contentId);
}

/** What {@link encodeBatch} writes, with the body as the pieces it is written in. */
function encodePieces(items: readonly BatchItem[], options: EncodeBatchOptions): Omit<EncodedBatch, 'body'> & { pieces: string[] } {
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

  /** The framed items, each as the pieces it is written in (a change set: one piece per operation). */
  const chunks: string[][] = [];
  /** Everything the caller wrote, for the batch boundary (see pickBoundary). */
  const written: string[] = [];
  const slots: BatchOperationSlot[] = [];
  let changeSetIndex = 0;
  items.forEach((item, i) => {
    if (isChangeSet(item)) {
      const where = `operations[${i}].changeSet`;
      if (!Array.isArray(item.changeSet) || item.changeSet.length === 0) throw invalidArgument(where, 'a non-empty array of operations', item.changeSet);
      const csIndex = changeSetIndex++;
      const defined = new Set<string>();
      const writtenHere: string[] = [];
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
        for (let r = 0; r < refs.length; r++) {
          const ref = refs[r];
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
        writtenText(prepared, contentId, writtenHere);
        return frameOperation(prepared, contentId);
      });
      for (let w = 0; w < writtenHere.length; w++) written.push(writtenHere[w]);
      const csBoundary = pickBoundary(
        options.changeSetBoundary ? options.changeSetBoundary(csIndex) : undefined,
        () => `changeset_${randomUUID()}`,
        () => parts,
        writtenHere,
        `changeSetBoundary(${csIndex})`,
      );
      // The empty line after the close delimiter matches the documented request.
      const pieces = [`Content-Type: multipart/mixed; boundary="${csBoundary}"\r\n\r\n`];
      for (let p = 0; p < parts.length; p++) pieces.push(`--${csBoundary}\r\n${parts[p]}\r\n`);
      pieces.push(`--${csBoundary}--\r\n\r\n`);
      chunks.push(pieces);
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
      writtenText(prepared, item.contentId, written);
      chunks.push([`${frameOperation(prepared, item.contentId)}\r\n`]);
    }
  });

  const boundary = pickBoundary(options.boundary, () => `batch_${randomUUID()}`, () => chunks.map((pieces) => pieces.join('')), written, 'boundary');
  // The body as the pieces it is written in, never one string: see encodeBatchBody.
  const pieces: string[] = [];
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c];
    pieces.push(`--${boundary}\r\n${chunk[0]}`);
    for (let p = 1; p < chunk.length; p++) pieces.push(chunk[p]);
  }
  pieces.push(`--${boundary}--\r\n`);
  const contentType = `multipart/mixed; boundary="${boundary}"`;
  const headers: Record<string, string> = { 'Content-Type': contentType };
  if (options.continueOnError) headers.Prefer = 'odata.continue-on-error';
  return { pieces, contentType, headers, boundary, operations: slots };
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
  const { pieces, ...rest } = encodePieces(items, options);
  return { body: pieces.join(''), ...rest };
}

/**
 * {@link encodeBatch} with the body as the client sends it: a string while it is short, its UTF-8
 * bytes once it is long. A string longer than about 64K characters is allocated outside V8's young
 * generation, and node flattens and encodes it once more before the write: for a 1,000-operation body
 * (about 250 KB) that costs about 1 ms here, while writing the pieces into one buffer costs a tenth of
 * it. A short body is cheaper as a string, which node encodes natively as it writes, than as a buffer,
 * whose memory V8 counts against its heap (measured: 1.8 against 2.5 µs per operation for 100).
 */
export function encodeBatchBody(items: readonly BatchItem[], options: EncodeBatchOptions): EncodedBatchBody {
  const { pieces, ...rest } = encodePieces(items, options);
  let chars = 0;
  for (let p = 0; p < pieces.length; p++) chars += pieces[p].length;
  return { body: chars <= MAX_STRING_BODY_CHARS ? pieces.join('') : utf8Bytes(pieces, chars), ...rest };
}

/** The longest body {@link encodeBatchBody} sends as a string: two bytes per character still fit in V8's young generation. */
const MAX_STRING_BODY_CHARS = 60_000;

/**
 * The pieces as UTF-8, in one buffer. They are joined into strings of at most {@link GROUP_CHARS}
 * characters (a join copies each piece once, without flattening it first, and a string that size
 * stays in V8's young generation), and each is written where it fits for sure (UTF-8 takes at most 3
 * bytes per UTF-16 code unit); only a string that might not fit is measured, and the buffer grows
 * when it does not. The buffer starts at one byte per character, which ASCII bodies fill exactly.
 */
function utf8Bytes(pieces: readonly string[], totalChars: number): Buffer {
  let chars = totalChars;
  let buffer = Buffer.allocUnsafe(chars + 256);
  let offset = 0;
  const write = (text: string): void => {
    if (buffer.length - offset < text.length * 3) {
      const needed = Buffer.byteLength(text);
      if (buffer.length - offset < needed) {
        const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, offset + needed + chars));
        buffer.copy(grown, 0, 0, offset);
        buffer = grown;
      }
    }
    offset += buffer.write(text, offset, 'utf8');
  };
  let from = 0;
  let groupChars = 0;
  for (let p = 0; p < pieces.length; p++) {
    const length = pieces[p].length;
    if (groupChars > 0 && groupChars + length > GROUP_CHARS) {
      chars -= groupChars;
      write(pieces.slice(from, p).join(''));
      from = p;
      groupChars = 0;
    }
    groupChars += length;
  }
  chars -= groupChars;
  write(pieces.slice(from).join(''));
  return buffer.subarray(0, offset);
}

/** How many characters {@link utf8Bytes} joins into one string before writing it. */
const GROUP_CHARS = 32 * 1024;

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

