import * as fs from 'node:fs';
import * as path from 'node:path';
import { DynamicsError, ErrorCode } from '../../../src/errors';
import {
  decodeBatchResponse,
  encodeBatch,
  encodeBatchBody,
  matchBatchResponses,
  multipartBoundary,
  splitOperations,
  type BatchItem,
  type BatchOperation,
  type BatchPartResponse,
} from '../../../src/odata/batch';
import { parseEntityId } from '../../../src/odata/keys';

const REAL = path.resolve(__dirname, '../../../../shared/fixtures/real');
const ROOT = 'https://org.crm.dynamics.com/api/data/v9.2/';
const ACCOUNT = '00000000-0000-0000-0000-000000000001';

/** A documented exchange: the start line and headers, then the body after the first empty line. */
function readExchange(name: string): { head: string; headers: Record<string, string>; body: string } {
  const text = fs.readFileSync(path.join(REAL, name), 'utf8');
  const split = text.indexOf('\n\n');
  const head = text.slice(0, split);
  const headers: Record<string, string> = {};
  for (const line of head.split('\n').slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
  return { head, headers, body: text.slice(split + 2) };
}

function thrown(fn: () => unknown): DynamicsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');

describe('decodeBatchResponse: the real documented responses', () => {
  it('decodes the change-set response: three 204s with Content-IDs, then a 200 JSON part', () => {
    const { body } = readExchange('batch-changeset-response.docs-excerpt.http');
    // The docs omit the response Content-Type; the boundary comes from the first "--" line.
    for (const [text, contentType] of [
      [body, undefined],
      [crlf(body), 'multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f'],
      [body.trimEnd(), 'multipart/mixed; boundary="batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f"'],
      [Buffer.from(crlf(body).trimEnd(), 'utf8'), 'multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f'],
    ] as const) {
      const parts = decodeBatchResponse(text, contentType);
      expect(parts).toHaveLength(4);
      expect(parts.slice(0, 3).map((p) => [p.status, p.statusText, p.contentId, p.changeSetIndex, p.body])).toEqual([
        [204, 'No Content', '1', 0, undefined],
        [204, 'No Content', '2', 0, undefined],
        [204, 'No Content', '3', 0, undefined],
      ]);
      expect(parts.slice(0, 3).map((p) => parseEntityId(p.headers['odata-entityid']))).toEqual([
        'e73ffc82-e292-ed11-aad1-000d3a9933c9',
        'e83ffc82-e292-ed11-aad1-000d3a9933c9',
        'e93ffc82-e292-ed11-aad1-000d3a9933c9',
      ]);
      expect(parts[0].headers['odata-version']).toBe('4.0');
      const last = parts[3];
      expect(last.status).toBe(200);
      expect(last.changeSetIndex).toBeUndefined();
      expect(last.contentId).toBeUndefined();
      expect(last.headers['content-type']).toBe('application/json; odata.metadata=minimal; odata.streaming=true');
      const value = (last.body as { value: { subject: string; activityid: string; '@odata.etag': string }[] }).value;
      expect(value.map((v) => v.subject)).toEqual(['Task 1 in batch', 'Task 2 in batch', 'Task 3 in batch']);
      expect(value[0]['@odata.etag']).toBe('W/"77181173"');
    }
  });

  it('decodes the continue-on-error response: a 400 with a Dataverse error, then two 204s', () => {
    const { body } = readExchange('batch-continue-on-error-response.docs-excerpt.http');
    const parts = decodeBatchResponse(crlf(body), undefined);
    expect(parts.map((p) => p.status)).toEqual([400, 204, 204]);
    expect(parts[0].headers.req_id).toBe('de4c5227-4a28-4ebd-8ced-3392ece1697b');
    expect(parts[0].body).toEqual({
      error: {
        code: '0x80044331',
        message:
          "A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'.",
      },
    });
    expect(parseEntityId(parts[2].headers['odata-entityid'])).toBe('b181a991-3c94-ed11-aad1-000d3a9933c9');
  });

  it('decodes the stop-on-error response: a single 400 part', () => {
    const { head, body } = readExchange('batch-stop-on-error-response.docs-excerpt.http');
    expect(head).toMatch(/^HTTP\/1.1 400 BadRequest/);
    const parts = decodeBatchResponse(body, null);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ status: 400, statusText: 'Bad Request', headers: { req_id: '5ecd1cb3-1730-4ffc-909c-d44c22270026' } });
    expect((parts[0].body as { error: { code: string } }).error.code).toBe('0x80044331');
  });
});

