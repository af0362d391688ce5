/**
 * Our encoder's output must be readable by the emulator's $batch reader, and the emulator's
 * responses by our decoder: the loopback tests depend on both sides agreeing on the framing the
 * Microsoft docs show.
 */
import { parseBatch, writeBatchResponse } from '../../../src/emulator/dataverse/batch';
import { decodeBatchResponse, encodeBatch, matchBatchResponses } from '../../../src/odata/batch';
import { buildQueryString } from '../../../src/odata/query';
import { entityPath } from '../../../src/odata/keys';

const ROOT = 'https://127.0.0.1:8443/api/data/v9.2/';

it('the emulator reads what encodeBatch writes', () => {
  const encoded = encodeBatch(
    [
      { method: 'GET', url: `accounts${buildQueryString({ filter: { name: "O'Brien & Zoë #1" }, select: ['name'] })}` },
      {
        changeSet: [
          { method: 'POST', url: 'accounts', body: { name: 'A' } },
          { method: 'POST', url: 'contacts', body: { lastname: 'B', 'parentcustomerid_account@odata.bind': '$1' } },
          { method: 'PATCH', url: entityPath('accounts', { accountnumber: "O'B 1" }), body: { name: 'C' }, headers: { 'If-Match': '*' } },
        ],
      },
    ],
    { apiRootUrl: ROOT },
  );
  const items = parseBatch(encoded.body, encoded.contentType);
  expect(items).toHaveLength(2);
  const [get, cs] = items;
  expect(get.kind).toBe('request');
  if (get.kind !== 'request' || cs.kind !== 'changeset') throw new Error('unexpected shape');
  expect(get.request.method).toBe('GET');
  expect(get.request.url).toBe(
    "/api/data/v9.2/accounts?$select=name&$filter=name%20eq%20'O''Brien%20%26%20Zo%C3%AB%20%231'",
  );
  expect(cs.requests.map((r) => [r.method, r.url, r.contentId])).toEqual([
    ['POST', '/api/data/v9.2/accounts', '1'],
    ['POST', '/api/data/v9.2/contacts', '2'],
    ['PATCH', "/api/data/v9.2/accounts(accountnumber='O''B%201')", '3'],
  ]);
  expect(JSON.parse(cs.requests[1].body)).toEqual({ lastname: 'B', 'parentcustomerid_account@odata.bind': '$1' });
  expect(cs.requests[2].headers['if-match']).toBe('*');
  expect(cs.requests[0].headers['content-type']).toBe('application/json; type=entry');
});

it('decodeBatchResponse reads what the emulator writes', () => {
  const body = writeBatchResponse('batchresponse_x', [
    { kind: 'response', part: { status: 200, headers: { 'Content-Type': 'application/json; odata.metadata=minimal' }, body: '{"value":[{"name":"Zoë"}]}' } },
    {
      kind: 'changeset',
      boundary: 'changesetresponse_y',
      parts: [
        { status: 204, headers: { 'OData-EntityId': `${ROOT}accounts(00000000-0000-0000-0000-000000000001)` }, body: '', contentId: '1' },
        { status: 204, headers: {}, body: '', contentId: '2' },
      ],
    },
  ]);
  const parts = decodeBatchResponse(Buffer.from(body), 'multipart/mixed; boundary=batchresponse_x');
  expect(parts.map((p) => [p.status, p.contentId, p.changeSetIndex])).toEqual([
    [200, undefined, undefined],
    [204, '1', 0],
    [204, '2', 0],
  ]);
  expect(parts[0].body).toEqual({ value: [{ name: 'Zoë' }] });
  const ops = encodeBatch(
    [{ method: 'GET', url: 'accounts' }, { changeSet: [{ method: 'POST', url: 'a', body: {} }, { method: 'POST', url: 'b', body: {} }] }],
    { apiRootUrl: ROOT },
  ).operations;
  expect(matchBatchResponses(ops, parts).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
});
