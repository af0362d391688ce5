/**
 * `$batch` response decoding: multipart/mixed with change-set responses (RFC 2046 §5.1, OData v4
 * Part 1 §11.7.4), as
 * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
 * shows them. Part bodies are read with the library's one JSON decoder (src/net/body.ts), so a part
 * parses (or fails) exactly as the same bytes would in a response of their own.
 *
 * The answer is split on its bytes and only each part is decoded to text: a 1,000-operation answer
 * is about 400 KB, and one JavaScript string that large is allocated outside V8's young generation
 * (measured on our machines: about 1.5 ms to decode the whole answer at once, against a tenth of that
 * for its parts one by one). Delimiters and header ends are ASCII line starts, so cutting the bytes
 * there decodes every character exactly as decoding the whole body would.
 */
import { DynamicsError, ErrorCode } from '../../errors';
import { isJsonContentType, MAX_STRING_LENGTH, parseJson } from '../../net/body';
import { foreignText } from '../../net/excerpt';
import { isHeaderName } from '../../net/headerSyntax';
import { malformedResponse } from '../fail';
import type { BatchPartResponse } from './types';

/** Reads the `boundary` parameter of a multipart Content-Type (quoted or not). */
export function multipartBoundary(contentType: string | undefined | null): string | undefined {
  if (typeof contentType !== 'string' || !/^\s*multipart\/mixed\b/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const value = m ? (m[1] ?? m[2]) : undefined;
  return value && value.length > 0 && value.length <= 200 ? value : undefined;
}

/**
 * Largest body we try to decode: the longest JavaScript string (a part of the body must fit in one),
 * capped at 512 MiB (Dataverse's own request limit is far smaller per part).
 */
const MAX_RESPONSE_BYTES = Math.min(512 * 1024 * 1024, MAX_STRING_LENGTH);

/** A part's MIME headers, and its content: `text` from `from` on (read in place, not cut out). */
interface RawPart {
  headers: Record<string, string>;
  text: string;
  from: number;
}

/** A range of the body's bytes, `[start, end)`. */
interface Range {
  start: number;
  end: number;
}

/** How splitting a multipart body ended. */
interface Split {
  /** The parts between delimiters, in order. */
  parts: Range[];
  /** What went wrong, when the body did not end with the close delimiter; undefined when it did. */
  problem?: string;
  /** The bytes after the last delimiter, when the body ends before the next one (a truncated part). */
  tail?: Range;
}

/** Whether `bytes` holds `pattern` at `at` (and not past `end`). */
function bytesAt(bytes: Buffer, at: number, end: number, pattern: Buffer): boolean {
  if (at < 0 || at + pattern.length > end) return false;
  for (let k = 0; k < pattern.length; k++) if (bytes[at + k] !== pattern[k]) return false;
  return true;
}

/**
 * Splits the multipart bytes `[from, to)` into parts. A delimiter is `--boundary` at the start of a
 * line, followed by `--` (the close delimiter), optional spaces, and a line end (or the end of the
 * body after the close delimiter). The line break before a delimiter belongs to it (RFC 2046 §5.1.1).
 * Every loop advances, so garbage can only end the split. A body without any delimiter throws; one
 * that goes wrong later returns the parts read so far and the problem.
 */
function splitParts(bytes: Buffer, from: number, to: number, boundary: string, context: string): Split {
  const delimiterText = `--${boundary}`;
  const delimiter = Buffer.from(delimiterText, 'utf8');
  const needle = Buffer.from(`\n${delimiterText}`, 'utf8');
  const parts: Range[] = [];
  // Finds `needle` in [search, to). The search runs on a view that ends at `to`: on the whole body,
  // the last search of every change set would scan on to the end of the answer.
  const within = to === bytes.length ? bytes : bytes.subarray(0, to);
  const find = (search: number): number => within.indexOf(needle, search);
  // Find the first delimiter at a line start (anything before it is preamble).
  let pos = bytesAt(bytes, from, to, delimiter) ? from : -1;
  if (pos < 0) {
    const found = find(from);
    if (found < 0) throw malformedResponse(`${context}: no part starts with "${delimiterText}"`);
    pos = found + 1;
  }
  for (;;) {
    let after = pos + delimiter.length;
    const closing = after + 1 < to && bytes[after] === DASH && bytes[after + 1] === DASH;
    if (closing) after += 2;
    while (after < to && (bytes[after] === SPACE || bytes[after] === TAB)) after++;
    if (closing) return { parts };
    if (after < to && bytes[after] === CR) after++;
    if (after >= to || bytes[after] !== LF) {
      return { parts, problem: `${context}: the delimiter "${delimiterText}" is not followed by a line break${after >= to ? ' (the body is truncated)' : ''}` };
    }
    const start = after + 1;
    // The next delimiter at a line start, skipping look-alikes such as a longer boundary.
    let search = start - 1;
    let next = -1;
    for (;;) {
      const found = find(search);
      if (found < 0) break;
      // What follows a real delimiter: `--`, a space, a tab, a line break, or the end of the body.
      const end = found + needle.length;
      const c = end < to ? bytes[end] : -1;
      if (end >= to || c === SPACE || c === TAB || c === CR || c === LF || (c === DASH && end + 1 < to && bytes[end + 1] === DASH)) {
        next = found;
        break;
      }
      search = found + 1;
    }
    if (next < 0) return { parts, problem: `${context}: the body ends before the closing delimiter "${delimiterText}--" (truncated)`, tail: { start, end: to } };
    const end = next > start && bytes[next - 1] === CR ? next - 1 : next;
    parts.push({ start, end: Math.max(start, end) });
    pos = next + 1;
  }
}

/**
 * Where the MIME headers of the part `[from, to)` end: just after the first empty line, or `to` when
 * there is none (then all is headers). The same rule as {@link splitHeaders}, read on the bytes, so
 * that only the headers of a part are decoded before its kind is known (a change set is split on its
 * bytes in turn).
 */
function headersEnd(bytes: Buffer, from: number, to: number): number {
  let start = from;
  while (start < to) {
    const newline = bytes.indexOf(LF, start);
    const end = newline < 0 || newline >= to ? to : newline;
    const lineEnd = end > start && bytes[end - 1] === CR ? end - 1 : end;
    const next = end === to ? to : end + 1;
    if (lineEnd === start) return next;
    start = next;
  }
  return to;
}

/**
 * Splits header lines from the rest at the first empty line, reading `text` from `from`. Without an
 * empty line, all is headers. The map has no prototype: a header the server names `constructor` or
 * `__proto__` is stored like any other, never merged with (or into) `Object.prototype`. `lenient`
 * skips lines that are not headers (the cut-off end of a truncated part) instead of refusing them.
 * Returns where the rest starts (`text.length` when there is none), so that callers slice once.
 */
function splitHeaders(text: string, from: number, context: () => string, lenient = false): { headers: Record<string, string>; restStart: number } {
  // One pass over the lines, ending at the first empty one (`\r?\n` alone on its line, including a
  // line break at `from`): this runs twice for every part of every answer.
  const headers = Object.create(null) as Record<string, string>;
  const length = text.length;
  let start = from;
  while (start < length) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? length : newline;
    const lineStart = start;
    const lineEnd = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
    start = newline < 0 ? length : newline + 1;
    // An empty line ends the headers (a lone CR at the very end, with nothing after it, is one too).
    if (lineEnd === lineStart) return { headers, restStart: start };
    // The common line, `Name: value`, read in place: a name of token characters from the line start
    // up to the colon, and a value whose first and last characters after spaces and tabs are
    // printable ASCII, are exactly what `trim()` and the name check would leave of them. Anything
    // else (blank lines, padding, other whitespace, no colon) takes the general reading below.
    let colon = lineStart;
    while (colon < lineEnd && isTokenChar(text.charCodeAt(colon))) colon++;
    if (colon > lineStart && colon < lineEnd && text.charCodeAt(colon) === COLON) {
      let valueStart = colon + 1;
      while (valueStart < lineEnd && isSpaceOrTab(text.charCodeAt(valueStart))) valueStart++;
      let valueEnd = lineEnd;
      while (valueEnd > valueStart && isSpaceOrTab(text.charCodeAt(valueEnd - 1))) valueEnd--;
      if (valueStart === valueEnd || (isPrintable(text.charCodeAt(valueStart)) && isPrintable(text.charCodeAt(valueEnd - 1)))) {
        addHeader(headers, lowerCaseName(text, lineStart, colon), valueStart === valueEnd ? '' : text.slice(valueStart, valueEnd));
        continue;
      }
    }
    const line = text.slice(lineStart, lineEnd);
    if (line.trim() === '') continue;
    const lineColon = line.indexOf(':');
    const rawName = lineColon <= 0 ? '' : line.slice(0, lineColon).trim();
    if (lineColon <= 0 || !isHeaderName(rawName)) {
      if (lenient) continue;
      throw malformedResponse(`${context()}: bad header line ${JSON.stringify(foreignText(line, 100))}`);
    }
    addHeader(headers, rawName.toLowerCase(), line.slice(lineColon + 1).trim());
  }
  return { headers, restStart: length };
}

