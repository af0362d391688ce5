/**
 * The workloads of issue 14 against servers that misbehave: answers lost after the work was done
 * (resets, 502s), truncated and malformed answers, pages that lead elsewhere, downloads that do not
 * add up. Failures are DynamicsErrors with clear codes; nothing is duplicated or lost; nothing hangs.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { BulkOperationError, DynamicsError, ErrorCode } from '../../src/errors';
import { WORKLOAD_MODEL } from '../helpers/workloads';
import { misbehave, startHostileServer, staticToken, type HostileServer } from '../helpers/hostile';

let server: HostileServer;
let client: DynamicsClient;
const API = () => `${server.origin}/api/data/v9.2`;

beforeAll(async () => {
  server = await startHostileServer();
  client = new DynamicsClient({ url: server.origin, ca: server.caPem, auth: staticToken(), model: WORKLOAD_MODEL, maxRetries: 3, maxRetryAfterInMs: 50 });
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

/** A CreateMultiple service that applies each request, keeps the ids, and drops the answer of the `lose`-th request. */
function bulkService(lose: number, how: 'reset' | '502' = 'reset') {
  const stored = new Map<string, number>();
  let n = 0;
  server.on((req, res) => {
    n += 1;
    const { Targets } = JSON.parse(req.body.toString('utf8')) as { Targets: Record<string, unknown>[] };
    if (Targets.some((t) => typeof t['accountid'] === 'string' && stored.has(t['accountid']))) {
      misbehave.json(res, 412, { error: { code: '0x80040237', message: 'Cannot insert duplicate key.' } });
      return;
    }
    const ids = Targets.map((t) => (typeof t['accountid'] === 'string' ? t['accountid'] : randomUUID()));
    for (const id of ids) stored.set(id, (stored.get(id) ?? 0) + 1);
    if (n === lose) {
      if (how === 'reset') misbehave.reset(res);
      else misbehave.json(res, 502, '<html><body>Bad Gateway</body></html>', { 'Content-Type': 'text/html' });
      return;
    }
    misbehave.json(res, 200, { Ids: ids });
  });
  return stored;
}

describe('bulk: answers lost after the chunk was applied', () => {
  it('CreateMultiple without client ids is never re-sent: the chunk is reported unknown, nothing duplicated', async () => {
    const stored = bulkService(2);
    const rows = Array.from({ length: 30 }, (_, i) => ({ name: `r${i}` }));
    const err = (await client.createMultiple('accounts', rows, { chunkSize: 10, concurrency: 1 }).catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect(err.code).toBe(ErrorCode.bulkOutcomeUnknown);
    expect(err.chunks.map((c) => c.status)).toEqual(['succeeded', 'unknown', 'not_sent']);
    expect(err.unknownIndexes()).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(err.pendingIndexes()).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(err.message).toMatch(/unknown outcome.*clientIds/);
    expect([...stored.values()].every((n) => n === 1)).toBe(true);
    expect(stored.size).toBe(20);
  });

  it('with clientIds the lost chunk is re-sent; the duplicate refusal is read as success; each record exists once', async () => {
    for (const how of ['reset', '502'] as const) {
      const stored = bulkService(2, how);
      const rows = Array.from({ length: 30 }, (_, i) => ({ name: `c${i}` }));
      const ids = await client.createMultiple('accounts', rows, { chunkSize: 10, concurrency: 1, clientIds: true });
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
      expect([...stored.keys()].sort()).toEqual([...ids].sort());
      expect([...stored.values()].every((n) => n === 1)).toBe(true);
    }
  });

  it('UpdateMultiple is re-sent after a reset (applying it twice changes nothing)', async () => {
    let calls = 0;
    server.on((_req, res) => {
      calls += 1;
      if (calls === 1) misbehave.reset(res);
      else misbehave.json(res, 204, '');
    });
    await client.updateMultiple('accounts', [{ accountid: randomUUID(), name: 'x' }]);
    expect(calls).toBe(2);
  });

  it('a 200 whose Ids cannot be read is a malformed answer, reported unknown (no ids invented)', async () => {
    for (const body of ['{"Ids":["not-a-guid"]}', '{"Ids":[', '<html>oops</html>']) {
      server.on((_req, res) => misbehave.json(res, 200, body));
      const err = (await client.createMultiple('accounts', [{ name: 'a' }]).catch((e: unknown) => e)) as DynamicsError;
      expect(err).toBeInstanceOf(DynamicsError);
      expect([ErrorCode.malformedResponse, ErrorCode.bulkOutcomeUnknown, ErrorCode.bulkChunkFailed]).toContain(err.code);
    }
  });

  it('a truncated answer to a chunk (the connection closes mid-body) is unknown, not a crash', async () => {
    server.on((_req, res) => misbehave.truncated(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ Ids: [randomUUID()] }), 5));
    const err = (await client.createMultiple('accounts', [{ name: 'a' }]).catch((e: unknown) => e)) as BulkOperationError;
    expect(err).toBeInstanceOf(BulkOperationError);
    expect(err.chunks[0]?.status).toBe('unknown');
  });

  it('an elastic partial failure without the per-record details fails the whole chunk (nothing assumed landed)', async () => {
    server.on((_req, res) => misbehave.json(res, 400, { error: { code: '0x80040237', message: 'one failed' } }));
    const err = (await client.createMultiple('sample_sensordatas', [{ partitionid: 'p' }, { partitionid: 'p' }] as never).catch((e: unknown) => e)) as BulkOperationError;
    expect(err.chunks[0]?.status).toBe('failed');
    expect(err.pendingIndexes()).toEqual([0, 1]);
  });
});

