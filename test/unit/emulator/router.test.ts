/**
 * The emulator's Web API router: handlers register routes per target kind and method, the first that
 * answers wins, methods nobody registered are 405, and a new capability (FetchXML, say) is a handler
 * placed ahead of the one whose requests it takes over.
 */
import { loadModel } from '../../../src/csdl';
import type { ApiRequest, Handler } from '../../../src/emulator/dataverse/context';
import { HANDLERS } from '../../../src/emulator/dataverse/handlers';
import { MetadataApi } from '../../../src/emulator/dataverse/metadata';
import { DataverseRouter } from '../../../src/emulator/dataverse/router';
import { buildSchema } from '../../../src/emulator/dataverse/schema';
import { jsonResponse } from '../../../src/emulator/dataverse/shared/responses';
import { DataStore } from '../../../src/emulator/dataverse/store';
import { stableGuid } from '../../../src/emulator/ids';
import { DEFAULT_METADATA_XML } from '../../../src/emulator/schema/default-metadata';

const schema = buildSchema(loadModel(DEFAULT_METADATA_XML));

function router(handlers: readonly Handler[] = HANDLERS): DataverseRouter {
  const store = new DataStore(schema, undefined);
  store.load();
  return new DataverseRouter({ schema, store, metadata: new MetadataApi(schema, [], stableGuid), metadataXml: DEFAULT_METADATA_XML, environmentUrl: 'https://127.0.0.1:1', handlers });
}

function request(method: string, path: string, query = '', body = ''): ApiRequest {
  return {
    method,
    version: 'v9.2',
    path,
    query,
    headers: body ? { 'content-type': 'application/json' } : {},
    body,
    caller: { oid: '11111111-1111-4111-8111-111111111111', systemUserId: '22222222-2222-4222-8222-222222222222', kind: 'app' },
  };
}

function errorOf(res: { status: number; body: string }): { status: number; code: string; message: string } {
  const { error } = JSON.parse(res.body) as { error: { code: string; message: string } };
  return { status: res.status, ...error };
}

/** A stand-in for a later FetchXML handler: it takes collection GETs that carry `fetchXml`, and passes on the rest. */
const fetchXml: Handler = {
  name: 'fetchxml',
  routes: () => ({
    collection: {
      GET: (t, ctx) => (/(^|&)fetchXml=/.test(ctx.req.query) ? jsonResponse(200, { handledBy: 'fetchxml', set: t.set.name }) : undefined),
    },
  }),
};

describe('DataverseRouter', () => {
  it('asks a handler registered ahead first, and the next one when it passes', () => {
    const api = router([fetchXml, ...HANDLERS]);
    const taken = api.execute(request('GET', 'accounts', 'fetchXml=%3Cfetch%2F%3E'));
    expect({ status: taken.status, body: JSON.parse(taken.body) }).toEqual({ status: 200, body: { handledBy: 'fetchxml', set: 'accounts' } });
    const passed = api.execute(request('GET', 'accounts', '$select=name'));
    expect(passed.status).toBe(200);
    expect(JSON.parse(passed.body)).toMatchObject({ '@odata.context': 'https://127.0.0.1:1/api/data/v9.2/$metadata#accounts(name)', value: [] });
  });

  it('answers 405 for a method no handler registered for the target, with the method named', () => {
    const api = router();
    expect(errorOf(api.execute(request('PUT', 'accounts')))).toEqual({ status: 405, code: '0x80060888', message: "The requested resource does not support http method 'PUT'." });
    expect(errorOf(api.execute(request('HEAD', '$metadata')))).toMatchObject({ status: 405, message: expect.stringContaining("'HEAD'") });
    // Without the records handler nobody creates rows: the method check follows what is registered.
    const readOnly = router(HANDLERS.filter((h) => h.name !== 'records'));
    expect(errorOf(readOnly.execute(request('POST', 'accounts', '', '{"name":"x"}')))).toMatchObject({ status: 405 });
    expect(readOnly.execute(request('GET', 'accounts')).status).toBe(200);
  });

  it('resolves the path before the method check: a bad key is a 400 whatever the method', () => {
    const api = router();
    expect(errorOf(api.execute(request('POST', 'accounts(not-a-key)')))).toMatchObject({ status: 400 });
    expect(errorOf(api.execute(request('GET', 'nosuchset')))).toEqual({ status: 404, code: '0x8006088a', message: "Resource not found for the segment 'nosuchset'." });
  });

  it('gives each router its own handler state (routes() runs once per router)', () => {
    let calls = 0;
    const counting: Handler = {
      name: 'counting',
      routes: () => {
        let served = 0;
        calls++;
        return { serviceDocument: { GET: () => jsonResponse(200, { served: ++served }) } };
      },
    };
    const a = router([counting]);
    const b = router([counting]);
    a.execute(request('GET', ''));
    expect(JSON.parse(a.execute(request('GET', '')).body)).toEqual({ served: 2 });
    expect(JSON.parse(b.execute(request('GET', '')).body)).toEqual({ served: 1 });
    expect(calls).toBe(2);
  });

  it('never throws: an unexpected failure in a handler is a 500 in Dataverse error shape', () => {
    const failing: Handler = {
      name: 'failing',
      routes: () => ({
        serviceDocument: {
          GET: () => {
            throw new TypeError('boom');
          },
        },
      }),
    };
    expect(errorOf(router([failing]).execute(request('GET', '')))).toEqual({ status: 500, code: '0x80040216', message: 'An unexpected error occurred: boom' });
  });
});