function addHeader(headers: Record<string, string>, name: string, value: string): void {
  const earlier = headers[name];
  headers[name] = earlier === undefined ? value : `${earlier}, ${value}`;
}

/** An RFC 9110 token character (what {@link isHeaderName} accepts), by character code. */
function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN_CHAR[code] === 1;
}

function isSpaceOrTab(code: number): boolean {
  return code === 32 || code === 9;
}

/** Printable ASCII other than space: never whitespace for `trim()`. */
function isPrintable(code: number): boolean {
  return code > 32 && code < 127;
}

const COLON = 58;

const TOKEN_CHAR: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if (isHeaderName(String.fromCharCode(c))) table[c] = 1;
  return table;
})();

/**
 * `text.slice(start, end).toLowerCase()` for a valid header name. The names of a `$batch` answer are
 * few and repeat in every part: those are compared in place and their lower-cased spelling reused,
 * without cutting the name out of the body (a cache keyed by slices would keep bodies alive).
 */
function lowerCaseName(text: string, start: number, end: number): string {
  const length = end - start;
  for (const [name, lower] of COMMON_NAMES) if (name.length === length && text.startsWith(name, start)) return lower;
  return text.slice(start, end).toLowerCase();
}

/** Header names as Dataverse writes them in every part of a `$batch` answer, with their lower-cased spelling. */
const COMMON_NAMES: ReadonlyArray<readonly [string, string]> = [
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'OData-Version',
  'OData-EntityId',
  'Location',
  'Preference-Applied',
  'ETag',
].map((name) => [name, name.toLowerCase()] as const);

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const DASH = 45;

