/**
 * What the emulator reads before it answers: the bearer token is checked from the headers alone (an
 * unauthenticated upload is refused without reading it), bodies are read against a limit (128 MiB
 * for the Web API, 1 MiB for Entra's forms) and refused with 413 without buffering more, and the
 * emulator stays healthy afterwards. Hostile uploads come from `floodUpload`, which never holds the
 * body in memory and reports how much of it the server took.
 */
import { Agent, request } from 'node:https';
import type { Emulator } from '../../src/emulator';
import { appToken, httpsRequest, startTestEmulator } from '../helpers/emulator';
import { floodUpload } from '../helpers/hostile';

const MiB = 1024 * 1024;
/** Far below the uploads' sizes, far above what socket buffers and a short linger can hold. */
const TAKEN_AT_MOST = 48 * MiB;

describe('the emulator refuses uploads before reading them', () => {
  let em: Emulator;
  let token: string;
  beforeAll(async () => {
    em = await startTestEmulator();
    token = await appToken(em);
  });
  afterAll(async () => {
    await em.close();
  });

  const whoAmI = async (): Promise<number> =>
    (await httpsRequest(em, { path: '/api/data/v9.2/WhoAmI', headers: { Authorization: `Bearer ${token}` } })).status;

  it('answers an unauthenticated 300 MB POST with 401 from its headers, without reading the body', async () => {
    const r = await floodUpload(`${em.apiUrl}/accounts`, em.caPem, { totalBytes: 300 * MiB });
    expect(r.status).toBe(401);
    expect(r.headers?.['www-authenticate']).toContain('Bearer authorization_uri=');
    expect(r.bytesSent).toBeLessThan(TAKEN_AT_MOST);
    expect(await whoAmI()).toBe(200);
  });

  it('answers an unauthenticated chunked upload (no Content-Length) the same way', async () => {
    const r = await floodUpload(`${em.apiUrl}/$batch`, em.caPem, { totalBytes: 300 * MiB, chunked: true, headers: { Authorization: 'Bearer not-a-token' } });
    expect(r.status).toBe(401);
    expect(r.bytesSent).toBeLessThan(TAKEN_AT_MOST);
    expect(await whoAmI()).toBe(200);
  });

  it('answers an authenticated body declared larger than 128 MiB with 413 at once', async () => {
    const r = await floodUpload(`${em.apiUrl}/accounts`, em.caPem, { totalBytes: 129 * MiB, headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: { code: '0x80040216', message: 'The request body exceeds the maximum size of 134217728 bytes.' } });
    expect(r.bytesSent).toBeLessThan(TAKEN_AT_MOST);
    expect(await whoAmI()).toBe(200);
  });

  it('answers a $batch declared larger than 128 MiB with 413 at once', async () => {
    const r = await floodUpload(`${em.apiUrl}/$batch`, em.caPem, {
      totalBytes: 200 * MiB,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'multipart/mixed; boundary=batch_1' },
    });
    expect(r.status).toBe(413);
    expect(r.bytesSent).toBeLessThan(TAKEN_AT_MOST);
  });

  it('stops reading a chunked body at 128 MiB and answers 413, then serves the next request', async () => {
    const r = await floodUpload(`${em.apiUrl}/accounts`, em.caPem, { totalBytes: 200 * MiB, chunked: true, headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(413);
    expect(r.bytesSent).toBeLessThan(128 * MiB + TAKEN_AT_MOST);
    expect(await whoAmI()).toBe(200);
    // Nothing of the refused body was written.
    expect(em.store.count('accounts')).toBe(0);
  });

  it('refuses a token request form larger than 1 MiB with an Entra-shaped 413', async () => {
    const r = await floodUpload(em.tokenUrlV2, em.caPem, { totalBytes: 64 * MiB, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, fill: 0x61 });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_request', error_codes: [90004] });
    expect(r.bytesSent).toBeLessThan(TAKEN_AT_MOST);
    expect((await httpsRequest(em, { path: `/${em.tenantId}/v2.0/.well-known/openid-configuration` })).status).toBe(200);
  });

  it('drains a small refused body and keeps the connection for the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: em.caPem });
    const send = (headers: Record<string, string>, payload?: string): Promise<{ status: number; reused: boolean }> =>
      new Promise((resolve, reject) => {
        const r = request(`${em.apiUrl}/accounts`, { method: payload ? 'POST' : 'GET', agent, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: r.reusedSocket }));
        });
        r.on('error', reject);
        r.end(payload);
      });
    try {
      const payload = JSON.stringify({ name: 'x'.repeat(10_000) });
      const refused = await send({ 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) }, payload);
      expect(refused.status).toBe(401);
      const next = await send({ Authorization: `Bearer ${token}` });
      expect(next).toEqual({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  });

  describe('URL length (32,768 characters, compose-http-requests-handle-errors.md)', () => {
    const withFilterOfLength = (total: number): string => {
      const head = '/api/data/v9.2/accounts?$filter=name%20eq%20%27';
      const pad = total - em.url.length - head.length - 3;
      return `${head}${'a'.repeat(pad)}%27`;
    };

    it('serves a URL just under the limit (longer than node accepts by default)', async () => {
      const path = withFilterOfLength(32 * 1024);
      expect(em.url.length + path.length).toBe(32 * 1024);
      const r = await httpsRequest(em, { path, headers: { Authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
    });

    it('answers a longer URL with 414 before checking the token', async () => {
      const r = await httpsRequest(em, { path: withFilterOfLength(32 * 1024 + 1) });
      expect(r.status).toBe(414);
      expect(r.body).toContain('HTTP Error 414. The request URL is too long.');
    });
  });
});
