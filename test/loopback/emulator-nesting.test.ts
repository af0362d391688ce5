/**
 * Deeply nested input never exhausts the emulator's stack: `$filter` (parentheses, `not`, function
 * calls, aliases), `$expand`, long `and`/`or` chains and nested request bodies are bounded and
 * answered with Dataverse's 400, also inside a `$batch`, where the failing operation gets its own 400
 * and the batch is not a 500.
 */
import type { Emulator } from '../../src/emulator';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

const RECURSION = { error: { code: '0x0', message: 'The recursion limit has been exceeded.' } };

describe('nesting limits', () => {
  let em: Emulator;
  let token: string;
  beforeAll(async () => {
    em = await startTestEmulator();
    token = await appToken(em);
    em.store.insert('accounts', [{ name: 'Alpha', accountnumber: 'A-1' }, { name: 'Beta', accountnumber: 'B-2' }]);
  });
  afterAll(async () => {
    await em.close();
  });

  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${token}` });
  const get = (query: string): Promise<RawResponse> =>
    httpsRequest(em, { path: `/api/data/v9.2/accounts?${query}`, headers: { ...auth(), Accept: 'application/json' } });
  const filter = (expr: string): Promise<RawResponse> => get(`$filter=${encodeURIComponent(expr)}`);
  const nested = (depth: number, open: string, inner: string, close: string): string => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

  it('answers a $filter nested 2,000 parentheses deep with 400, not 500', async () => {
    const r = await filter(nested(2000, '(', "name eq 'Alpha'", ')'));
    expect(r.status).toBe(400);
    expect(r.json).toEqual(RECURSION);
  });

  it('answers 5,000 nested `not` with 400', async () => {
    const r = await filter(`${'not '.repeat(5000)}(name eq 'Alpha')`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual(RECURSION);
  });

  it('answers nested function calls and nested parentheses inside a function with 400', async () => {
    expect((await filter(`${nested(3000, 'tolower(', 'name', ')')} eq 'alpha'`)).json).toEqual(RECURSION);
    expect((await filter(`contains(${nested(3000, '(', 'name', ')')},'a')`)).json).toEqual(RECURSION);
  });

  it('still serves a filter nested a realistic depth', async () => {
    const r = await filter(nested(50, '(', "name eq 'Alpha'", ')'));
    expect(r.status).toBe(200);
    expect((r.json as { value: { name: string }[] }).value.map((a) => a.name)).toEqual(['Alpha']);
  });

  it('evaluates an `or` chain of 700 terms (about what a 32 KB URL holds)', async () => {
    const terms = Array.from({ length: 700 }, (_, i) => `accountnumber eq 'N-${i}'`);
    terms.push("accountnumber eq 'B-2'");
    const r = await filter(terms.join(' or '));
    expect(r.status).toBe(200);
    expect((r.json as { value: { name: string }[] }).value.map((a) => a.name)).toEqual(['Beta']);
  });

  it('answers an $expand nested beyond the limit with 400', async () => {
    // account → primary contact → its parent account → … (valid at every level, 1,000 levels deep)
    const levels = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 'primarycontactid' : 'parentcustomerid_account'));
    const r = await get(`$expand=${levels.join('($expand=')}${')'.repeat(levels.length - 1)}`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual(RECURSION);
  });

  it('answers a request body nested deeper than 100 levels with 400, whatever the column', async () => {
    const deep = `{"name":"Deep","description":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const r = await httpsRequest(em, { method: 'POST', path: '/api/data/v9.2/accounts', headers: { ...auth(), 'Content-Type': 'application/json' }, body: deep });
    expect(r.status).toBe(400);
    expect((r.json as { error: { message: string } }).error.message).toMatch(/nested deeper than the limit of 100/);
    expect(em.store.rows('accounts').some((a) => a['name'] === 'Deep')).toBe(false);
  });

  it('answers a deep insert nested beyond the limit with 400 and writes nothing', async () => {
    let inner: Record<string, unknown> = { lastname: 'Leaf' };
    for (let i = 0; i < 2000; i++) inner = i % 2 === 0 ? { name: `A${i}`, primarycontactid: inner } : { lastname: `C${i}`, parentcustomerid_account: inner };
    const before = em.store.count('contacts');
    const r = await httpsRequest(em, { method: 'POST', path: '/api/data/v9.2/accounts', headers: auth(), body: { name: 'Root', primarycontactid: inner } });
    expect(r.status).toBe(400);
    expect(em.store.count('contacts')).toBe(before);
  });

  it('answers a too-deep $filter inside a $batch with that operation\'s 400, not a 500 batch', async () => {
    const deep = encodeURIComponent(nested(2000, '(', "name eq 'Alpha'", ')'));
    const body = [
      '--batch_1',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      '',
      `GET ${em.apiUrl}/accounts?$filter=${deep} HTTP/1.1`,
      'Accept: application/json',
      '',
      '--batch_1',
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      '',
      `GET ${em.apiUrl}/accounts?$select=name HTTP/1.1`,
      'Accept: application/json',
      '',
      '--batch_1--',
      '',
    ].join('\r\n');
    const r = await httpsRequest(em, {
      method: 'POST',
      path: '/api/data/v9.2/$batch',
      headers: { ...auth(), 'Content-Type': 'multipart/mixed; boundary=batch_1', Prefer: 'odata.continue-on-error' },
      body,
    });
    expect(r.status).toBe(200);
    expect(r.body).toContain('HTTP/1.1 400 Bad Request');
    expect(r.body).toContain(JSON.stringify(RECURSION));
    expect(r.body).toContain('HTTP/1.1 200 OK');
    expect(r.body).not.toContain('500');
  });
});
