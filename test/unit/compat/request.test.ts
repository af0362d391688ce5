import type { AxiosRequestConfig } from 'axios';
import { AxiosHeaders } from 'axios';
import { DynamicsError } from '../../../src/errors';
import { resolveUrl, toCallOptions, toResult, toTokenSet } from '../../../src/compat/request';
import type { DynamicsRequestConfig } from '../../../src/compat/types';

const RESOURCE = 'https://contoso.crm4.dynamics.com';

function invalidArgument(fn: () => unknown): DynamicsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DynamicsError);
    expect((err as DynamicsError).code).toBe('invalid_argument');
    return err as DynamicsError;
  }
  throw new Error('expected an invalid_argument DynamicsError');
}

describe('toCallOptions', () => {
  it('honours headers, params, timeout, responseType and signal', () => {
    const signal = new AbortController().signal;
    const ignored: string[] = [];
    const out = toCallOptions(
      'GET',
      {
        headers: { Prefer: 'odata.include-annotations="*"', 'X-Count': 3, 'X-Off': false, 'X-None': null, Accept: ['application/json', 'text/plain'] },
        params: { $select: 'name', $top: 5, $count: true, skipped: undefined, when: new Date('2024-01-02T03:04:05Z') },
        timeout: 1500,
        responseType: 'text',
        signal,
      },
      (f) => ignored.push(f),
    );
    expect(out).toEqual({
      headers: { Prefer: 'odata.include-annotations="*"', 'X-Count': '3', Accept: 'application/json, text/plain' },
      params: { $select: 'name', $top: 5, $count: true, when: '2024-01-02T03:04:05.000Z' },
      timeoutInMs: 1500,
      responseType: 'text',
      abortSignal: signal,
    });
    expect(ignored).toEqual([]);
  });

  it("merges axios's common and per-method header groups under the top-level headers", () => {
    const out = toCallOptions('PATCH', { headers: { common: { 'X-A': 'common', 'X-B': 'common' }, patch: { 'X-B': 'patch' }, get: { 'X-C': 'get' }, 'x-a': 'top' } }, () => undefined);
    expect(out.headers).toEqual({ 'X-B': 'patch', 'x-a': 'top' });
  });

  it('accepts an AxiosHeaders instance and URLSearchParams', () => {
    const headers = new AxiosHeaders({ 'If-Match': '*' });
    const out = toCallOptions('PATCH', { headers, params: new URLSearchParams({ $select: 'name' }) }, () => undefined);
    expect(out.headers).toEqual({ 'If-Match': '*' });
    expect(out.params).toEqual({ $select: 'name' });
  });

  it('reports fields that have no effect, once each, and reads timeout 0 as the default', () => {
    const ignored: string[] = [];
    const out = toCallOptions('GET', { timeout: 0, validateStatus: () => true, baseURL: 'x' } as DynamicsRequestConfig, (f) => ignored.push(f));
    expect(out).toEqual({});
    expect(ignored).toEqual(['validateStatus', 'baseURL']);
  });

  it('refuses what it cannot honour, naming the field, before anything is sent', () => {
    expect(invalidArgument(() => toCallOptions('GET', { responseType: 'stream' }, () => undefined)).message).toContain('options.responseType');
    expect(invalidArgument(() => toCallOptions('GET', { headers: { 'X-A': 'a\r\nInjected: 1' } }, () => undefined)).message).toContain('options.headers.X-A');
    expect(invalidArgument(() => toCallOptions('GET', { headers: { 'bad name': 'x' } }, () => undefined)).message).toContain('header name');
    expect(invalidArgument(() => toCallOptions('GET', { params: { ids: ['a', 'b'] } } as DynamicsRequestConfig, () => undefined)).message).toContain('options.params.ids');
    expect(invalidArgument(() => toCallOptions('GET', { timeout: -1 }, () => undefined)).message).toContain('options.timeout');
    expect(invalidArgument(() => toCallOptions('GET', { signal: {} }, () => undefined)).message).toContain('options.signal');
    const dup = new URLSearchParams([['a', '1'], ['a', '2']]);
    expect(invalidArgument(() => toCallOptions('GET', { params: dup }, () => undefined)).message).toContain('twice');
  });

  // The compile-time half (AxiosRequestConfig assignable to DynamicsRequestConfig) is checked by tsc in test/packaging/compat-types.check.ts.
  it('accepts a value typed as axios AxiosRequestConfig', () => {
    const axiosConfig: AxiosRequestConfig = { headers: { Prefer: 'return=representation' }, params: { $top: 1 }, timeout: 10, responseType: 'json' };
    expect(toCallOptions('POST', axiosConfig, () => undefined)).toEqual({ headers: { Prefer: 'return=representation' }, params: { $top: 1 }, timeoutInMs: 10, responseType: 'json' });
  });
});