describe('encodeBatch', () => {
  it('produces the documented change-set request byte for byte (modulo CRLF and the host)', () => {
    const exchange = readExchange('batch-changeset-request.docs-excerpt.http');
    const task = (n: number): BatchOperation => ({
      method: 'POST',
      url: 'tasks',
      // The docs pretty-print the JSON; a string body is sent verbatim.
      body: JSON.stringify({ subject: `Task ${n} in batch`, 'regardingobjectid_account_task@odata.bind': `accounts(${ACCOUNT})` }, null, 2),
    });
    const encoded = encodeBatch(
      [{ changeSet: [task(1), task(2), task(3)] }, { method: 'GET', url: `accounts(${ACCOUNT})/Account_Tasks?$select=subject` }],
      {
        apiRootUrl: 'https://org.crm.dynamics.com/api/data/v9.2',
        boundary: 'batch_22975cad-7f57-410d-be15-6363209367ea',
        changeSetBoundary: () => 'changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a',
      },
    );
    expect(encoded.contentType).toBe(exchange.headers['content-type']);
    expect(encoded.headers).toEqual({ 'Content-Type': exchange.headers['content-type'] });
    // Every line break is CRLF; no bare LF outside the JSON we passed in (which used LF).
    expect(encoded.body.replace(/\r\n/g, '').includes('\r')).toBe(false);
    const ours = encoded.body.replace(/\r\n/g, '\n');
    expect(ours.trimEnd()).toBe(exchange.body.trimEnd());
    expect(encoded.operations).toEqual([
      { index: 0, changeSetIndex: 0, contentId: '1', method: 'POST' },
      { index: 1, changeSetIndex: 0, contentId: '2', method: 'POST' },
      { index: 2, changeSetIndex: 0, contentId: '3', method: 'POST' },
      { index: 3, method: 'GET' },
    ]);
  });

  it('uses CRLF framing, JSON bodies with type=entry, random boundaries and continue-on-error', () => {
    const encoded = encodeBatch([{ method: 'POST', url: 'accounts', body: { name: 'Zoë & Co' } }], { apiRootUrl: ROOT, continueOnError: true });
    expect(encoded.boundary).toMatch(/^batch_[0-9a-f-]{36}$/);
    expect(encoded.headers).toEqual({ 'Content-Type': `multipart/mixed; boundary="${encoded.boundary}"`, Prefer: 'odata.continue-on-error' });
    expect(encoded.body).toBe(
      `--${encoded.boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n` +
        'POST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{"name":"Zoë & Co"}\r\n' +
        `--${encoded.boundary}--\r\n`,
    );
    const other = encodeBatch([{ method: 'GET', url: 'accounts' }], { apiRootUrl: ROOT });
    expect(other.boundary).not.toBe(encoded.boundary);
  });

  it('writes headers, keeps a caller Content-Type, accepts absolute URLs under the root and $n references', () => {
    const encoded = encodeBatch(
      [
        {
          changeSet: [
            { method: 'POST', url: 'accounts', body: { name: 'A' }, contentId: 'acc' },
            { method: 'POST', url: 'contacts', body: { lastname: 'B', 'parentcustomerid_account@odata.bind': '$acc' } },
            { method: 'PATCH', url: '$acc', body: '{"name":"A2"}', headers: { 'If-Match': '*', 'Content-Type': 'application/json' } },
            { method: 'PUT', url: '$2/lastname', body: { value: 'C' } },
            { method: 'DELETE', url: `accounts(${ACCOUNT})`, headers: { 'If-Match': 'W/"123"' } },
          ],
        },
        { method: 'GET', url: `${ROOT}accounts?$select=name&$skiptoken=%3Ccookie%20page%3D%222%22%3E` },
        { method: 'GET', url: '$metadata' },
      ],
      { apiRootUrl: ROOT, boundary: 'b1', changeSetBoundary: (i) => `cs${i}` },
    );
    const body = encoded.body;
    expect(body).toContain('Content-ID: acc\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\n');
    expect(body).toContain('Content-ID: 1\r\n\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\n');
    expect(body).toContain('"parentcustomerid_account@odata.bind":"$acc"');
    expect(body).toContain('Content-ID: 2\r\n\r\nPATCH $acc HTTP/1.1\r\nIf-Match: *\r\nContent-Type: application/json\r\n\r\n{"name":"A2"}\r\n');
    expect(body).toContain('Content-ID: 3\r\n\r\nPUT $2/lastname HTTP/1.1\r\n');
    expect(body).toContain(`Content-ID: 4\r\n\r\nDELETE /api/data/v9.2/accounts(${ACCOUNT}) HTTP/1.1\r\nIf-Match: W/"123"\r\n\r\n\r\n--cs0--`);
    expect(body).toContain('GET /api/data/v9.2/accounts?$select=name&$skiptoken=%3Ccookie%20page%3D%222%22%3E HTTP/1.1\r\n');
    expect(body).toContain('GET /api/data/v9.2/$metadata HTTP/1.1\r\n');
    expect(encoded.operations.map((o) => o.contentId)).toEqual(['acc', '1', '2', '3', '4', undefined, undefined]);
  });

  it('numbers change sets and assigns Content-IDs unique across the batch, skipping ids the caller chose', () => {
    const encoded = encodeBatch(
      [
        { changeSet: [{ method: 'POST', url: 'a', body: {} }, { method: 'POST', url: 'b', body: {}, contentId: '1' }] },
        { method: 'GET', url: 'x' },
        { changeSet: [{ method: 'POST', url: 'c', body: {} }] },
      ],
      { apiRootUrl: ROOT },
    );
    expect(encoded.operations).toEqual([
      { index: 0, changeSetIndex: 0, contentId: '2', method: 'POST' },
      { index: 1, changeSetIndex: 0, contentId: '1', method: 'POST' },
      { index: 2, method: 'GET' },
      { index: 3, changeSetIndex: 1, contentId: '3', method: 'POST' },
    ]);
  });

  it.each<[string, BatchItem[], RegExp]>([
    ['no operations', [], /^operations: expected a non-empty array/],
    ['GET in a change set', [{ changeSet: [{ method: 'GET', url: 'accounts' }] }], /^operations\[0\]\.changeSet\[0\]\.method: expected POST, PATCH, PUT or DELETE \(a change set cannot contain GET/],
    ['an empty change set', [{ changeSet: [] }], /^operations\[0\]\.changeSet: expected a non-empty array/],
    ['a nested change set', [{ changeSet: [{ changeSet: [] } as never] }], /change sets cannot be nested/],
    [
      'a forward reference in a URL',
      [{ changeSet: [{ method: 'PATCH', url: '$2', body: {} }, { method: 'POST', url: 'accounts', body: {} }] }],
      /^operations\[0\]\.changeSet\[0\]: expected references only to Content-IDs defined earlier .*"\$2" is not/,
    ],
    [
      'a forward reference in @odata.bind',
      [{ changeSet: [{ method: 'POST', url: 'contacts', body: { 'parentcustomerid_account@odata.bind': '$1' } }, { method: 'POST', url: 'accounts', body: {}, contentId: '1' }] }],
      /forward reference/,
    ],
    [
      'a reference to another change set',
      [{ changeSet: [{ method: 'POST', url: 'accounts', body: {}, contentId: '1' }] }, { changeSet: [{ method: 'PATCH', url: '$1', body: {} }] }],
      /^operations\[1\]\.changeSet\[0\]: .*"\$1" is not/,
    ],
    ['a reference outside a change set', [{ method: 'GET', url: '$1' }], /^operations\[0\]: expected Content-ID references \("\$1"\) only inside a change set/],
    [
      'a duplicate Content-ID',
      [{ changeSet: [{ method: 'POST', url: 'a', body: {}, contentId: 'x' }, { method: 'POST', url: 'b', body: {}, contentId: 'x' }] }],
      /^operations\[0\]\.changeSet\[1\]\.contentId: expected a Content-ID unique within the batch/,
    ],
    ['a bad Content-ID', [{ changeSet: [{ method: 'POST', url: 'a', body: {}, contentId: 'a b' }] }], /contentId: expected letters/],
    ['a bad method', [{ method: 'HEAD' as never, url: 'a' }], /^operations\[0\]\.method: expected one of GET, POST, PATCH, PUT, DELETE/],
    ['a URL with a space', [{ method: 'GET', url: "accounts?$filter=name eq 'x'" }], /^operations\[0\]\.url: expected an encoded URL/],
    ['a URL with a line break', [{ method: 'GET', url: 'accounts\r\nX-Evil: 1' }], /^operations\[0\]\.url: /],
    ['a URL with non-ASCII', [{ method: 'GET', url: "accounts(name='é')" }], /^operations\[0\]\.url: /],
    ['a URL with a leading slash', [{ method: 'GET', url: '/api/data/v9.2/accounts' }], /without a leading "\/"/],
    ['a URL on another host', [{ method: 'GET', url: 'https://evil.example/api/data/v9.2/accounts' }], /absolute URL starting with https:\/\/org/],
    ['a nested $batch', [{ method: 'POST', url: '$batch', body: 'x' }], /no nested \$batch/],
    ['an empty URL', [{ method: 'GET', url: '' }], /^operations\[0\]\.url: /],
    ['a body on GET', [{ method: 'GET', url: 'a', body: {} }], /^operations\[0\]\.body: expected no body on a GET/],
    ['a header with CRLF', [{ method: 'GET', url: 'a', headers: { Prefer: 'x\r\nAuthorization: Bearer y' } }], /^operations\[0\]\.headers\.Prefer: /],
    ['a bad header name', [{ method: 'GET', url: 'a', headers: { 'Bad Name': 'x' } }], /^operations\[0\]\.headers: /],
    ['a Content-ID header', [{ method: 'GET', url: 'a', headers: { 'content-id': '1' } }], /use the contentId field/],
    ['an unserialisable body', [{ method: 'POST', url: 'a', body: { n: BigInt(1) } }], /^operations\[0\]\.body: expected a JSON-serialisable value/],
  ])('refuses %s', (_name, items, message) => {
    const error = thrown(() => encodeBatch(items, { apiRootUrl: ROOT }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(message);
  });

  it('refuses more than 1000 operations, bad roots and colliding boundaries', () => {
    const many = Array.from({ length: 1001 }, (): BatchOperation => ({ method: 'GET', url: 'accounts' }));
    expect(thrown(() => encodeBatch(many, { apiRootUrl: ROOT })).message).toMatch(/^operations: expected at most 1000 operations per \$batch \(split them with splitOperations\)/);
    expect(() => encodeBatch(many.slice(0, 1000), { apiRootUrl: ROOT })).not.toThrow();
    expect(thrown(() => encodeBatch([{ method: 'GET', url: 'a' }], { apiRootUrl: 'not a url' })).message).toMatch(/^apiRootUrl: /);
    expect(thrown(() => encodeBatch([{ method: 'GET', url: 'a' }], { apiRootUrl: 'ftp://x/' })).message).toMatch(/^apiRootUrl: /);
    expect(thrown(() => encodeBatch([{ method: 'POST', url: 'a', body: '--b1 in the body' }], { apiRootUrl: ROOT, boundary: 'b1' })).message).toMatch(
      /^boundary: expected a boundary that does not occur/,
    );
    expect(thrown(() => encodeBatch([{ method: 'GET', url: 'a' }], { apiRootUrl: ROOT, boundary: 'has space' })).message).toMatch(/^boundary: /);
    expect(
      thrown(() => encodeBatch([{ changeSet: [{ method: 'POST', url: 'a', body: '--cs' }] }], { apiRootUrl: ROOT, changeSetBoundary: () => 'cs' })).message,
    ).toMatch(/^changeSetBoundary\(0\): /);
  });
});

describe('encodeBatchBody', () => {
  const fixed = { apiRootUrl: ROOT, boundary: 'b1', changeSetBoundary: (i: number) => `cs${i}` };
  it('sends a short body as the string encodeBatch writes, a long one as exactly its UTF-8 bytes', () => {
    const cases: Array<{ items: BatchItem[]; bytes: boolean }> = [
      { items: [{ method: 'POST', url: 'accounts', body: { name: 'A' } }], bytes: false },
      {
        items: [
          { changeSet: [{ method: 'POST', url: 'accounts', body: { name: "O'Brien 東京 😀" } }, { method: 'PATCH', url: '$1', body: 'plain é' }] },
          { method: 'GET', url: 'contacts?$select=fullname' },
        ],
        bytes: false,
      },
      // Pieces far longer in UTF-8 than in characters: the buffer (one byte per character) must grow.
      {
        items: [
          { method: 'POST', url: 'notes', body: { notetext: '東'.repeat(40_000) } },
          { method: 'POST', url: 'notes', body: { notetext: '😀'.repeat(10_000) + 'x'.repeat(70_000) } },
        ],
        bytes: true,
      },
      {
        items: Array.from({ length: 1000 }, (_, i) => ({ method: 'POST' as const, url: 'accounts', body: { name: `n${i}`, description: i % 7 === 0 ? 'ü' : 'a' } })),
        bytes: true,
      },
    ];
    for (const { items, bytes } of cases) {
      const sent = encodeBatchBody(items, fixed);
      const text = encodeBatch(items, fixed);
      expect(Buffer.isBuffer(sent.body)).toBe(bytes);
      expect(Buffer.from(sent.body).equals(Buffer.from(text.body, 'utf8'))).toBe(true);
      expect({ ...sent, body: undefined }).toEqual({ ...text, body: undefined });
    }
  });
});

describe('encode → decode round trip', () => {
  /** A server stand-in: answers each encoded request part with a response part, mirroring its Content-ID. */
  function respond(requestBody: string, boundary: string): string {
    return requestBody
      .split(`--${boundary}`)
      .join('--batchresponse_1')
      .replace(/--changeset_/g, '--changesetresponse_')
      .replace(/boundary="changeset_([^"]+)"/g, 'boundary=changesetresponse_$1')
      .replace(/^(GET|POST|PATCH|PUT|DELETE) \S+ HTTP\/1\.1$/gm, (_m, method: string) =>
        method === 'GET' ? 'HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal' : 'HTTP/1.1 204 No Content\r\nOData-Version: 4.0',
      );
  }

  it('decodes one part per encoded operation with Content-IDs and change-set indexes', () => {
    const encoded = encodeBatch(
      [
        { changeSet: [{ method: 'POST', url: 'accounts', body: { name: 'A' } }, { method: 'PATCH', url: '$1', body: { name: 'B' } }] },
        { method: 'POST', url: 'contacts', body: { lastname: "O'Brien 東京" } },
        { changeSet: [{ method: 'DELETE', url: `accounts(${ACCOUNT})` }] },
      ],
      { apiRootUrl: ROOT },
    );
    const parts = decodeBatchResponse(respond(encoded.body, encoded.boundary), 'multipart/mixed; boundary=batchresponse_1');
    expect(parts.map((p) => [p.status, p.contentId, p.changeSetIndex])).toEqual([
      [204, '1', 0],
      [204, '2', 0],
      [204, undefined, undefined],
      [204, '3', 1],
    ]);
    expect(parts.map((p) => p.contentId)).toEqual(encoded.operations.map((o) => o.contentId));
    // The body of an operation survives framing unchanged (here it came back as the part body).
    expect(parts[2].body).toEqual({ lastname: "O'Brien 東京" });
  });
});

describe('decodeBatchResponse: tolerance and robustness', () => {
  const good = crlf(readExchange('batch-changeset-response.docs-excerpt.http').body);
  const contentType = `multipart/mixed; boundary=${multipartBoundary('multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f')}`;

  it('reads the boundary quoted or not, and refuses non-multipart content types', () => {
    expect(multipartBoundary('multipart/mixed; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('Multipart/Mixed;boundary=abc;charset=utf-8')).toBe('abc');
    expect(multipartBoundary('application/json')).toBeUndefined();
    expect(multipartBoundary(undefined)).toBeUndefined();
    expect(thrown(() => decodeBatchResponse('{"error":{}}', 'application/json; odata.metadata=minimal')).code).toBe(ErrorCode.malformedResponse);
    expect(thrown(() => decodeBatchResponse('<html></html>', 'text/html')).message).toMatch(/expected multipart\/mixed, got "text\/html"/);
  });

  it('ignores a preamble and an epilogue, and a look-alike longer boundary inside a body', () => {
    const body =
      'preamble\r\n--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nline\r\n--bb not a delimiter\r\n--b--\r\nepilogue';
    const parts = decodeBatchResponse(body, 'multipart/mixed; boundary=b');
    expect(parts).toEqual([{ status: 200, statusText: 'OK', headers: { 'content-type': 'text/plain' }, body: 'line\r\n--bb not a delimiter' }]);
  });

  it('keeps text bodies, joins repeated headers, and reads an empty part list', () => {
    const body = '--b\nContent-Type: application/http\n\nHTTP/1.1 200 OK\nContent-Type: text/plain\nX-A: 1\nx-a: 2\n\n42\n--b--';
    expect(decodeBatchResponse(body, 'multipart/mixed; boundary=b')).toEqual([
      { status: 200, statusText: 'OK', headers: { 'content-type': 'text/plain', 'x-a': '1, 2' }, body: '42' },
    ]);
    expect(decodeBatchResponse('--b--\r\n', 'multipart/mixed; boundary=b')).toEqual([]);
  });

  it('keeps part headers named after Object.prototype members as ordinary headers, in a map without a prototype', () => {
    const body =
      '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\nConstructor: c1\r\n__proto__: p1\r\nhasOwnProperty: h1\r\nOData-Version: 4.0\r\n\r\n\r\n--b--';
    const [part] = decodeBatchResponse(body, 'multipart/mixed; boundary=b');
    expect(Object.getPrototypeOf(part.headers)).toBeNull();
    expect(Object.keys(part.headers)).toEqual(['constructor', '__proto__', 'hasownproperty', 'odata-version']);
    expect(part.headers.constructor).toBe('c1');
    expect(part.headers['__proto__']).toBe('p1');
    expect(part.headers.hasownproperty).toBe('h1');
    expect(JSON.stringify(part.headers)).toBe('{"constructor":"c1","__proto__":"p1","hasownproperty":"h1","odata-version":"4.0"}');
  });

  it('reads JSON behind a byte order mark as the same JSON, whether the BOM starts a part body or the whole response', () => {
    const error = { error: { code: '0x80040217', message: 'Entity account With Id = x Does Not Exist' } };
    const part = (contentType: string) =>
      `--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\n${contentType}\r\n\uFEFF${JSON.stringify(error)}\r\n--b--`;
    expect(decodeBatchResponse(part('Content-Type: application/json; odata.metadata=minimal\r\n'), 'multipart/mixed; boundary=b')[0].body).toEqual(error);
    expect(decodeBatchResponse(part(''), 'multipart/mixed; boundary=b')[0].body).toEqual(error);
    const whole = Buffer.from(`\uFEFF${part('Content-Type: application/json\r\n')}`, 'utf8');
    expect(decodeBatchResponse(whole, 'multipart/mixed; boundary=b')).toEqual([{ status: 404, statusText: 'Not Found', headers: { 'content-type': 'application/json' }, body: error }]);
  });

  it.each<[string, string, RegExp]>([
    ['no delimiter at all', 'HTTP/1.1 200 OK\r\n\r\n', /no part starts with "--b"/],
    ['no closing delimiter', '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n', /ends before the closing delimiter "--b--"/],
    ['a bad status line', '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 abc\r\n\r\n\r\n--b--', /part 1: bad status line/],
    ['an empty part', '--b\r\n\r\n--b--', /part 1: bad status line/],
    ['a garbage header line', '--b\r\nnot a header\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n--b--', /part 1: bad header line/],
    ['a wrong part type', '--b\r\nContent-Type: text/plain\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n--b--', /expected Content-Type application\/http/],
    ['truncated JSON in a part', '--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value":[\r\n--b--', /part 1: the operation succeeded \(HTTP 200\) but the JSON body does not parse/],
    ['junk after a delimiter', '--b junk\r\n--b--', /not followed by a line break/],
    ['a change set without its close', '--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b--', /change set\): the body ends before the closing delimiter "--c--"/],
    ['a multipart part without boundary', '--b\r\nContent-Type: multipart/mixed\r\n\r\n--b--', /a multipart part without a boundary/],
  ])('throws malformed_response for %s', (_name, body, message) => {
    const error = thrown(() => decodeBatchResponse(body, 'multipart/mixed; boundary=b'));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.message).toMatch(message);
  });

  it('never crashes or hangs on any truncation of a valid response (CRLF and LF)', () => {
    for (const whole of [good, good.replace(/\r\n/g, '\n')]) {
      const complete = decodeBatchResponse(whole, contentType);
      let decoded = 0;
      for (let cut = 0; cut < whole.length; cut++) {
        let parts: BatchPartResponse[] | undefined;
        try {
          parts = decodeBatchResponse(whole.slice(0, cut), contentType);
        } catch (error) {
          expect(error).toBeInstanceOf(DynamicsError);
          expect((error as DynamicsError).code).toBe(ErrorCode.malformedResponse);
          continue;
        }
        // Only a cut after the close delimiter ("--batchresponse_…--") may decode, and then completely.
        decoded++;
        expect(whole.slice(0, cut).trimEnd().endsWith('--')).toBe(true);
        expect(parts).toEqual(complete);
      }
      expect(decoded).toBeGreaterThan(0);
    }
  });

  it('reads the bytes as the whole body decoded at once would: non-ASCII, broken UTF-8, every cut', () => {
    const part = (body: Buffer): Buffer =>
      Buffer.concat([Buffer.from('--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n'), body, Buffer.from('\r\n')]);
    // A text part with CJK and an emoji, then one whose last byte starts a character that never ends.
    const whole = Buffer.concat([part(Buffer.from('東京 😀 é')), part(Buffer.from([0x61, 0xe6, 0x9d])), Buffer.from('--b--\r\n')]);
    const parts = decodeBatchResponse(whole, 'multipart/mixed; boundary=b');
    expect(parts.map((p) => p.body)).toEqual(['東京 😀 é', 'a\ufffd']);
    expect(parts).toEqual(decodeBatchResponse(whole.toString('utf8'), 'multipart/mixed; boundary=b'));
    // A plain Uint8Array that views the middle of a larger buffer reads the same.
    const larger = new Uint8Array(whole.length + 20).fill(0x2d);
    larger.set(whole, 10);
    expect(decodeBatchResponse(larger.subarray(10, 10 + whole.length), 'multipart/mixed; boundary=b')).toEqual(parts);
    // Every cut, including inside a character: a DynamicsError, or (after the close delimiter) all of it.
    // The cuts that decode are the two after "--b--" (before and after its CR).
    let decoded = 0;
    for (let cut = 0; cut < whole.length; cut++) {
      try {
        expect(decodeBatchResponse(whole.subarray(0, cut), 'multipart/mixed; boundary=b')).toEqual(parts);
        decoded++;
      } catch (error) {
        expect(error).toBeInstanceOf(DynamicsError);
        expect((error as DynamicsError).code).toBe(ErrorCode.malformedResponse);
      }
    }
    expect(decoded).toBe(2);
  });

  it('never crashes on random corruption (deterministic pseudo-random bytes)', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const alphabet = ['\r', '\n', '-', ':', ' ', '{', '}', '"', 'x', '\u00e9', '\ud83d'];
    for (let round = 0; round < 2000; round++) {
      const chars = good.split('');
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const kind = random();
        if (kind < 0.33) chars.splice(at, 1);
        else if (kind < 0.66) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]);
        else chars[at] = alphabet[Math.floor(random() * alphabet.length)];
      }
      try {
        const parts = decodeBatchResponse(chars.join(''), contentType);
        expect(Array.isArray(parts)).toBe(true);
      } catch (error) {
        expect(error).toBeInstanceOf(DynamicsError);
        expect((error as DynamicsError).code).toBe(ErrorCode.malformedResponse);
      }
    }
  });
});

