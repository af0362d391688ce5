/**
 * Item 6 (and the batch part of item 15) of issue 11, against a hostile HTTPS server scripting
 * `$batch` answers: a multipart answer is read whatever its status, so that committed parts keep
 * their results and ids; only the part that failed (or could not be read) is marked; operations no
 * part answered are `batch_outcome_unknown` unless the service said it stopped; and the caller can
 * tell which operations are safe to re-send.
 */
import { randomUUID } from 'node:crypto';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { BatchErrorCode, type BatchItem, type BatchResult } from '../../src/client/types';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { misbehave, multipartBatch, startHostileServer, staticToken, type BatchPartScript, type HostileServer } from '../helpers/hostile';

let server: HostileServer;
let client: DynamicsClient;
const API = () => `${server.origin}/api/data/v9.2`;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken() });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** Answers every `$batch` with `status` and the given multipart body. */
function answer(status: number, items: Parameters<typeof multipartBatch>[0], mangle: (body: string) => string = (b) => b): void {
  const { body, contentType } = multipartBatch(items);
  server.on((_req, res) => {
    const text = mangle(body);
    res.writeHead(status, { 'Content-Type': contentType, 'OData-Version': '4.0', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  });
}

const created = (id: string, contentId?: string): BatchPartScript => ({
  status: 204,
  contentId,
  headers: { 'OData-EntityId': `${API()}/accounts(${id})` },
});

const create = (name: string) => ({ method: 'POST' as const, url: 'accounts', body: { name } });

/** A committed change set of two creates, then a create and a read. */
const FOUR: BatchItem[] = [{ changeSet: [create('one'), create('two')] }, create('three'), { method: 'GET', url: 'accounts?$select=name' }];

const codes = (results: BatchResult[]) => results.map((r) => r.error?.code ?? 'ok');

describe('a multipart answer is read whatever its status', () => {
  it('a 500 after a committed change set keeps the committed ids; only the failing part fails, the rest did not run', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    answer(500, [{ changeSet: [created(a, '1'), created(b, '2')] }, { status: 500, body: { error: { code: '0x80040216', message: 'An unexpected error occurred.' } } }]);
    const before = server.seen.length;
    const results = await client.batch(FOUR);
    expect(server.seen.length).toBe(before + 1);
    expect(results.map((r) => r.entityId)).toEqual([a, b, undefined, undefined]);
    expect(codes(results)).toEqual(['ok', 'ok', '0x80040216', BatchErrorCode.notExecuted]);
    expect(results[2]).toMatchObject({ status: 500 });
    expect(results[2].error?.message).toContain('An unexpected error occurred.');
  });

  it.each([503, 429])('a %i with a multipart body reports work that was done: it is never re-sent', async (status) => {
    const [a, b] = [randomUUID(), randomUUID()];
    answer(status, [{ changeSet: [created(a, '1'), created(b, '2')] }, { status, body: { error: { code: '0x80072322', message: 'Try later' } } }]);
    const before = server.seen.length;
    const results = await client.batch(FOUR);
    expect(server.seen.length).toBe(before + 1);
    expect(results.slice(0, 2).map((r) => r.entityId)).toEqual([a, b]);
    expect(results[2].status).toBe(status);
  });

  it('a truncated GET part after a committed change set is that part’s malformed_response, not the batch’s', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    answer(200, [{ changeSet: [created(a, '1'), created(b, '2')] }, created(c), { status: 200, headers: { 'Content-Type': 'application/json' }, body: '{"value":[{"name":"one"},{"na' }]);
    const results = await client.batch(FOUR);
    expect(results.map((r) => r.entityId)).toEqual([a, b, c, undefined]);
    expect(codes(results)).toEqual(['ok', 'ok', 'ok', ErrorCode.malformedResponse]);
    expect(results[3]).toMatchObject({ status: 200, body: undefined });
    expect(results[3].error?.message).toMatch(/does not parse/);
    expect(results[3].error?.request?.url).toBe(`${API()}/accounts?$select=name`);
  });

  it('an answer cut short (no close delimiter) keeps what arrived; the rest is unknown, never "not executed"', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    answer(200, [{ changeSet: [created(a, '1'), created(b, '2')] }, { status: 204, headers: { 'OData-EntityId': `${API()}/accounts(${randomUUID()})` } }], (body) =>
      body.slice(0, body.indexOf('HTTP/1.1 204', body.lastIndexOf('--batchresponse_hostile\r\n')) + 4),
    );
    const results = await client.batch(FOUR);
    expect(results.slice(0, 2).map((r) => r.entityId)).toEqual([a, b]);
    expect(codes(results)).toEqual(['ok', 'ok', BatchErrorCode.outcomeUnknown, BatchErrorCode.outcomeUnknown]);
    expect(results[2].error?.message).toMatch(/may have been carried out/);
  });

  it('a part cut after its status line keeps the status; its write is not reported as failed to re-send', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    answer(200, [{ changeSet: [created(a, '1'), created(b, '2')] }, created(randomUUID())], (body) => body.slice(0, body.lastIndexOf('OData-EntityId')));
    const results = await client.batch(FOUR);
    expect(results[2]).toMatchObject({ status: 204, error: { code: ErrorCode.malformedResponse } });
    expect(results[2].error?.message).toMatch(/the operation succeeded \(HTTP 204\)/);
    expect(results[3].error?.code).toBe(BatchErrorCode.outcomeUnknown);
  });
});

