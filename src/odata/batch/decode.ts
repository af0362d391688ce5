/**
 * `$batch` response decoding: multipart/mixed with change-set responses (RFC 2046 §5.1, OData v4
 * Part 1 §11.7.4), as
 * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
 * shows them. Part bodies are read with the library's one JSON decoder (src/net/body.ts), so a part
 * parses (or fails) exactly as the same bytes would in a response of their own.
 */
import { DynamicsError, ErrorCode } from '../../errors';
import { isJsonContentType, parseJson, tryDecodeText } from '../../net/body';
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

/** Largest body we try to decode (Dataverse's own request limit is far smaller per part). */
const MAX_RESPONSE_CHARS = 512 * 1024 * 1024;

/** A part's MIME headers, and its content: `text` from `from` on (read in place, not cut out). */
interface RawPart {
  headers: Record<string, string>;
  text: string;
  from: number;
}

/** How splitting a multipart body ended. */
interface Split {
  /** The parts between delimiters, in order. */
  parts: string[];
  /** What went wrong, when the body did not end with the close delimiter; undefined when it did. */
  problem?: string;
  /** The text after the last delimiter, when the body ends before the next one (a truncated part). */
  tail?: string;
}

/**
 * Splits a multipart body into its parts. A delimiter is `--boundary` at the start of a line,
 * followed by `--` (the close delimiter), optional spaces, and a line end (or the end of the body
 * after the close delimiter). The line break before a delimiter belongs to it (RFC 2046 §5.1.1).
 * Every loop advances, so garbage can only end the split. A body without any delimiter throws; one
 * that goes wrong later returns the parts read so far and the problem.
 */
function splitParts(text: string, boundary: string, context: string): Split {
  const delimiter = `--${boundary}`;
  const needle = `\n${delimiter}`;
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
    if (closing) return { parts };
    if (text[after] === '\r') after++;
    if (text[after] !== '\n') {
      return { parts, problem: `${context}: the delimiter "${delimiter}" is not followed by a line break${after >= text.length ? ' (the body is truncated)' : ''}` };
    }
    const start = after + 1;
    // The next delimiter at a line start, skipping look-alikes such as a longer boundary.
    let search = start - 1;
    let next = -1;
    for (;;) {
      const found = text.indexOf(needle, search);
      if (found < 0) break;
      // What follows a real delimiter: `--`, a space, a tab, a line break, or the end of the body.
      const after = found + needle.length;
      const c = text.charCodeAt(after);
      if (after >= text.length || c === 32 || c === 9 || c === CR || c === LF || (c === 45 && text.charCodeAt(after + 1) === 45)) {
        next = found;
        break;
      }
      search = found + 1;
    }
    if (next < 0) return { parts, problem: `${context}: the body ends before the closing delimiter "${delimiter}--" (truncated)`, tail: text.slice(start) };
    const end = next > start && text[next - 1] === '\r' ? next - 1 : next;
    parts.push(text.slice(start, Math.max(start, end)));
    pos = next + 1;
  }
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

/** The body as text, or the DynamicsError for one too long to read. */
function bodyText(body: string | Uint8Array): string {
  let decoded;
  if (typeof body === 'string') decoded = tryDecodeText(body);
  else if (body instanceof Uint8Array) decoded = tryDecodeText(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  else throw malformedResponse('$batch response: expected a text body');
  if (!decoded.ok) {
    throw new DynamicsError(`$batch response: ${decoded.error.message}`, { code: decoded.error.kind === 'too_large' ? ErrorCode.responseTooLarge : ErrorCode.malformedResponse });
  }
  return decoded.text;
}

function decode(body: string | Uint8Array, contentType: string | undefined | null, tolerant: boolean): BatchResponseReading {
  const text = bodyText(body);
  if (text.length > MAX_RESPONSE_CHARS) throw malformedResponse('$batch response: the body is too large to decode');
  if (typeof contentType === 'string' && isJsonType(contentType)) {
    throw malformedResponse('$batch response: expected multipart/mixed, got a JSON body (an error for the whole batch?)');
  }
  let boundary = multipartBoundary(contentType ?? undefined);
  if (boundary === undefined) {
    if (typeof contentType === 'string' && contentType.trim() !== '' && !/^\s*multipart\/mixed\b/i.test(contentType)) {
      throw malformedResponse(`$batch response: expected multipart/mixed, got ${JSON.stringify(foreignText(contentType, 100))}`);
    }
    const first = /^--([^\r\n]{1,200}?)[ \t]*\r?$/m.exec(text);
    if (!first) throw malformedResponse('$batch response: no boundary in Content-Type and no "--boundary" line in the body');
    boundary = first[1];
  }
  const results: BatchPartResponse[] = [];
  let changeSetIndex = 0;
  let complete = true;
  // Every problem a strict reading would throw; a tolerant one records it on the part and reads on.
  const fail = (error: unknown): void => {
    if (!tolerant) throw error;
  };
  const outer = splitParts(text, boundary, '$batch response');
  if (outer.problem !== undefined) {
    fail(malformedResponse(outer.problem));
    complete = false;
  }
  const readPart = (partText: string, i: number, truncated: boolean): void => {
    // Error messages name the part; built only when one is.
    const context = (): string => `$batch response part ${i + 1}`;
    let headers: Record<string, string>;
    let restStart: number;
    try {
      ({ headers, restStart } = splitHeaders(partText, 0, context, truncated));
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
        split = splitParts(partText.slice(restStart), inner, `${context()} (change set)`);
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
      const readSub = (subText: string, j: number, subTruncated: boolean): void => {
        const subContext = (): string => `${context()} (change set part ${j + 1})`;
        try {
          const sub = splitHeaders(subText, 0, subContext, subTruncated);
          if (multipartBoundary(sub.headers['content-type']) !== undefined) throw malformedResponse(`${subContext()}: nested change sets`);
          const part = decodeHttpPart({ headers: sub.headers, text: subText, from: sub.restStart }, subContext, cs, tolerant, subTruncated);
          if (part !== undefined) results.push(part);
        } catch (error) {
          fail(error);
          if (!subTruncated) results.push(unreadable(error, cs));
        }
      };
      const subTexts = split.parts;
      for (let j = 0; j < subTexts.length; j++) readSub(subTexts[j], j, false);
      if (split.tail !== undefined) readSub(split.tail, split.parts.length, true);
    } else if (/^\s*multipart\//i.test(headers['content-type'] ?? '')) {
      const error = malformedResponse(`${context()}: a multipart part without a boundary`);
      fail(error);
      results.push(unreadable(error));
    } else {
      try {
        const part = decodeHttpPart({ headers, text: partText, from: restStart }, context, undefined, tolerant, truncated);
        if (part !== undefined) results.push(part);
      } catch (error) {
        fail(error);
        if (!truncated) results.push(unreadable(error));
      }
    }
  };
  const partTexts = outer.parts;
  for (let i = 0; i < partTexts.length; i++) readPart(partTexts[i], i, false);
  if (outer.tail !== undefined) readPart(outer.tail, outer.parts.length, true);
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
