/**
 * Service protection (429 with Retry-After and Dataverse's codes), persistence across restarts,
 * deterministic seeding, and serving the full 4.2 MB real $metadata.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Emulator } from '../../src/emulator';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

const fixtures = path.resolve(__dirname, '../../../shared/fixtures/real');

function get(em: Emulator, token: string, p: string): Promise<RawResponse> {
  return httpsRequest(em, { path: `/api/data/v9.2/${p}`, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
}

describe('service protection', () => {
  let em: Emulator;
  let token: string;
  beforeAll(async () => {
    em = await startTestEmulator({ serviceProtection: { maxRequests: 5, windowInMs: 60_000, maxConcurrent: 3 } });
    token = await appToken(em);
  });
  afterAll(async () => {
    await em.close();
  });

  it('answers 429 with Retry-After and 0x80072322 once the request budget of the window is spent', async () => {
    em.resetCounters();
    const statuses: number[] = [];
    let last: RawResponse | undefined;
    for (let i = 0; i < 7; i++) {
      last = await get(em, token, 'WhoAmI');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(last?.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(last?.json).toEqual({ error: { code: '0x80072322', message: 'Number of requests exceeded the limit of 5 over time window of 60 seconds.' } });
    expect(last?.headers['x-ms-dop-hint']).toBe('8');
    expect(em.counters.throttled).toBe(2);
  });

  it('answers 429 with 0x80072326 when too many requests are in flight, counting artificial latency', async () => {
    em.setServiceProtection({ maxRequests: 1000, windowInMs: 60_000, maxConcurrent: 3, retryAfterSeconds: 2 });
    em.setLatency(1500);
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => get(em, token, 'WhoAmI')));
      const throttled = results.filter((r) => r.status === 429);
      expect(results.filter((r) => r.status === 200)).toHaveLength(3);
      expect(throttled).toHaveLength(3);
      for (const r of throttled) {
        expect(r.headers['retry-after']).toBe('2');
        expect(r.json).toEqual({ error: { code: '0x80072326', message: 'Number of concurrent requests exceeded the limit of 3.' } });
      }
    } finally {
      em.setLatency(0);
    }
    // Slots are released once responses are sent.
    expect((await get(em, token, 'WhoAmI')).status).toBe(200);
  });
});

describe('persistence and seeding', () => {
  it('keeps rows in the data file across restarts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dv-data-'));
    const dataFile = path.join(dir, 'data.json');
    try {
      const first = await startTestEmulator({ dataFile });
      const token = await appToken(first);
      const created = await httpsRequest(first, {
        method: 'POST',
        path: '/api/data/v9.2/accounts',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: { name: 'Persisted Ltd', accountnumber: 'P-1' },
      });
      expect(created.status).toBe(204);
      await first.close();
      expect(fs.existsSync(dataFile)).toBe(true);

      const second = await startTestEmulator({ dataFile });
      try {
        const token2 = await appToken(second);
        const r = await get(second, token2, "accounts(accountnumber='P-1')?$select=name");
        expect(r.status).toBe(200);
        expect((r.json as { name: string }).name).toBe('Persisted Ltd');
      } finally {
        await second.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('seeds the same realistic rows every time', async () => {
    const a = await startTestEmulator({ seed: 50 });
    const b = await startTestEmulator({ seed: 50 });
    try {
      const rowsA = a.store.rows('accounts').map((r) => [r['accountid'], r['name'], r['accountnumber']]);
      const rowsB = b.store.rows('accounts').map((r) => [r['accountid'], r['name'], r['accountnumber']]);
      expect(rowsA).toEqual(rowsB);
      expect(rowsA).toHaveLength(50);
      expect(new Set(rowsA.map((r) => r[2])).size).toBe(50);
      const contacts = a.store.rows('contacts');
      expect(contacts).toHaveLength(50);
      expect(contacts.some((c) => c['_parentcustomerid_value'])).toBe(true);
      expect(contacts.every((c) => typeof c['emailaddress1'] === 'string' && String(c['emailaddress1']).includes('@'))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('any $metadata', () => {
  it('serves every entity set of the 4.2 MB real document', async () => {
    const file = path.join(fixtures, 'metadata-v9.0-onprem-bcgov-lcrb.xml');
    const em = await startTestEmulator({ metadata: file });
    try {
      const token = await appToken(em);
      expect(em.store.entitySets()).toHaveLength(394);
      const meta = await get(em, token, '$metadata');
      expect(meta.body.length).toBe(fs.statSync(file).size);
      const custom = await get(em, token, 'adoxio_licenceses?$top=1');
      expect(custom.status).toBe(200);
      expect(custom.json).toEqual({ '@odata.context': `${em.url}/api/data/v9.2/$metadata#adoxio_licenceses`, value: [] });
      const who = await get(em, token, 'WhoAmI');
      expect(who.status).toBe(200);
    } finally {
      await em.close();
    }
  });
});