/** Where `text` (from `from` on) ends without its trailing line breaks (`(\r?\n)+$`): a part's body ends before the delimiter's CRLF. */
function endBeforeTrailingLineBreaks(text: string, from: number): number {
  let end = text.length;
  while (end > from && text.charCodeAt(end - 1) === LF) {
    end--;
    if (end > from && text.charCodeAt(end - 1) === CR) end--;
  }
  return end;
}

/**
 * The reason phrases of RFC 9110 §15 for the statuses a part carries: kept as sent, since none can be
 * a credential. Anything else a server writes there goes through the redactor like other server text.
 */
const REASON_PHRASES: ReadonlySet<string> = new Set([
  '',
  'OK',
  'Created',
  'Accepted',
  'Non-Authoritative Information',
  'No Content',
  'Reset Content',
  'Partial Content',
  'Not Modified',
  'Bad Request',
  'Unauthorized',
  'Forbidden',
  'Not Found',
  'Method Not Allowed',
  'Not Acceptable',
  'Request Timeout',
  'Conflict',
  'Gone',
  'Length Required',
  'Precondition Failed',
  'Content Too Large',
  'Payload Too Large',
  'Unsupported Media Type',
  'Unprocessable Content',
  'Unprocessable Entity',
  'Precondition Required',
  'Too Many Requests',
  'Internal Server Error',
  'Not Implemented',
  'Bad Gateway',
  'Service Unavailable',
  'Gateway Timeout',
]);