describe('splitOperations', () => {
  const op = (n: number): BatchOperation => ({ method: 'POST', url: 'accounts', body: { n } });
  const count = (batch: BatchItem[]) => batch.reduce((n, item) => n + ('changeSet' in item ? item.changeSet.length : 1), 0);

  it('splits 2500 single operations into 1000 + 1000 + 500, in order', () => {
    const ops = Array.from({ length: 2500 }, (_, i) => op(i));
    const batches = splitOperations(ops);
    expect(batches.map(count)).toEqual([1000, 1000, 500]);
    expect(batches.flat()).toEqual(ops);
  });

  it('never splits a change set', () => {
    const cs = (n: number): BatchItem => ({ changeSet: Array.from({ length: n }, (_, i) => op(i)) });
    const items: BatchItem[] = [op(0), op(1), cs(3), op(2), cs(4), cs(2)];
    const batches = splitOperations(items, 5);
    expect(batches.map(count)).toEqual([5, 5, 2]);
    expect(batches).toEqual([[op(0), op(1), items[2]], [op(2), items[4]], [items[5]]]);
    expect(splitOperations([cs(1000), op(1)]).map(count)).toEqual([1000, 1]);
    expect(splitOperations([])).toEqual([]);
  });

  it('refuses a change set larger than a batch, and bad limits', () => {
    const error = thrown(() => splitOperations([op(0), { changeSet: Array.from({ length: 1001 }, (_, i) => op(i)) }]));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^operations\[1\]\.changeSet: expected at most 1000 operations in one change set .*cannot be split/);
    expect(thrown(() => splitOperations([], 0)).message).toMatch(/^maxPerBatch: /);
    expect(thrown(() => splitOperations([], 1001)).message).toMatch(/^maxPerBatch: /);
  });

  it('gives batches that encode', () => {
    const batches = splitOperations(Array.from({ length: 1500 }, (_, i) => op(i)));
    for (const batch of batches) expect(() => encodeBatch(batch, { apiRootUrl: ROOT })).not.toThrow();
  });
});