describe('resolveUrl', () => {
  it('resolves paths against DYNAMICS_RESOURCE, with or without a leading slash', () => {
    expect(resolveUrl('/api/data/v9.2/accounts', RESOURCE)).toBe(`${RESOURCE}/api/data/v9.2/accounts`);
    expect(resolveUrl('api/data/v9.2/accounts', RESOURCE)).toBe(`${RESOURCE}/api/data/v9.2/accounts`);
    expect(resolveUrl('api/data/v9.2/accounts', `${RESOURCE}/`)).toBe(`${RESOURCE}/api/data/v9.2/accounts`);
  });

  it('keeps a full URL on the resource host exactly as written', () => {
    const url = `${RESOURCE}/api/data/v9.2/accounts?$filter=name eq 'O''Brien'`;
    expect(resolveUrl(url, RESOURCE)).toBe(url);
  });

  it('refuses a URL on another host: the token is only for the resource', () => {
    expect(invalidArgument(() => resolveUrl('https://evil.example/api/data/v9.2/accounts', RESOURCE)).message).toContain('https://evil.example');
    invalidArgument(() => resolveUrl('', RESOURCE));
    invalidArgument(() => resolveUrl(undefined, RESOURCE));
  });
});

describe('toResult', () => {
  const entityId = `${RESOURCE}/api/data/v9.2/accounts(7D577253-3EF0-4A0A-BB7F-8335C2596E70)`;

  it('returns { id, entityId } for a 204 create', () => {
    expect(toResult({ status: 204, headers: { 'odata-entityid': entityId }, data: '' }, undefined, () => undefined)).toEqual({
      id: '7d577253-3ef0-4a0a-bb7f-8335c2596e70',
      entityId,
    });
  });

  it('keeps an alternate key as the server wrote it', () => {
    const alt = `${RESOURCE}/api/data/v9.2/accounts(accountnumber='A%2F1')`;
    expect(toResult({ status: 204, headers: { 'odata-entityid': alt }, data: undefined }, undefined, () => undefined)).toEqual({ id: "accountnumber='A/1'", entityId: alt });
  });

  it('returns {} for a 204 without OData-EntityId (a delete), and the body otherwise', () => {
    expect(toResult({ status: 204, headers: {}, data: '' }, undefined, () => undefined)).toEqual({});
    expect(toResult({ status: 200, headers: {}, data: { value: [] } }, undefined, () => undefined)).toEqual({ value: [] });
    expect(toResult({ status: 201, headers: { 'odata-entityid': entityId }, data: { name: 'A' } }, undefined, () => undefined)).toEqual({ name: 'A' });
    expect(toResult({ status: 200, headers: {}, data: '' }, 'text', () => undefined)).toBe('');
  });

  it('does not turn a successful write into a failure when OData-EntityId is unreadable', () => {
    const seen: string[] = [];
    expect(toResult({ status: 204, headers: { 'odata-entityid': 'garbage' }, data: '' }, undefined, (h) => seen.push(h))).toEqual({ id: '', entityId: 'garbage' });
    expect(seen).toEqual(['garbage']);
  });
});

describe('toTokenSet', () => {
  it('gives the fields of an Entra v1 token response, numbers as decimal strings', () => {
    const now = Date.UTC(2025, 0, 1);
    const set = toTokenSet(
      { accessToken: 'at', tokenType: 'Bearer', expiresOn: new Date(now + 3599_000), scopes: [`${RESOURCE}/user_impersonation`], refreshToken: 'rt' },
      RESOURCE,
      now,
    );
    expect(set).toEqual({
      token_type: 'Bearer',
      access_token: 'at',
      refresh_token: 'rt',
      expires_in: '3599',
      expires_on: String(now / 1000 + 3599),
      resource: RESOURCE,
      scope: `${RESOURCE}/user_impersonation`,
    });
    const app = toTokenSet({ accessToken: 'at', tokenType: 'Bearer', expiresOn: new Date(now - 1000), scopes: [] }, RESOURCE, now);
    expect(app.expires_in).toBe('0');
    expect('refresh_token' in app).toBe(false);
    expect('scope' in app).toBe(false);
  });
});
