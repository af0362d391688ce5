/**
 * `$batch` framing for the emulator: reads a multipart/mixed request body into requests and change
 * sets, and writes the multipart/mixed response (OData v4 Protocol §11.7,
 * dp/webapi/execute-batch-operations-using-web-api.md). CRLF and bare LF line breaks are both accepted;
 * responses use CRLF as Dataverse does on the wire.
 */
import { dvErrors } from './errors';

/** One operation inside a batch. */
export interface BatchRequestPart {
  method: string;
  /** As written in the part: absolute, server-relative, relative to the service root, or `$n…`. */
  url: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  contentId?: string;
}

export type BatchItem = { kind: 'request'; request: BatchRequestPart } | { kind: 'changeset'; requests: BatchRequestPart[] };

/** Dataverse's limit on operations per batch (dp/webapi/execute-batch-operations-using-web-api.md). */
export const MAX_BATCH_OPERATIONS = 1000;

/** Reads the `boundary` parameter of a multipart Content-Type (quoted or not). */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/mixed/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*("([^"]+)"|[^;\s]+)/i.exec(contentType);
  if (!m) return undefined;
  return m[2] ?? m[1];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits a multipart body into its parts (RFC 2046 §5.1.1: the line break before a delimiter belongs to it). */
function splitMultipart(text: string, boundary: string): string[] {
  const re = new RegExp(`(?:^|\\r?\\n)--${escapeRe(boundary)}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const parts: string[] = [];
  let last = -1;
  let closed = false;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (last >= 0) parts.push(text.slice(last, m.index));
    // Skip the line break that ends the delimiter line.
    let next = m.index + m[0].length;
    if (text[next] === '\r') next++;
    if (text[next] === '\n') next++;
    last = next;
    if (m[1]) {
      closed = true;
      break;
    }
  }
  if (last < 0) throw dvErrors.badRequest(`The batch request body contains no part delimited by '--${boundary}'.`);
  if (!closed) throw dvErrors.badRequest(`The batch request body does not end with the closing delimiter '--${boundary}--'.`);
  return parts;
}

/** Splits header lines from the content at the first empty line. */
function splitHead(text: string): { headers: Record<string, string>; rest: string; firstLine?: string } {
  const m = /\r?\n\r?\n/.exec(text);
  const head = m ? text.slice(0, m.index) : text;
  const rest = m ? text.slice(m.index + m[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw dvErrors.badRequest(`The batch part header line '${line}' is not valid.`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, rest };
}

function parseHttpPart(mimeHeaders: Record<string, string>, content: string): BatchRequestPart {
  const ct = mimeHeaders['content-type'] ?? '';
  if (!/^application\/http\b/i.test(ct)) {
    throw dvErrors.badRequest(`The batch part has Content-Type '${ct}'; expected 'application/http' or a 'multipart/mixed' change set.`);
  }
  const lineEnd = /\r?\n/.exec(content);
  const requestLine = (lineEnd ? content.slice(0, lineEnd.index) : content).trim();
  const m = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/\d\.\d)?$/.exec(requestLine);
  if (!m) throw dvErrors.badRequest(`The batch part request line '${requestLine}' is not valid.`);
  const { headers, rest } = splitHead(lineEnd ? content.slice(lineEnd.index + lineEnd[0].length) : '');
  const contentId = mimeHeaders['content-id'] ?? headers['content-id'];
  return { method: m[1] as string, url: m[2] as string, headers, body: rest.trim(), ...(contentId ? { contentId } : {}) };
}

/** Parses a `$batch` request body. Throws Dataverse-shaped 400s for malformed framing and the 1000-operation limit. */
export function parseBatch(body: string, contentType: string | undefined): BatchItem[] {
  const boundary = boundaryOf(contentType);
  if (!boundary) throw dvErrors.badRequest("The content type of a batch request must be 'multipart/mixed' with a boundary parameter.");
  const items: BatchItem[] = [];
  let operations = 0;
  for (const part of splitMultipart(body, boundary)) {
    const { headers, rest } = splitHead(part);
    const inner = boundaryOf(headers['content-type']);
    if (inner) {
      const requests: BatchRequestPart[] = [];
      for (const sub of splitMultipart(rest, inner)) {
        const h = splitHead(sub);
        if (boundaryOf(h.headers['content-type'])) throw dvErrors.badRequest('Change sets cannot be nested.');
        const request = parseHttpPart(h.headers, h.rest);
        if (request.method === 'GET') {
          throw dvErrors.badRequest('GET requests are not allowed inside a change set; put them directly in the batch.');
        }
        requests.push(request);
      }
      if (requests.length > MAX_BATCH_OPERATIONS) {
        throw dvErrors.badRequest(
          `The current change set contains too many operations. A maximum number of '${MAX_BATCH_OPERATIONS}' operations are allowed in a change set.`,
        );
      }
      operations += requests.length;
      items.push({ kind: 'changeset', requests });
    } else {
      const request = parseHttpPart(headers, rest);
      if (request.url.includes('$batch')) throw dvErrors.badRequest('A batch request cannot contain another batch request.');
      operations += 1;
      items.push({ kind: 'request', request });
    }
    if (operations > MAX_BATCH_OPERATIONS) {
      throw dvErrors.badRequest(
        `The current batch message contains too many parts. Only batch messages with a maximum number of '${MAX_BATCH_OPERATIONS}' query operations and change sets are allowed.`,
      );
    }
  }
  return items;
}

/** One answered operation, ready to be framed. */
export interface BatchResponsePart {
  status: number;
  headers: Record<string, string>;
  body: string;
  contentId?: string;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
};

function frameHttp(part: BatchResponsePart): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (part.contentId !== undefined) lines.push(`Content-ID: ${part.contentId}`);
  lines.push('', `HTTP/1.1 ${part.status} ${REASONS[part.status] ?? 'Unknown'}`);
  for (const [k, v] of Object.entries(part.headers)) lines.push(`${k}: ${v}`);
  lines.push('', part.body);
  return lines.join('\r\n');
}

/** A top-level response entry: a single operation or a committed change set. */
export type BatchResponseItem = { kind: 'response'; part: BatchResponsePart } | { kind: 'changeset'; boundary: string; parts: BatchResponsePart[] };

/** Writes the multipart/mixed response body, framed like the documented Dataverse responses. */
export function writeBatchResponse(boundary: string, items: BatchResponseItem[]): string {
  const chunks: string[] = [];
  for (const item of items) {
    if (item.kind === 'response') {
      chunks.push(`--${boundary}\r\n${frameHttp(item.part)}\r\n`);
    } else {
      const inner = item.parts.map((p) => `--${item.boundary}\r\n${frameHttp(p)}\r\n`).join('');
      chunks.push(`--${boundary}\r\nContent-Type: multipart/mixed; boundary=${item.boundary}\r\n\r\n${inner}--${item.boundary}--\r\n`);
    }
  }
  chunks.push(`--${boundary}--\r\n`);
  return chunks.join('');
}