describe('matchBatchResponses', () => {
  const part = (status: number, extra: Partial<BatchPartResponse> = {}): BatchPartResponse => ({ status, statusText: '', headers: {}, body: undefined, ...extra });
  const encoded = encodeBatch(
    [
      { method: 'GET', url: 'accounts' },
      { changeSet: [{ method: 'POST', url: 'a', body: {} }, { method: 'POST', url: 'b', body: {} }, { method: 'POST', url: 'c', body: {} }] },
      { method: 'POST', url: 'd', body: {} },
    ],
    { apiRootUrl: ROOT },
  );
  const ops = encoded.operations;

  it('pairs the documented change-set response with its operations', () => {
    const parts = decodeBatchResponse(readExchange('batch-changeset-response.docs-excerpt.http').body, undefined);
    const docOps = encodeBatch(
      [{ changeSet: [1, 2, 3].map((): BatchOperation => ({ method: 'POST', url: 'tasks', body: {} })) }, { method: 'GET', url: 'tasks' }],
      { apiRootUrl: ROOT },
    ).operations;
    const results = matchBatchResponses(docOps, parts);
    expect(results.map((r) => [r.outcome, r.contentId, r.response?.status])).toEqual([
      ['succeeded', '1', 204],
      ['succeeded', '2', 204],
      ['succeeded', '3', 204],
      ['succeeded', undefined, 200],
    ]);
  });

  it('pairs the documented continue-on-error and stop-on-error responses', () => {
    const three = encodeBatch([1, 2, 3].map((): BatchOperation => ({ method: 'POST', url: 'tasks', body: {} })), { apiRootUrl: ROOT }).operations;
    const cont = matchBatchResponses(three, decodeBatchResponse(readExchange('batch-continue-on-error-response.docs-excerpt.http').body, undefined));
    expect(cont.map((r) => r.outcome)).toEqual(['failed', 'succeeded', 'succeeded']);
    expect((cont[0].response?.body as { error: { code: string } }).error.code).toBe('0x80044331');
    const stop = matchBatchResponses(three, decodeBatchResponse(readExchange('batch-stop-on-error-response.docs-excerpt.http').body, undefined));
    expect(stop.map((r) => r.outcome)).toEqual(['failed', 'notExecuted', 'notExecuted']);
    expect(stop[1].response).toBeUndefined();
  });

  it('matches change-set parts by Content-ID whatever their order', () => {
    const results = matchBatchResponses(ops, [
      part(200),
      part(201, { contentId: '3', changeSetIndex: 0 }),
      part(202, { contentId: '1', changeSetIndex: 0 }),
      part(203, { contentId: '2', changeSetIndex: 0 }),
      part(204),
    ]);
    expect(results.map((r) => r.response?.status)).toEqual([200, 202, 203, 201, 204]);
    expect(results.every((r) => r.outcome === 'succeeded')).toBe(true);
  });

  it('reports a failed change set: the named operation failed, the others rolled back, later ones run or not', () => {
    const error = part(400, { contentId: '2', body: { error: { code: '0x1', message: 'bad' } } });
    expect(matchBatchResponses(ops, [part(200), error, part(204)]).map((r) => r.outcome)).toEqual([
      'succeeded',
      'rolledBack',
      'failed',
      'rolledBack',
      'succeeded',
    ]);
    // Without a Content-ID on the error, every operation of the change set failed.
    expect(matchBatchResponses(ops, [part(200), part(500)]).map((r) => r.outcome)).toEqual(['succeeded', 'failed', 'failed', 'failed', 'notExecuted']);
    // A failure wrapped in a change-set response.
    expect(matchBatchResponses(ops, [part(200), part(400, { contentId: '1', changeSetIndex: 0 })]).map((r) => r.outcome)).toEqual([
      'succeeded',
      'failed',
      'rolledBack',
      'rolledBack',
      'notExecuted',
    ]);
  });

  it('throws malformed_response when the parts cannot belong to the operations', () => {
    expect(thrown(() => matchBatchResponses(ops, [part(200), part(204), part(204), part(204), part(204), part(204)])).code).toBe(ErrorCode.malformedResponse);
    expect(thrown(() => matchBatchResponses(ops, [part(200, { changeSetIndex: 0 })])).message).toMatch(/was sent on its own/);
    expect(thrown(() => matchBatchResponses(ops, [part(200), part(204, { contentId: '9', changeSetIndex: 0 })])).message).toMatch(/no answer for Content-ID 1/);
  });
});
