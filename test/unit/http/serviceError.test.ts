import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode } from '../../../src/errors';
import { headerValue, parseRetryAfter, parseServiceError } from '../../../src/http/serviceError';

const REAL = path.resolve(__dirname, '../../../../shared/fixtures/real');

describe('parseServiceError', () => {
  it('reads the real Dataverse error body', () => {
    const text = fs.readFileSync(path.join(REAL, 'error-resource-not-found-segment.json'), 'utf8');
    const info = parseServiceError(404, { 'Content-Type': 'application/json; odata.metadata=minimal', 'x-ms-service-request-id': 'abc-123' }, text);
    expect(info.code).toBe('0x8006088a');
    expect(info.message).toBe("HTTP 404 Not Found: Resource not found for the segment 'leadsss'.");
    expect(info.serviceMessage).toBe("Resource not found for the segment 'leadsss'.");
    expect(info.requestId).toBe('abc-123');
    expect((info.body as { error: { innererror: { type: string } } }).error.innererror.type).toBe('Microsoft.OData.UriParser.ODataUnrecognizedPathException');
  });

  it('reads a batch part error body (already parsed) and REQ_ID', () => {
    const info = parseServiceError(400, { REQ_ID: 'de4c5227' }, { error: { code: '0x80044331', message: 'A validation error occurred.' } });
    expect(info).toMatchObject({ code: '0x80044331', message: 'HTTP 400 Bad Request: A validation error occurred.', requestId: 'de4c5227' });
  });

  it('falls back to http_error when the code is empty, as it often is', () => {
    const info = parseServiceError(400, { 'content-type': 'application/json' }, '{"error":{"code":"","message":"Bad Request - Error in query syntax."}}');
    expect(info.code).toBe(ErrorCode.httpError);
    expect(info.message).toBe('HTTP 400 Bad Request: Bad Request - Error in query syntax.');
  });

  it('reads a 429 with Retry-After', () => {
    const info = parseServiceError(
      429,
      { 'content-type': 'application/json', 'retry-after': '7' },
      '{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}',
    );
    expect(info).toMatchObject({ code: '0x80072322', retryAfterInMs: 7000 });
  });

  it('turns an HTML 502 from a gateway into a short, clean message without the page', () => {
    const html = `<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>body{}</style></head><body>${'<p>detail</p>'.repeat(5000)}</body></html>`;
    const info = parseServiceError(502, { 'content-type': 'text/html; charset=utf-8' }, html);
    expect(info.code).toBe(ErrorCode.malformedResponse);
    expect(info.message).toBe('HTTP 502 Bad Gateway: the response was not JSON (text/html): "502 Bad Gateway"');
    expect(info.body).toBeUndefined();
  });

  it('shortens an HTML page without a title and strips tags and scripts', () => {
    const html = `<html><script>var secret = 1;</script><body><h1>Service   Unavailable</h1>\n${'x'.repeat(5000)}</body></html>`;
    const info = parseServiceError(503, { 'Content-Type': 'text/html' }, Buffer.from(html));
    expect(info.message).toMatch(/^HTTP 503 Service Unavailable: the response was not JSON \(text\/html\): "Service Unavailable x+…"$/);
    expect(info.message.length).toBeLessThan(220);
    expect(info.message).not.toContain('secret');
    expect(info.message).not.toContain('<');
  });

  it('never echoes a token found in a body', () => {
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL29yZyJ9.c2lnbmF0dXJl';
    const info = parseServiceError(500, { 'content-type': 'text/plain' }, `Authorization: Bearer ${jwt} failed; token ${jwt}; client_secret=hunter2`);
    expect(info.message).not.toContain(jwt);
    expect(info.message).not.toContain('hunter2');
    expect(info.message).not.toContain('eyJ0eXAi');
  });

  it.each<[string, string | undefined, string]>([
    ['truncated JSON', 'application/json', 'HTTP 500 Internal Server Error: the JSON error body does not parse (truncated?): "{"error":{"code":"0x8004","mess"'],
    ['JSON-looking text without a content type', undefined, 'HTTP 500 Internal Server Error: the JSON error body does not parse (truncated?): "{"error":{"code":"0x8004","mess"'],
  ])('reports %s as malformed_response', (_name, contentType, message) => {
    const info = parseServiceError(500, contentType ? { 'content-type': contentType } : {}, '{"error":{"code":"0x8004","mess');
    expect(info.code).toBe(ErrorCode.malformedResponse);
    expect(info.message).toBe(message);
  });

  it('handles empty bodies and unknown statuses', () => {
    expect(parseServiceError(404, {}, '')).toEqual({ code: ErrorCode.httpError, message: 'HTTP 404 Not Found (empty body)' });
    expect(parseServiceError(405, undefined, undefined)).toEqual({ code: ErrorCode.httpError, message: 'HTTP 405 Method Not Allowed' });
    expect(parseServiceError(599, null, '  ')).toEqual({ code: ErrorCode.httpError, message: 'HTTP 599 (empty body)' });
  });

  it.each<[unknown, string]>([
    [{ error: 'invalid_token', error_description: 'The token is expired' }, 'HTTP 401 Unauthorized: invalid_token: The token is expired'],
    [{ Message: 'An error has occurred.' }, 'HTTP 500 Internal Server Error: An error has occurred.'],
    [{ error: { code: '0x1', innererror: { message: 'inner only' } } }, 'HTTP 500 Internal Server Error: inner only'],
    [{ something: 'else' }, 'HTTP 500 Internal Server Error: the JSON body carried no error message'],
    [[1, 2], 'HTTP 500 Internal Server Error: the JSON body carried no error message'],
  ])('reads other JSON shapes: %j', (body, message) => {
    const status = (body as { error?: string }).error === 'invalid_token' ? 401 : 500;
    expect(parseServiceError(status, { 'content-type': 'application/json' }, JSON.stringify(body)).message).toBe(message);
  });

  it('reads a JSON string body as carrying no error message', () => {
    expect(parseServiceError(500, { 'content-type': 'application/json' }, '"just a string"').message).toBe(
      'HTTP 500 Internal Server Error: the JSON body carried no error message',
    );
  });

  it('clips an absurdly long service message', () => {
    const info = parseServiceError(400, { 'content-type': 'application/json' }, JSON.stringify({ error: { code: '0x1', message: 'm'.repeat(100_000) } }));
    expect(info.message.length).toBeLessThan(2100);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each<[string | number | string[] | undefined | null, number | undefined]>([
    ['5', 5000],
    [' 0 ', 0],
    ['1.5', 1500],
    [3, 3000],
    [['2', '9'], 2000],
    ['00:00:05', 5000],
    ['01:02:03', 3723000],
    ['Thu, 01 Jan 2026 00:00:10 GMT', 10000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['Thursday, 01-Jan-26 00:00:10 GMT', 10000],
    ['-1', undefined],
    ['abc', undefined],
    ['', undefined],
    ['2026-13-45', undefined],
    ['Mon, 99 Foo 2026 99:99:99 GMT', undefined],
    [-2, undefined],
    [Number.NaN, undefined],
    [undefined, undefined],
    [null, undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('defaults now to the clock', () => {
    const ms = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString());
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
});

describe('headerValue', () => {
  it('finds headers in any case and joins arrays', () => {
    expect(headerValue({ 'Retry-After': '5' }, 'retry-after')).toBe('5');
    expect(headerValue({ 'set-cookie': ['a', 'b'] }, 'Set-Cookie')).toBe('a, b');
    expect(headerValue({ 'content-length': 12 }, 'Content-Length')).toBe('12');
    expect(headerValue(undefined, 'x')).toBeUndefined();
  });
});