describe('changes: malformed pages', () => {
  it('a last page without a deltaLink, a nextLink to another host, a non-object page: malformed_response', async () => {
    const answers: unknown[] = [
      { value: [{ accountid: randomUUID(), name: 'a' }] },
      { value: [], '@odata.nextLink': 'https://evil.example.com/api/data/v9.2/accounts?$skiptoken=x' },
      { value: 'nope' },
      null,
      [{ accountid: randomUUID() }],
      { value: [{ '@odata.context': `x/$metadata#accounts/$deletedEntity`, reason: 'deleted' }], '@odata.deltaLink': 'x?$deltatoken=1' },
    ];
    for (const body of answers) {
      server.on((_req, res) => misbehave.json(res, 200, JSON.stringify(body)));
      const err = await (async () => {
        for await (const _ of client.changes('accounts', { select: ['name'] })) void _;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DynamicsError);
      expect((err as DynamicsError).code).toBe(ErrorCode.malformedResponse);
    }
  });

  it('sends Prefer: odata.track-changes and the stored token as $deltatoken, percent-encoded', async () => {
    server.on((_req, res) => misbehave.json(res, 200, { value: [], '@odata.deltaLink': `${API()}/accounts?$select=name&$deltatoken=2%2108%2f22%2f2017%2008%3a21%3a20` }));
    const sync = client.changes('accounts', { select: ['name'], deltaToken: '919042!08/22/2017 08:10:44' });
    for await (const _ of sync) void _;
    const seen = server.seen.at(-1);
    expect(seen?.headers['prefer']).toContain('odata.track-changes');
    expect(seen?.url).toBe('/api/data/v9.2/accounts?$select=name&$deltatoken=919042!08%2F22%2F2017%2008%3A10%3A44');
    expect(sync.deltaToken).toBe('2!08/22/2017 08:21:20');
  });

  it('countChanges: the token goes out percent-encoded; anything but a whole number as the answer is malformed_response', async () => {
    server.on((_req, res) => misbehave.json(res, 200, '12', { 'Content-Type': 'text/plain' }));
    expect(await client.countChanges('accounts', '919042!08/22/2017 08:10:44')).toBe(12);
    expect(server.seen.at(-1)?.url).toBe('/api/data/v9.2/accounts/$count?$deltatoken=919042!08%2F22%2F2017%2008%3A10%3A44');
    for (const body of ['{"value":[]}', '', '-1', '1e3', '<html>Bad Gateway</html>']) {
      server.on((_req, res) => misbehave.json(res, 200, body, { 'Content-Type': 'text/plain' }));
      const err = await client.countChanges('accounts', 'token').catch((e: unknown) => e);
      expect({ body, code: (err as DynamicsError).code }).toEqual({ body, code: ErrorCode.malformedResponse });
    }
  });
});

describe('files: hostile downloads and uploads', () => {
  const url = () => `/api/data/v9.2/sample_documents(00000000-0000-0000-0000-000000000001)/sample_file`;

  it('a 206 whose range is not the one asked for, or a file that changes size, fails instead of corrupting', async () => {
    let n = 0;
    server.on((_req, res) => {
      n += 1;
      const body = Buffer.alloc(1024, n);
      res.writeHead(206, { 'Content-Range': n === 1 ? 'bytes 0-1023/4096' : 'bytes 0-1023/4096', 'x-ms-file-size': '4096', 'Content-Length': '1024' });
      res.end(body);
    });
    const file = await client.downloadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', { chunkSizeInBytes: 1024 });
    const err = await (async () => {
      for await (const _ of file?.stream ?? Readable.from([])) void _;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.malformedResponse });
  });

  it('a range answer larger than asked (a server ignoring Range) is refused, the transport limit bounds a 200', async () => {
    server.on((_req, res) => {
      res.writeHead(206, { 'Content-Range': 'bytes 0-9999/10000', 'x-ms-file-size': '10000', 'Content-Length': '10000' });
      res.end(Buffer.alloc(10000));
    });
    await expect(client.downloadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', { chunkSizeInBytes: 1024 })).rejects.toMatchObject({ code: ErrorCode.malformedResponse });
    server.on((_req, res) => misbehave.oversized(res, 5 * 1024 * 1024, { status: 200 }));
    await expect(client.downloadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', { maxResponseBytes: 1024 * 1024 })).rejects.toMatchObject({ code: ErrorCode.responseTooLarge });
  });

  it('a chunk whose answer is lost after it was stored is sent again from its offset; the file is whole once', async () => {
    const received: Buffer[] = [];
    let got = 0;
    let dropped = false;
    server.on((req, res) => {
      if (req.headers['x-ms-transfer-mode'] === 'chunked') {
        res.writeHead(200, { Location: `${server.origin}${url()}?sessiontoken=abc`, 'x-ms-chunk-size': '1024', 'Content-Length': '0' });
        res.end();
        return;
      }
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range']));
      if (!m) return misbehave.json(res, 400, { error: { code: '0x0', message: 'no range' } });
      const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (first < got) received.push(req.body.subarray(got - first));
      else if (first === got) received.push(req.body);
      else return misbehave.json(res, 400, { error: { code: '0x0', message: 'out of order' } });
      got = Math.max(got, last + 1);
      if (first === 1024 && !dropped) {
        dropped = true;
        return misbehave.reset(res);
      }
      res.writeHead(got === total ? 204 : 206, { 'Content-Length': '0' });
      res.end();
    });
    const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
    await client.uploadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', data, { fileName: 'f.bin', singleRequestLimitInBytes: 100 });
    expect(Buffer.concat(received).equals(data)).toBe(true);
    const ranges = server.seen.filter((s) => s.headers['content-range']).map((s) => s.headers['content-range']);
    expect(ranges.slice(-5)).toEqual(['bytes 0-1023/4096', 'bytes 1024-2047/4096', 'bytes 1024-2047/4096', 'bytes 2048-3071/4096', 'bytes 3072-4095/4096']);
  });

  it('a Location on another origin is refused: the token never leaves the environment', async () => {
    server.on((_req, res) => {
      res.writeHead(200, { Location: 'https://evil.example.com/steal?sessiontoken=1', 'Content-Length': '0' });
      res.end();
    });
    const before = server.seen.length;
    await expect(client.uploadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', Buffer.alloc(200), { fileName: 'a', singleRequestLimitInBytes: 100 })).rejects.toMatchObject({ code: ErrorCode.malformedResponse });
    expect(server.seen.length - before).toBe(1);
  });

  it('the upload session token in the Location never reaches an error, whether the Location is refused or a chunk fails', async () => {
    const SESSION = 'SESSION-TOKEN-MARKER-4b1f';
    const scan = (err: unknown) => {
      const e = err as DynamicsError;
      return `${e.message} ${e.stack} ${JSON.stringify(e.request ?? {})}`;
    };
    server.on((_req, res) => {
      res.writeHead(200, { Location: `https://evil.example.com/steal?sessiontoken=${SESSION}`, 'Content-Length': '0' });
      res.end();
    });
    const upload = () => client.uploadFile('sample_documents', '00000000-0000-0000-0000-000000000001', 'sample_file', Buffer.alloc(200), { fileName: 'a', singleRequestLimitInBytes: 100 });
    const refused = await upload().catch((e: unknown) => e);
    expect((refused as DynamicsError).code).toBe(ErrorCode.malformedResponse);
    expect(scan(refused)).not.toContain(SESSION);

    server.on((req, res) => {
      if (req.method === 'PATCH' && !String(req.url).includes('sessiontoken')) {
        res.writeHead(200, { Location: `${API()}/sample_documents(00000000-0000-0000-0000-000000000001)/sample_file?sessiontoken=${SESSION}`, 'x-ms-chunk-size': '100', 'Content-Length': '0' });
        res.end();
        return;
      }
      misbehave.json(res, 400, { error: { code: '0x80040203', message: 'chunk refused' } });
    });
    const failed = await upload().catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(DynamicsError);
    expect(scan(failed)).not.toContain(SESSION);
    expect(scan(failed)).toContain('sessiontoken=');
  });
});

describe('elastic session tokens and per-request headers on the wire', () => {
  it('carries x-ms-session-token from a write to later reads; sends the typed options as headers', async () => {
    server.on((req, res) => {
      if (req.method === 'PATCH') misbehave.json(res, 204, '', { 'x-ms-session-token': '240:8#144100870#7=-1' });
      else misbehave.json(res, 200, { value: [] });
    });
    await client.upsert('sample_sensordatas', randomUUID(), { partitionid: 'p' } as never, { bypassCustomPluginExecution: true, solutionUniqueName: 'Sol', correlationId: 'c-1' });
    const write = server.seen.at(-1);
    expect(write?.headers).toMatchObject({ 'mscrm.bypasscustompluginexecution': 'true', 'mscrm.solutionuniquename': 'Sol', 'x-ms-client-request-id': 'c-1' });
    await client.request('GET', 'sample_sensordatas?$top=1');
    expect(server.seen.at(-1)?.headers['mscrm.sessiontoken']).toBe('240:8#144100870#7=-1');
  });

  it('a correlation id given as a raw header (as DynamicsService users pass it) is carried on errors too', async () => {
    server.on((_req, res) => misbehave.json(res, 404, { error: { code: '0x80040217', message: 'not found' } }));
    const err = (await client
      .request('GET', 'accounts(00000000-0000-0000-0000-000000000001)', undefined, { headers: { 'MSCRM.BypassBusinessLogicExecution': 'CustomSync', 'X-MS-Client-Request-Id': 'svc-7' } })
      .catch((e: unknown) => e)) as DynamicsError;
    expect(err.clientRequestId).toBe('svc-7');
    expect(server.seen.at(-1)?.headers['mscrm.bypassbusinesslogicexecution']).toBe('CustomSync');
  });
});