/** Whether a Content-Type names JSON, by the same rule as every other response of the library. */
function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && isJsonContentType({ 'content-type': contentType });
}

/** What a status means for a message about a part that could not be read completely. */
function statusNote(status: number): string {
  return status >= 200 && status < 300 ? `the operation succeeded (HTTP ${status}) but ` : `HTTP ${status}: `;
}

/**
 * One `application/http` part. `tolerant` keeps a part whose body does not parse (with
 * {@link BatchPartResponse.malformed}) instead of throwing; `truncated` reads a part the response
 * ends inside: its status line and the headers that arrived, no body.
 */
function decodeHttpPart(raw: RawPart, context: () => string, changeSetIndex: number | undefined, tolerant: boolean, truncated = false): BatchPartResponse | undefined {
  const ct = raw.headers['content-type'];
  if (ct !== undefined && !/^\s*application\/http\b/i.test(ct)) {
    throw malformedResponse(`${context()}: expected Content-Type application/http, got ${JSON.stringify(foreignText(ct, 100))}`);
  }
  const content = raw.text;
  const from = raw.from;
  const newline = content.indexOf('\n', from);
  // A cut inside the status line leaves nothing to read.
  if (truncated && newline < 0) return undefined;
  const lineEnd = newline < 0 ? content.length : newline > from && content.charCodeAt(newline - 1) === CR ? newline - 1 : newline;
  const statusLine = content.slice(from, lineEnd).trim();
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})(?:\s+(.*))?$/.exec(statusLine);
  if (!m) {
    if (truncated) return undefined;
    throw malformedResponse(`${context()}: bad status line ${JSON.stringify(foreignText(statusLine, 100))}`);
  }
  const status = Number(m[1]);
  const { headers, restStart } = splitHeaders(content, newline < 0 ? content.length : newline + 1, context, truncated);
  const contentId = raw.headers['content-id'] ?? headers['content-id'];
  const reason = (m[2] ?? '').trim();
  const part: BatchPartResponse = { status, statusText: REASON_PHRASES.has(reason) ? reason : foreignText(reason, 100), headers, body: undefined };
  if (contentId !== undefined) part.contentId = contentId;
  if (changeSetIndex !== undefined) part.changeSetIndex = changeSetIndex;
  if (truncated) {
    part.malformed = malformedResponse(`${context()}: ${statusNote(status)}the response ends inside this part (truncated), so its body is lost`, { status });
    return part;
  }
  // The body ends before the line breaks that precede the next delimiter; most parts (204) have none.
  const bodyEnd = endBeforeTrailingLineBreaks(content, restStart);
  const text = bodyEnd > restStart ? content.slice(restStart, bodyEnd) : '';
  if (text !== '' && text.trim() !== '') {
    if (isJsonType(headers['content-type']) || (headers['content-type'] === undefined && /^\s*[{[]/.test(text))) {
      const parsed = parseJson(text);
      if (!parsed.ok) {
        // JSON.parse quotes the body in its message: redacted like any server text.
        const reason = foreignText(parsed.error.message);
        const error = malformedResponse(`${context()}: ${statusNote(status)}the JSON body does not parse (${reason})`, { status, cause: new Error(reason) });
        if (!tolerant) throw error;
        part.malformed = error;
        return part;
      }
      part.body = parsed.value;
    } else part.body = text;
  }
  return part;
}

/** A part that could not be read at all: no status, only the reason (its operation's outcome is unknown). */
function unreadable(error: unknown, changeSetIndex?: number): BatchPartResponse {
  const part: BatchPartResponse = {
    status: 0,
    statusText: '',
    headers: Object.create(null) as Record<string, string>,
    body: undefined,
    malformed: error instanceof DynamicsError ? error : malformedResponse(String(error)),
  };
  if (changeSetIndex !== undefined) part.changeSetIndex = changeSetIndex;
  return part;
}

/** What {@link readBatchResponse} read. */
export interface BatchResponseReading {
  /**
   * One entry per part that answered, in order, as {@link decodeBatchResponse} gives them; a part
   * that could not be read completely carries {@link BatchPartResponse.malformed} (status 0 when not
   * even its status line could be read).
   */
  parts: BatchPartResponse[];
  /**
   * Whether the body ended with its close delimiter. When false (a truncated answer), the parts that
   * did not arrive are not known to have been skipped: their outcome is unknown.
   */
  complete: boolean;
}

/** The body as bytes (text is encoded as UTF-8), or the DynamicsError for one too long to read. */
function bodyBytes(body: string | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof body === 'string') bytes = Buffer.from(body, 'utf8');
  else if (body instanceof Uint8Array) bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else throw malformedResponse('$batch response: expected a text body');
  if (bytes.length > MAX_RESPONSE_BYTES) {
    throw new DynamicsError(
      `$batch response: the body (${bytes.length} bytes) is too long to read as text (the longest JavaScript string is ${MAX_STRING_LENGTH} characters); lower maxResponseBytes, or send fewer operations per request`,
      { code: ErrorCode.responseTooLarge },
    );
  }
  return bytes;
}

