/**
 * `$batch` response decoding: multipart/mixed with change-set responses (RFC 2046 §5.1, OData v4
 * Part 1 §11.7.4), as
 * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api
 * shows them. Part bodies are read with the library's one JSON decoder (src/net/body.ts), so a part
 * parses (or fails) exactly as the same bytes would in a response of their own.
 */
import { decodeText, isJsonContentType, parseJson } from '../../net/body';
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

/**
 * Splits header lines from the rest at the first empty line. Without an empty line, all is headers.
 * The map has no prototype: a header the server names `constructor` or `__proto__` is stored like any
 * other, never merged with (or into) `Object.prototype`.
 */
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
  const headers = Object.create(null) as Record<string, string>;
  for (const line of head.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0 || !isHeaderName(line.slice(0, colon).trim())) {
      throw malformedResponse(`${context}: bad header line ${JSON.stringify(line.slice(0, 100))}`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers[name];
    headers[name] = earlier === undefined ? value : `${earlier}, ${value}`;
  }
  return { headers, rest };
}

/** Whether a Content-Type names JSON, by the same rule as every other response of the library. */
function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && isJsonContentType({ 'content-type': contentType });
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
      const parsed = parseJson(text);
      if (!parsed.ok) throw malformedResponse(`${context}: the JSON body does not parse (${parsed.error.message})`, { cause: parsed.error });
      body = parsed.value;
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
  if (typeof body === 'string') text = decodeText(body);
  else if (body instanceof Uint8Array) text = decodeText(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
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

