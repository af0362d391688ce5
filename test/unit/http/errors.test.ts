import { inspect } from 'node:util';
import { AuthenticationError, DynamicsError, NetworkError, NotFoundError, PreconditionFailedError, ThrottledError, TimeoutError } from '../../../src/errors';
import { parseJsonBody, responseError, transportErrorToDynamicsError } from '../../../src/http/errors';
import { proxyApplies } from '../../../src/http/transport';
import { TransportError, type HttpResponse } from '../../../src/http/types';

const request = { method: 'GET', url: 'https://org.example/api/data/v9.2/accounts(1)' } as const;
const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers: { 'content-type': 'application/json; odata.metadata=minimal', ...headers },
  body: Buffer.from(JSON.stringify(body)),
});

describe('responseError', () => {
  it.each([
    [401, AuthenticationError],
    [403, AuthenticationError],
    [404, NotFoundError],
    [412, PreconditionFailedError],
    [429, ThrottledError],
    [400, DynamicsError],
    [500, DynamicsError],
  ])('HTTP %i gives %p with the service code, message, request id and request', (status, type) => {
    const error = responseError(json(status, { error: { code: '0x80040217', message: 'Entity does not exist' } }, { 'x-ms-service-request-id': 'rid-1', 'retry-after': '3' }), request);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ status, code: '0x80040217', requestId: 'rid-1', retryAfterInMs: 3000, request });
    expect(error.message).toContain('Entity does not exist');
    expect(error.message).toContain(request.url);
    expect(error.response?.status).toBe(status);
  });

  it('an empty Dataverse code becomes http_error; REQ_ID is read too', () => {
    const error = responseError(json(400, { error: { code: '', message: 'bad' } }, { req_id: 'r2' }), request);
    expect(error.code).toBe('http_error');
    expect(error.requestId).toBe('r2');
  });

  it('an HTML 502 page is a clean malformed_response error with a short excerpt', () => {
    const html = `<html><head><title>502 Bad Gateway</title></head><body>${'x'.repeat(5000)}</body></html>`;
    const error = responseError({ status: 502, headers: { 'content-type': 'text/html' }, body: Buffer.from(html) }, request);
    expect(error).toBeInstanceOf(DynamicsError);
    expect(error.code).toBe('malformed_response');
    expect(error.status).toBe(502);
    expect(error.message.length).toBeLessThan(600);
  });

  it('a truncated JSON body is malformed_response', () => {
    const error = responseError({ status: 500, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"error":{"code":"0x8') }, request);
    expect(error.code).toBe('malformed_response');
  });

  it('set-cookie never reaches the error', () => {
    const error = responseError(json(404, { error: { code: 'x', message: 'y' } }, { 'set-cookie': 'ARRAffinity=abc' }), request);
    expect(JSON.stringify(error.response?.headers)).not.toContain('ARRAffinity');
  });
});

describe('parseJsonBody', () => {
  it('truncated JSON in a 200 is a malformed_response DynamicsError, not a SyntaxError', () => {
    expect(() => parseJsonBody({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"value":[{"a":1},') }, request)).toThrow(
      expect.objectContaining({ code: 'malformed_response', status: 200 }),
    );
  });
  it('strips a byte order mark', () => {
    expect(parseJsonBody({ status: 200, headers: {}, body: Buffer.from('\ufeff{"a":1}') }, request)).toEqual({ a: 1 });
  });
});

describe('transportErrorToDynamicsError', () => {
  it('maps kinds to NetworkError, TimeoutError, aborted and invalid_argument', () => {
    expect(transportErrorToDynamicsError(new TransportError('network', 'socket hang up', 'ECONNRESET'), request)).toBeInstanceOf(NetworkError);
    const t = transportErrorToDynamicsError(new TransportError('timeout', 'no response'), request);
    expect(t).toBeInstanceOf(TimeoutError);
    expect(t.code).toBe('timeout');
    expect(transportErrorToDynamicsError(new TransportError('aborted', 'aborted'), request).code).toBe('aborted');
    expect(transportErrorToDynamicsError(new TransportError('invalid', 'bad path'), request).code).toBe('invalid_argument');
  });
  it('holds nothing but method and URL of the request', () => {
    const e = transportErrorToDynamicsError(new TransportError('network', 'boom'), request);
    expect(inspect(e, { showHidden: true, depth: 5 })).not.toMatch(/authorization/i);
  });
});

describe('proxyApplies', () => {
  const target = new URL('https://org.crm.dynamics.com');
  it('follows HTTPS_PROXY and NO_PROXY conventions', () => {
    expect(proxyApplies(target, {})).toBe(false);
    expect(proxyApplies(target, { HTTPS_PROXY: 'http://proxy:3128' })).toBe(true);
    expect(proxyApplies(target, { https_proxy: 'http://proxy:3128', NO_PROXY: '*' })).toBe(false);
    expect(proxyApplies(target, { https_proxy: 'http://proxy:3128', NO_PROXY: 'localhost,.dynamics.com' })).toBe(false);
    expect(proxyApplies(target, { https_proxy: 'http://proxy:3128', no_proxy: 'crm.dynamics.com' })).toBe(false);
    expect(proxyApplies(target, { https_proxy: 'http://proxy:3128', no_proxy: 'dynamics.com:8443' })).toBe(true);
    expect(proxyApplies(target, { HTTP_PROXY: 'http://proxy:3128' })).toBe(false);
    expect(proxyApplies(target, { ALL_PROXY: 'http://proxy:3128', NO_PROXY: 'example.org' })).toBe(true);
  });
});