/** `bytes[from, to)` as text. */
function textOf(bytes: Buffer, from: number, to: number): string {
  return from >= to ? '' : bytes.toString('utf8', from, to);
}

/**
 * The boundary of a body whose Content-Type names none: the first line that starts with `--`,
 * without its trailing spaces (1 to 200 characters).
 */
function boundaryFromBody(bytes: Buffer, from: number): string | undefined {
  let lineStart = from;
  while (lineStart < bytes.length) {
    if (bytes[lineStart] === DASH && bytes[lineStart + 1] === DASH) {
      const newline = bytes.indexOf(LF, lineStart);
      const m = /^--([^\r\n]{1,200}?)[ \t]*\r?$/.exec(textOf(bytes, lineStart, newline < 0 ? bytes.length : newline));
      if (m) return m[1];
    }
    const next = bytes.indexOf(LINE_THEN_DASHES, lineStart);
    if (next < 0) return undefined;
    lineStart = next + 1;
  }
  return undefined;
}

/** A line break followed by `--`: where a line that may be a delimiter starts. */
const LINE_THEN_DASHES = Buffer.from('\n--', 'latin1');

/** The UTF-8 byte order mark some front ends send before a body. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function decode(body: string | Uint8Array, contentType: string | undefined | null, tolerant: boolean): BatchResponseReading {
  const bytes = bodyBytes(body);
  const from = bytesAt(bytes, 0, bytes.length, BOM) ? BOM.length : 0;
  if (typeof contentType === 'string' && isJsonType(contentType)) {
    throw malformedResponse('$batch response: expected multipart/mixed, got a JSON body (an error for the whole batch?)');
  }
  let boundary = multipartBoundary(contentType ?? undefined);
  if (boundary === undefined) {
    if (typeof contentType === 'string' && contentType.trim() !== '' && !/^\s*multipart\/mixed\b/i.test(contentType)) {
      throw malformedResponse(`$batch response: expected multipart/mixed, got ${JSON.stringify(foreignText(contentType, 100))}`);
    }
    boundary = boundaryFromBody(bytes, from);
    if (boundary === undefined) throw malformedResponse('$batch response: no boundary in Content-Type and no "--boundary" line in the body');
  }
  const results: BatchPartResponse[] = [];
  let changeSetIndex = 0;
  let complete = true;
  // Every problem a strict reading would throw; a tolerant one records it on the part and reads on.
  const fail = (error: unknown): void => {
    if (!tolerant) throw error;
  };
  const outer = splitParts(bytes, from, bytes.length, boundary, '$batch response');
  if (outer.problem !== undefined) {
    fail(malformedResponse(outer.problem));
    complete = false;
  }
  const readPart = (range: Range, i: number, truncated: boolean): void => {
    // Error messages name the part; built only when one is.
    const context = (): string => `$batch response part ${i + 1}`;
    // Only the MIME headers are decoded first: a change set is split on its bytes.
    const restStart = headersEnd(bytes, range.start, range.end);
    let headers: Record<string, string>;
    try {
      ({ headers } = splitHeaders(textOf(bytes, range.start, restStart), 0, context, truncated));
    } catch (error) {
      fail(error);
      results.push(unreadable(error));
      return;
    }
    const inner = multipartBoundary(headers['content-type']);
    if (inner !== undefined) {
      const cs = changeSetIndex++;
      let split: Split;
      try {
        split = splitParts(bytes, restStart, range.end, inner, `${context()} (change set)`);
      } catch (error) {
        // Not one part of the change set can be read: one unreadable answer stands for all of it.
        fail(error);
        if (!truncated) results.push(unreadable(error));
        return;
      }
      if (split.problem !== undefined) {
        fail(malformedResponse(split.problem));
        complete = false;
      }
      const readSub = (sub: Range, j: number, subTruncated: boolean): void => {
        const subContext = (): string => `${context()} (change set part ${j + 1})`;
        try {
          // A change set's parts are small (one operation's answer each): decoded whole.
          const subText = textOf(bytes, sub.start, sub.end);
          const head = splitHeaders(subText, 0, subContext, subTruncated);
          if (multipartBoundary(head.headers['content-type']) !== undefined) throw malformedResponse(`${subContext()}: nested change sets`);
          const part = decodeHttpPart({ headers: head.headers, text: subText, from: head.restStart }, subContext, cs, tolerant, subTruncated);
          if (part !== undefined) results.push(part);
        } catch (error) {
          fail(error);
          if (!subTruncated) results.push(unreadable(error, cs));
        }
      };
      const subParts = split.parts;
      for (let j = 0; j < subParts.length; j++) readSub(subParts[j], j, false);
      if (split.tail !== undefined) readSub(split.tail, subParts.length, true);
    } else if (/^\s*multipart\//i.test(headers['content-type'] ?? '')) {
      const error = malformedResponse(`${context()}: a multipart part without a boundary`);
      fail(error);
      results.push(unreadable(error));
    } else {
      try {
        const part = decodeHttpPart({ headers, text: textOf(bytes, restStart, range.end), from: 0 }, context, undefined, tolerant, truncated);
        if (part !== undefined) results.push(part);
      } catch (error) {
        fail(error);
        if (!truncated) results.push(unreadable(error));
      }
    }
  };
  const parts = outer.parts;
  for (let i = 0; i < parts.length; i++) readPart(parts[i], i, false);
  if (outer.tail !== undefined) readPart(outer.tail, parts.length, true);
  return { parts: results, complete };
}

/**
 * Decodes a `$batch` response body into one entry per answered operation, in order, including the
 * parts of change-set responses (with `changeSetIndex`). Accepts CRLF or bare LF line breaks and a
 * missing final line break. When `contentType` carries no boundary (the documented examples omit
 * the header), the boundary is taken from the first `--` line.
 *
 * Strict: anything wrong anywhere throws. {@link readBatchResponse} reads what it can instead.
 *
 * @throws DynamicsError `malformed_response` (ErrorCode.malformedResponse) for a truncated or garbled
 *   body, never anything else.
 */
export function decodeBatchResponse(body: string | Uint8Array, contentType: string | undefined | null): BatchPartResponse[] {
  return decode(body, contentType, false).parts;
}

/**
 * Reads a `$batch` response body as far as it can, for a caller that must not lose the results of
 * operations the service carried out because another part of the answer is broken: a part whose
 * JSON does not parse keeps its status, headers and Content-ID, with
 * {@link BatchPartResponse.malformed} saying why its body is missing; a part that cannot be read at
 * all is an entry with status 0; a response cut short gives the parts that arrived and
 * `complete: false` (a part cut in the middle keeps its status line when that arrived).
 *
 * @throws DynamicsError `malformed_response` only when nothing at all can be read: not multipart,
 *   no boundary, no delimiter.
 */
export function readBatchResponse(body: string | Uint8Array, contentType: string | undefined | null): BatchResponseReading {
  return decode(body, contentType, true);
}
