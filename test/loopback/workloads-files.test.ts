/**
 * File and image columns (issue 14, item 3) against the emulator: single and chunked uploads from a
 * Buffer, a file path and a stream; ranged downloads as a stream or to a path; image thumbnails and
 * `size: 'full'`; deletes; the typed refusals; and an upload resumed after an injected reset.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Emulator } from '../../src/emulator';
import type { DynamicsClient } from '../../src/client/DynamicsClient';
import { FileColumnError } from '../../src/errors';
import { startWorkloadEmulator, workloadClient } from '../helpers/workloads';
import { MAX_OPEN_UPLOADS, UPLOAD_IDLE_MS } from '../../src/emulator/dataverse/handlers/files';

let emulator: Emulator;
let client: DynamicsClient;
let dir: string;
const SET = 'sample_documents';
const MIB = 1024 * 1024;

beforeAll(async () => {
  emulator = await startWorkloadEmulator();
  client = workloadClient(emulator);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workloads-files-'));
});

afterAll(async () => {
  client?.close();
  await emulator?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable | undefined): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream ?? []) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

const newDocument = () => client.create(SET, { sample_name: 'doc' } as never);
const count = (method: string) => emulator.counters.apiRequests[`${method} /${SET}`] ?? 0;

describe('uploadFile and downloadFile', () => {
  it('a small Buffer goes in one PATCH and comes back whole, with its name', async () => {
    const id = await newDocument();
    const data = randomBytes(100_000);
    const before = count('PATCH');
    await client.uploadFile(SET, id, 'sample_file', data, { fileName: 'report ü.pdf', mimeType: 'application/pdf' });
    expect(count('PATCH') - before).toBe(1);
    const file = await client.downloadFile(SET, id, 'sample_file');
    expect(file).toMatchObject({ size: 100_000, fileName: 'report ü.pdf' });
    expect(sha(await readAll(file?.stream))).toBe(sha(data));
    const row = await client.retrieve(SET, id, { select: ['sample_file', 'sample_file_name'] as never });
    expect(row).toMatchObject({ sample_file_name: 'report ü.pdf' });
  });

  it('a file on disk above the single-request limit goes in chunks of x-ms-chunk-size, and downloads in ranges', async () => {
    const id = await newDocument();
    const data = randomBytes(10 * MIB + 12345);
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, data);
    const before = count('PATCH');
    const progress: number[] = [];
    await client.uploadFile(SET, id, 'sample_file', file, { singleRequestLimitInBytes: MIB, onProgress: (p) => progress.push(p.bytesSent) });
    // One request to start the session, then ceil(10 MiB + 12345 / 4 MiB) = 3 chunks.
    expect(count('PATCH') - before).toBe(4);
    expect(progress).toEqual([4 * MIB, 8 * MIB, data.length]);
    const gets = count('GET');
    const out = path.join(dir, 'big.out');
    const info = await client.downloadFile(SET, id, 'sample_file', { path: out, chunkSizeInBytes: 2 * MIB });
    expect(info).toMatchObject({ size: data.length, fileName: 'big.bin' });
    expect(count('GET') - gets).toBe(6);
    expect(sha(fs.readFileSync(out))).toBe(sha(data));
  });

  it('a stream of unknown length is uploaded too', async () => {
    const id = await newDocument();
    const data = randomBytes(3 * MIB);
    await client.uploadFile(SET, id, 'sample_file', Readable.from([data.subarray(0, MIB), data.subarray(MIB)]), { fileName: 's.bin', singleRequestLimitInBytes: MIB, chunkSizeInBytes: MIB });
    expect(sha(await readAll((await client.downloadFile(SET, id, 'sample_file'))?.stream))).toBe(sha(data));
  });

  it('a reset in the middle of a chunked upload is resumed from that chunk, not from the start', async () => {
    const id = await newDocument();
    const data = randomBytes(6 * MIB);
    const route = { method: 'PATCH', path: new RegExp(`/${SET}\\(${id}\\)/sample_file$`) };
    // The session start and the first chunk pass; the second chunk's connection is dropped unanswered.
    emulator.injectFault({ route, fault: { delayInMs: 0 }, count: 2 });
    emulator.injectFault({ route, fault: { reset: true }, count: 1 });
    const before = count('PATCH');
    const faulted = emulator.counters.faultedRequests;
    const sent: number[] = [];
    await client.uploadFile(SET, id, 'sample_file', data, { fileName: 'r.bin', singleRequestLimitInBytes: MIB, chunkSizeInBytes: 2 * MIB, onProgress: (p) => sent.push(p.bytesSent) });
    expect(emulator.counters.faultedRequests - faulted).toBe(1);
    // Served: the start and 3 chunks, the second of them on its second attempt; a restart from the
    // beginning would have started a second session and sent the first chunk again.
    expect(count('PATCH') - before).toBe(4);
    expect(sent).toEqual([2 * MIB, 4 * MIB, 6 * MIB]);
    expect(sha(await readAll((await client.downloadFile(SET, id, 'sample_file'))?.stream))).toBe(sha(data));
  });

  it('a chunk the pipeline could not get past is sent again after a pause, which the abort signal ends', async () => {
    // No pipeline retries: every re-send below is the chunk loop's own.
    const noRetries = workloadClient(emulator, { maxRetries: 0 });
    try {
      const id = await newDocument();
      const data = randomBytes(4096);
      const route = { method: 'PATCH', path: new RegExp(`/${SET}\\(${id}\\)/sample_file$`) };
      // The session start passes; the first chunk fails twice with a 500, then goes through.
      emulator.injectFault({ route, fault: { delayInMs: 0 }, count: 1 });
      emulator.injectFault({ route, fault: { status: 500 }, count: 2 });
      const started = Date.now();
      await noRetries.uploadFile(SET, id, 'sample_file', data, { fileName: 'p.bin', singleRequestLimitInBytes: 1024, chunkSizeInBytes: 2048, chunkRetries: 2 });
      // Pauses of 250–500 ms, then 500–1,000 ms (backoff from 0.5 s with jitter); at once, this took milliseconds.
      expect(Date.now() - started).toBeGreaterThanOrEqual(750);
      expect(sha(await readAll((await noRetries.downloadFile(SET, id, 'sample_file'))?.stream))).toBe(sha(data));

      // Aborted during a pause: it ends at once with the chunk's error, and nothing more is sent.
      const other = await newDocument();
      const otherRoute = { method: 'PATCH', path: new RegExp(`/${SET}\\(${other}\\)/sample_file$`) };
      emulator.injectFault({ route: otherRoute, fault: { delayInMs: 0 }, count: 1 });
      emulator.injectFault({ route: otherRoute, fault: { status: 500 }, count: 5 });
      const controller = new AbortController();
      const before = count('PATCH');
      const faulted = emulator.counters.faultedRequests;
      setTimeout(() => controller.abort(), 100);
      const abortStarted = Date.now();
      const err = await noRetries
        .uploadFile(SET, other, 'sample_file', data, { fileName: 'q.bin', singleRequestLimitInBytes: 1024, chunkSizeInBytes: 2048, chunkRetries: 5, abortSignal: controller.signal })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 500 });
      expect(Date.now() - abortStarted).toBeLessThan(240);
      // One chunk answered with a 500 (the zero delay on the start is not a fault): no re-send after the abort.
      expect(emulator.counters.faultedRequests - faulted).toBe(1);
      expect(count('PATCH') - before).toBeLessThanOrEqual(2);
    } finally {
      noRetries.close();
    }
  });

  it('deleteFile removes it; a column with nothing downloads as null', async () => {
    const id = await newDocument();
    await client.uploadFile(SET, id, 'sample_file', Buffer.from('hello'), { fileName: 'h.txt' });
    await client.deleteFile(SET, id, 'sample_file');
    expect(await client.downloadFile(SET, id, 'sample_file')).toBeNull();
    expect(await client.retrieve(SET, id, { select: ['sample_file_name'] as never })).toMatchObject({ sample_file_name: null });
  });

  it('a file over the column limit is a FileColumnError (0x80044a02), refused at the first chunk', async () => {
    const id = await newDocument();
    // sample_attachment keeps the default MaxSizeInKB of 32 MB.
    const file = path.join(dir, 'huge.bin');
    fs.writeFileSync(file, Buffer.alloc(33 * MIB));
    const before = count('PATCH');
    const err = await client.uploadFile(SET, id, 'sample_attachment', file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileColumnError);
    expect(err).toMatchObject({ code: '0x80044a02', reason: 'file_too_large' });
    expect(count('PATCH') - before).toBe(2);
  });
});

describe('image columns', () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(5000)]);

  it('downloads the thumbnail by default and the full image with size: full', async () => {
    const id = await newDocument();
    await client.uploadFile(SET, id, 'sample_image', png, { fileName: 'logo.png' });
    const full = await client.downloadFile(SET, id, 'sample_image', { size: 'full' });
    expect(sha(await readAll(full?.stream))).toBe(sha(png));
    const thumb = await readAll((await client.downloadFile(SET, id, 'sample_image'))?.stream);
    expect(thumb.length).toBeGreaterThan(0);
    expect(sha(thumb)).not.toBe(sha(png));
    const row = await client.retrieve(SET, id, { select: ['sample_image', 'sample_imageid'] as never });
    expect(row['sample_image' as never]).toBe(thumb.toString('base64'));
  });

  it('an image the service cannot process is a FileColumnError (0x80072553)', async () => {
    const id = await newDocument();
    const err = await client.uploadFile(SET, id, 'sample_image', Buffer.from('%PDF-1.7 not an image'), { fileName: 'x.pdf' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileColumnError);
    expect(err).toMatchObject({ code: '0x80072553', reason: 'unsupported_image' });
  });
});

describe('arguments', () => {
  it('bad options name the option; nothing is sent', async () => {
    const before = emulator.counters.apiRequestsTotal;
    await expect(client.uploadFile(SET, '00000000-0000-0000-0000-000000000001', 'sample_file', Buffer.from('x'))).rejects.toThrow(/options\.fileName/);
    await expect(client.uploadFile(SET, '00000000-0000-0000-0000-000000000001', 'sample_file', 42 as never, { fileName: 'a' })).rejects.toThrow(/source/);
    await expect(client.uploadFile(SET, '00000000-0000-0000-0000-000000000001', 'sample_file', Buffer.from('x'), { fileName: 'a', chunkSizeInBytes: 5 })).rejects.toThrow(/options\.chunkSizeInBytes/);
    await expect(client.downloadFile(SET, '00000000-0000-0000-0000-000000000001', 'sample_file', { size: 'huge' as never })).rejects.toThrow(/options\.size/);
    await expect(client.uploadFile(SET, '00000000-0000-0000-0000-000000000001', 'bad column/..', Buffer.from('x'), { fileName: 'a' })).rejects.toThrow(/column/);
    expect(emulator.counters.apiRequestsTotal).toBe(before);
  });
});

describe('upload sessions in the emulator', () => {
  // Opens a chunked upload the way uploadFile does and returns its session path (relative to the API root).
  const open = async (id: string): Promise<string> => {
    const answer = await client.request('PATCH', `${SET}(${id})/sample_file`, undefined, { headers: { 'x-ms-transfer-mode': 'chunked', 'x-ms-file-name': 'a.bin' } });
    expect(answer.status).toBe(200);
    const location = new URL(answer.headers.location);
    return `${SET}(${id})/sample_file${location.search}`;
  };
  const send = (session: string) =>
    client.request('PATCH', session, Buffer.from('hello'), { headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': 'bytes 0-4/10' } });

  it(`keep at most ${MAX_OPEN_UPLOADS} open: a new one ends the session unused for longest`, async () => {
    const id = await newDocument();
    const first = await open(id);
    const second = await open(id);
    // Using the first moves it to the back of the line: the second is now the one unused for longest.
    expect((await send(first)).status).toBe(206);
    for (let i = 2; i < MAX_OPEN_UPLOADS; i++) await open(id);
    const last = await open(id);
    await expect(send(second)).rejects.toThrow(/upload session token is not valid or has expired/);
    expect((await send(last)).status).toBe(206);
    // The first one is still open, past its first chunk.
    const rest = await client.request('PATCH', first, Buffer.from('world'), { headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': 'bytes 5-9/10' } });
    expect(rest.status).toBe(204);
  });

  it('expire after a quarter of an hour unused', async () => {
    const id = await newDocument();
    const session = await open(id);
    const later = Date.now() + UPLOAD_IDLE_MS + 1_000;
    const clock = jest.spyOn(Date, 'now').mockReturnValue(later);
    try {
      await expect(send(session)).rejects.toThrow(/upload session token is not valid or has expired/);
    } finally {
      clock.mockRestore();
    }
    await expect(send(session)).rejects.toThrow(/not valid or has expired/);
  });
});
