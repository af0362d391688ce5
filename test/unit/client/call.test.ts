/**
 * call.ts: the one place where a call becomes a pipeline request. Headers (ours, the method's, the
 * caller's), per-call options, body serialisation and the retry-safety rule.
 */
import { isRetrySafe, prepareRequest, type CallSpec } from '../../../src/client/call';
import { DynamicsError, ErrorCode } from '../../../src/errors';

const URL = 'https://org.crm.dynamics.com/api/data/v9.2/accounts';
const prepare = (spec: Partial<CallSpec>, timeout = 1_000) => prepareRequest({ method: 'GET', url: URL, ...spec }, timeout);

function refused(spec: Partial<CallSpec>): DynamicsError {
  try {
    prepare(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
    return error as DynamicsError;
  }
  throw new Error('expected prepareRequest to refuse the spec');
}

describe('headers', () => {
  it('a read asks for JSON, OData 4.0 and never a cached 304', () => {
    expect(prepare({}).headers).toEqual({ Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0', 'Accept-Encoding': 'gzip, deflate, br', 'If-None-Match': 'null' });
  });

  it('a write with a body says it is JSON; a write without one sends no Content-Type and no If-None-Match', () => {
    expect(prepare({ method: 'POST', body: { name: 'A' } }).headers).toEqual({
      Accept: 'application/json',
      'OData-MaxVersion': '4.0',
      'OData-Version': '4.0',
      'Accept-Encoding': 'gzip, deflate, br',
      'Content-Type': 'application/json; charset=utf-8',
    });
    expect(prepare({ method: 'DELETE' }).headers).toEqual({ Accept: 'application/json', 'OData-MaxVersion': '4.0', 'OData-Version': '4.0', 'Accept-Encoding': 'gzip, deflate, br' });
  });

  it("the method's headers come after ours and leave out undefined values; the caller's win over both, whatever their case", () => {
    const request = prepare({
      method: 'PATCH',
      body: {},
      headers: { 'If-Match': '*', Prefer: undefined },
      options: { headers: { accept: 'application/json;odata.metadata=full', 'if-match': 'W/"7"', 'MSCRM.BypassCustomPluginExecution': 'true' } },
    });
    expect(request.headers).toEqual({
      'OData-MaxVersion': '4.0',
      'OData-Version': '4.0',
      'Accept-Encoding': 'gzip, deflate, br',
      'Content-Type': 'application/json; charset=utf-8',
      accept: 'application/json;odata.metadata=full',
      'if-match': 'W/"7"',
      'MSCRM.BypassCustomPluginExecution': 'true',
    });
  });

  it('each request gets its own header object (policies write the token into it)', () => {
    const a = prepare({});
    const b = prepare({});
    a.headers.Authorization = 'Bearer x';
    expect(b.headers.Authorization).toBeUndefined();
    expect(prepare({}).headers.Authorization).toBeUndefined();
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a CR/LF in a value (header injection)', { 'X-A': 'a\r\nX-Injected: 1' }, /^options\.headers\.X-A: expected a string value without line breaks/],
    ['a NUL in a value', { 'X-A': 'a\0b' }, /^options\.headers\.X-A: /],
    ['another control character in a value', { 'X-A': 'a\u0001b' }, /^options\.headers\.X-A: /],
    ['a header name with a space', { 'X A': 'a' }, /^options\.headers\.X A: /],
    ['a value that is not a string', { 'X-A': 5 as unknown as string }, /^options\.headers\.X-A: /],
  ])('refuses %s before anything is sent', (_what, headers, message) => {
    expect(refused({ options: { headers } }).message).toMatch(message);
  });

  it('accepts a tab inside a value (RFC 9110 allows HTAB)', () => {
    expect(prepare({ options: { headers: { 'X-A': 'a\tb' } } }).headers['X-A']).toBe('a\tb');
  });

  it('refuses an Authorization header in any case, without quoting it', () => {
    for (const name of ['Authorization', 'authorization', 'AUTHORIZATION']) {
      const error = refused({ options: { headers: { [name]: 'Bearer my-own-token' } } });
      expect(error.message).toMatch(/^options\.headers\.Authorization: /);
      expect(error.message).not.toContain('my-own-token');
    }
  });

  it('impersonation sends CallerObjectId, lower-cased, and refuses what is not a GUID', () => {
    expect(prepare({ options: { impersonate: { callerObjectId: '{2DBBC5FC-DBF6-59E7-AF28-3377D0BAF9EC}' } } }).headers.CallerObjectId).toBe('2dbbc5fc-dbf6-59e7-af28-3377d0baf9ec');
    expect(refused({ options: { impersonate: { callerObjectId: 'someone' } } }).message).toMatch(/^options\.impersonate\.callerObjectId: /);
  });
});

describe('per-call options', () => {
  it('the deadline is now + the call’s timeoutInMs, else the client’s', () => {
    const before = Date.now();
    const own = prepare({ options: { timeoutInMs: 50_000 } }, 1_000);
    const fallback = prepare({}, 1_000);
    const after = Date.now();
    expect(own.deadline).toBeGreaterThanOrEqual(before + 50_000);
    expect(own.deadline).toBeLessThanOrEqual(after + 50_000);
    expect(fallback.deadline).toBeGreaterThanOrEqual(before + 1_000);
    expect(fallback.deadline).toBeLessThanOrEqual(after + 1_000);
  });

  it.each([0, -1, Number.NaN, '5000'])('refuses timeoutInMs %p', (timeoutInMs) => {
    expect(refused({ options: { timeoutInMs: timeoutInMs as number } }).message).toMatch(/^options\.timeoutInMs: expected a number of milliseconds > 0/);
  });

  it('passes the caller’s AbortSignal through, and refuses anything else', () => {
    const controller = new AbortController();
    expect(prepare({ options: { abortSignal: controller.signal } }).abortSignal).toBe(controller.signal);
    expect(refused({ options: { abortSignal: { aborted: false } as AbortSignal } }).message).toMatch(/^options\.abortSignal: expected an AbortSignal/);
  });
});

describe('body', () => {
  it('serialises objects as JSON and sends strings and Buffers as they are', () => {
    expect(prepare({ method: 'POST', body: { name: 'Ä' } }).body).toBe('{"name":"Ä"}');
    expect(prepare({ method: 'POST', body: '--batch_x--' }).body).toBe('--batch_x--');
    const bytes = Buffer.from([0, 1, 2]);
    expect(prepare({ method: 'POST', body: bytes }).body).toBe(bytes);
    expect(prepare({ method: 'POST' }).body).toBeUndefined();
  });
});

describe('retry safety', () => {
  it('reads, PUT and DELETE are safe; POST is not; PATCH only with If-Match or If-None-Match (any case)', () => {
    expect(prepare({ method: 'GET' }).retrySafe).toBe(true);
    expect(prepare({ method: 'PUT', body: {} }).retrySafe).toBe(true);
    expect(prepare({ method: 'DELETE' }).retrySafe).toBe(true);
    expect(prepare({ method: 'POST', body: {} }).retrySafe).toBe(false);
    expect(prepare({ method: 'PATCH', body: {} }).retrySafe).toBe(false);
    expect(prepare({ method: 'PATCH', body: {}, headers: { 'If-Match': '*' } }).retrySafe).toBe(true);
    expect(prepare({ method: 'PATCH', body: {}, headers: { 'If-None-Match': '*' } }).retrySafe).toBe(true);
    expect(prepare({ method: 'PATCH', body: {}, options: { headers: { 'if-match': 'W/"1"' } } }).retrySafe).toBe(true);
    // An undefined method header is left out, so it does not make the PATCH safe.
    expect(prepare({ method: 'PATCH', body: {}, headers: { 'If-Match': undefined } }).retrySafe).toBe(false);
  });

  it('a spec can override the method rule (a $batch of GETs is a safe POST; a GET can be declared unsafe)', () => {
    expect(prepare({ method: 'POST', body: '', retrySafe: true }).retrySafe).toBe(true);
    expect(prepare({ method: 'GET', retrySafe: false }).retrySafe).toBe(false);
  });

  it('isRetrySafe reads the headers as sent', () => {
    expect(isRetrySafe('PATCH', { 'IF-NONE-MATCH': '*' })).toBe(true);
    expect(isRetrySafe('PATCH', { Prefer: 'return=representation' })).toBe(false);
    expect(isRetrySafe('POST', { 'If-Match': '*' })).toBe(false);
  });
});