describe('fewer parts than operations', () => {
  it('with continueOnError, the missing ones are unknown', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    answer(200, [created(a), created(b)]);
    const results = await client.batch([create('1'), create('2'), create('3')], { continueOnError: true });
    expect(results.map((r) => r.entityId)).toEqual([a, b, undefined]);
    expect(codes(results)).toEqual(['ok', 'ok', BatchErrorCode.outcomeUnknown]);
  });

  it('without continueOnError and no failure to stop at, they are unknown too', async () => {
    answer(200, [created(randomUUID())]);
    expect(codes(await client.batch([create('1'), create('2')]))).toEqual(['ok', BatchErrorCode.outcomeUnknown]);
  });

  it('after the failure the service stopped at (documented stop-on-error), they are not executed', async () => {
    answer(400, [created(randomUUID()), { status: 400, body: { error: { code: '0x80040203', message: 'bad' } } }]);
    expect(codes(await client.batch([create('1'), create('2'), create('3')]))).toEqual(['ok', '0x80040203', BatchErrorCode.notExecuted]);
  });

  it('a change set answered in part: the missing operations are unknown, not a failure of the batch', async () => {
    const a = randomUUID();
    answer(200, [{ changeSet: [created(a, '1')] }, created(randomUUID()), { status: 200, body: { value: [] } }]);
    const results = await client.batch(FOUR);
    expect(codes(results)).toEqual(['ok', BatchErrorCode.outcomeUnknown, 'ok', 'ok']);
    expect(results[0].entityId).toBe(a);
  });

  it('an answer that cannot belong to the operations leaves every one unknown, with the reason', async () => {
    answer(200, [created(randomUUID()), created(randomUUID()), created(randomUUID())]);
    const results = await client.batch([create('1'), create('2')]);
    expect(codes(results)).toEqual([BatchErrorCode.outcomeUnknown, BatchErrorCode.outcomeUnknown]);
    expect(results[0].error?.message).toMatch(/3 parts for 2 operations/);
  });
});

describe('several requests', () => {
  it('a later request failing as a whole does not lose the results of the earlier one', async () => {
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    let n = 0;
    const first = multipartBatch(ids.map((id) => created(id)));
    server.on((_req, res) => {
      if (n++ === 0) {
        res.writeHead(200, { 'Content-Type': first.contentType, 'Content-Length': String(Buffer.byteLength(first.body)) });
        res.end(first.body);
      } else misbehave.json(res, 502, { error: { code: '0x0', message: 'gateway' } });
    });
    const results = await client.batch(Array.from({ length: 1002 }, (_, i) => create(String(i))), { continueOnError: true });
    expect(results).toHaveLength(1002);
    expect(results.slice(0, 1000).map((r) => r.entityId)).toEqual(ids);
    expect(codes(results.slice(1000))).toEqual([BatchErrorCode.outcomeUnknown, BatchErrorCode.outcomeUnknown]);
    expect(results[1000].error?.cause).toBeInstanceOf(DynamicsError);
  });

  it('a later request the service refused as a whole (400, no multipart) did not run', async () => {
    let n = 0;
    const first = multipartBatch(Array.from({ length: 1000 }, () => created(randomUUID())));
    server.on((_req, res) => {
      if (n++ === 0) {
        res.writeHead(200, { 'Content-Type': first.contentType, 'Content-Length': String(Buffer.byteLength(first.body)) });
        res.end(first.body);
      } else misbehave.json(res, 400, { error: { code: '0x80048d19', message: 'bad batch' } });
    });
    const results = await client.batch(Array.from({ length: 1001 }, (_, i) => create(String(i))), { continueOnError: true });
    expect(results[1000].error?.code).toBe(BatchErrorCode.notExecuted);
    expect(results[1000].error?.message).toContain('bad batch');
  });

  it('a bad operation in a later request is refused before anything is sent', async () => {
    const before = server.seen.length;
    const ops: BatchItem[] = Array.from({ length: 1001 }, (_, i) => create(String(i)));
    ops.push({ method: 'POST', url: 'accounts', body: { name: 'x' }, headers: { 'X-Bad': 'a\r\nb' } });
    await expect(client.batch(ops)).rejects.toMatchObject({ code: ErrorCode.invalidArgument });
    expect(server.seen.length).toBe(before);
  });
});

describe('part headers are data, never prototype members', () => {
  it('headers named constructor, toString, __proto__ and hasOwnProperty are read as headers, on success and failure', async () => {
    // JSON.parse makes `__proto__` an own key (an object literal would set the prototype instead).
    const headers = JSON.parse('{"constructor":"c","toString":"t","__proto__":"p","hasOwnProperty":"h","valueOf":"v"}') as Record<string, string>;
    answer(200, [
      { status: 204, headers: { ...headers, 'OData-EntityId': `${API()}/accounts(${randomUUID()})` } },
      { status: 404, headers, body: { error: { code: '0x80040217', message: 'not found' } } },
    ]);
    const results = await client.batch([create('1'), { method: 'GET', url: `accounts(${randomUUID()})` }], { continueOnError: true });
    expect(results[0].headers.tostring).toBe('t');
    expect(results[0].headers.constructor).toBe('c');
    expect(results[0].headers['__proto__']).toBe('p');
    expect(Object.getPrototypeOf(results[0].headers)).toBeNull();
    expect(results[1].error?.code).toBe('0x80040217');
    expect(results[1].error?.response?.headers.tostring).toBe('t');
    expect(Object.prototype.hasOwnProperty.call(results[1].error?.response?.headers, '__proto__')).toBe(true);
    // Nothing leaked into Object.prototype.
    expect(({} as Record<string, unknown>).tostring).toBeUndefined();
    expect(typeof {}.toString).toBe('function');
  });
});
