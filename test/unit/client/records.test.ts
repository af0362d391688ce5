/**
 * records.ts with a stub context: which request each method sends, and how upsert's createOnly and
 * delete read the `ambiguous` field of an outcome (the call was re-sent after a 502/504/reset, so the
 * first attempt may have landed). The loopback tests prove the same against real servers; these pin
 * every branch of the decision.
 */
import { deleteRecord, upsert } from '../../../src/client/operations/records';
import { NotFoundError, PreconditionFailedError } from '../../../src/errors';
import { API_ROOT, stubContext } from './stubContext';

const ID = '7D5C8F5E-1D1B-4A51-9B7E-4B8F0C6A2D11';
const id = ID.toLowerCase();
const exists = { status: 412, body: '{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}' };
const missing = { status: 404, body: '{"error":{"code":"0x80040217","message":"Does Not Exist"}}' };

describe('upsert', () => {
  it('createOnly sends a PATCH with If-None-Match: * and no If-Match, retry-safe by method rule', async () => {
    const ctx = stubContext({ status: 204 });
    await expect(upsert(ctx, 'accounts', ID, { name: 'A' }, { mode: 'createOnly' })).resolves.toBe(id);
    const [spec] = ctx.specs;
    expect(spec).toMatchObject({ method: 'PATCH', url: `${API_ROOT}accounts(${id})`, body: { name: 'A' } });
    expect(spec.headers).toMatchObject({ 'If-None-Match': '*', 'If-Match': undefined });
    expect(spec.retrySafe).toBeUndefined();
  });

  it('createOnly: "already exists" after an ambiguous re-send is our own first attempt, so it resolves with the id', async () => {
    await expect(upsert(stubContext({ ...exists, ambiguous: true }), 'accounts', `{${ID}}`, { name: 'A' }, { mode: 'createOnly' })).resolves.toBe(id);
  });

  it('createOnly: "already exists" without a re-send is a PreconditionFailedError', async () => {
    const error = await upsert(stubContext(exists), 'accounts', ID, { name: 'A' }, { mode: 'createOnly' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect((error as PreconditionFailedError).code).toBe('0x80040237');
  });

  it.each<[string, Parameters<typeof upsert>[4], Parameters<typeof upsert>[2]]>([
    ['returnRepresentation was asked (the record cannot be returned)', { mode: 'createOnly', returnRepresentation: true }, ID],
    ['the key is an alternate key (the record may be someone else’s)', { mode: 'createOnly' }, { accountnumber: 'A1' }],
    ['the mode is upsert (412 cannot be our own create)', { mode: 'upsert' }, ID],
    ['the mode is updateOnly', { mode: 'updateOnly' }, ID],
  ])('an ambiguous 412 still rejects when %s', async (_why, options, key) => {
    const error = await upsert(stubContext({ ...exists, ambiguous: true }), 'accounts', key, { name: 'A' }, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
  });

  it('createOnly: an ambiguous 404 is not "already exists" and rejects', async () => {
    const error = await upsert(stubContext({ ...missing, ambiguous: true }), 'accounts', ID, { name: 'A' }, { mode: 'createOnly' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
  });

  it('resolves with the id of OData-EntityId, else the GUID key, else undefined', async () => {
    const other = '00000000-0000-0000-0000-0000000000aa';
    const ctx = stubContext({ status: 204, headers: { 'odata-entityid': `${API_ROOT}accounts(${other})` } }, { status: 204 }, { status: 204 });
    await expect(upsert(ctx, 'accounts', ID, { name: 'A' })).resolves.toBe(other);
    await expect(upsert(ctx, 'accounts', ID, { name: 'A' })).resolves.toBe(id);
    await expect(upsert(ctx, 'accounts', { accountnumber: 'A1' }, { name: 'A' })).resolves.toBeUndefined();
    expect(ctx.specs.map((s) => s.headers?.['If-None-Match'])).toEqual([undefined, undefined, undefined]);
  });
});

describe('delete', () => {
  it('sends DELETE, with If-Match only when given', async () => {
    const ctx = stubContext({ status: 204 }, { status: 204 });
    await deleteRecord(ctx, 'accounts', ID);
    await deleteRecord(ctx, 'accounts', ID, { ifMatch: 'W/"5"' });
    expect(ctx.specs.map((s) => [s.method, s.url, s.headers?.['If-Match']])).toEqual([
      ['DELETE', `${API_ROOT}accounts(${id})`, undefined],
      ['DELETE', `${API_ROOT}accounts(${id})`, 'W/"5"'],
    ]);
  });

  it('"not found" after an ambiguous re-send means our first attempt deleted it: resolves', async () => {
    await expect(deleteRecord(stubContext({ ...missing, ambiguous: true }), 'accounts', ID)).resolves.toBeUndefined();
  });

  it('"not found" without a re-send is a NotFoundError', async () => {
    await expect(deleteRecord(stubContext(missing), 'accounts', ID)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('"not found" after an ambiguous re-send of a conditional delete (ifMatch) still rejects', async () => {
    await expect(deleteRecord(stubContext({ ...missing, ambiguous: true }), 'accounts', ID, { ifMatch: 'W/"5"' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('any other failure after an ambiguous re-send rejects', async () => {
    await expect(deleteRecord(stubContext({ ...exists, ambiguous: true }), 'accounts', ID)).rejects.toBeInstanceOf(PreconditionFailedError);
  });
});
