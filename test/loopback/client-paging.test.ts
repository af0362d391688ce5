/**
 * Paging and filtering against the emulator: 25,000 rows walked with page sizes 5000 and 333 (no row
 * lost or repeated, heap flat however many pages), continuation tokens, $top, counts, and filter
 * values that need escaping and percent-encoding.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startEmulator, type Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { stringLiteral } from '../../src/odata/query';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ROWS = 25_000;
/** Each row carries ~1 KB so that buffering pages would show clearly on the heap. */
const FILLER = 'x'.repeat(1000);

let emulator: Emulator;
let client: DynamicsClient;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0 });
  emulator.store.insert(
    'accounts',
    Array.from({ length: ROWS }, (_, i) => ({ name: `Paged ${String(i).padStart(5, '0')}`, accountnumber: `P-${i}`, description: FILLER })),
  );
  client = new DynamicsClient({
    url: emulator.url,
    ca: emulator.caPem,
    auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
  });
}, 120_000);

afterAll(async () => {
  client?.close();
  await emulator?.close();
});

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe.each([5000, 333])('walking 25,000 rows with maxPageSize %i', (pageSize) => {
  it('returns every row exactly once, in pages of that size, with a flat heap', async () => {
    const seen = new Set<string>();
    let duplicates = 0;
    let pages = 0;
    let pageBytes = 0;
    let firstHeap = 0;
    let peakGrowth = 0;
    for await (const page of client.list('accounts', { select: ['accountnumber', 'description'], filter: { name: { startswith: 'Paged ' } }, maxPageSize: pageSize }).byPage()) {
      pages++;
      if (page.continuationToken !== undefined) expect(page).toHaveLength(pageSize);
      for (const row of page) {
        const key = row.accountnumber as string;
        if (seen.has(key)) duplicates++;
        seen.add(key);
      }
      if (pages === 1) {
        pageBytes = Buffer.byteLength(JSON.stringify(page));
        firstHeap = heapAfterGc();
      } else if (pages % 5 === 0 || page.continuationToken === undefined) {
        peakGrowth = Math.max(peakGrowth, heapAfterGc() - firstHeap);
      }
    }
    expect(duplicates).toBe(0);
    expect(seen.size).toBe(ROWS);
    expect(pages).toBe(Math.ceil(ROWS / pageSize));
    // Buffering would grow the heap by (pages - 1) pages; walking holds about one page at a time.
    const buffered = (pages - 1) * pageBytes;
    expect(peakGrowth).toBeLessThan(Math.max(2 * pageBytes, 4 * 1024 * 1024));
    expect(peakGrowth).toBeLessThan(buffered / 2);
  }, 120_000);
});

describe('paging details', () => {
  it('iterating records follows every nextLink', async () => {
    let n = 0;
    for await (const row of client.list('accounts', { select: ['name'], filter: { name: { startswith: 'Paged 1' } }, maxPageSize: 1000 })) {
      expect(row.name).toMatch(/^Paged 1/);
      n++;
    }
    expect(n).toBe(10_000);
  });

  it('resumes from a continuation token (the nextLink, unmodified)', async () => {
    const query = { select: ['accountnumber'] as const, filter: { name: { startswith: 'Paged 0' } }, orderBy: 'name' as const, maxPageSize: 400 };
    const all: string[] = [];
    let token: string | undefined;
    const first = client.list('accounts', query).byPage();
    const page1 = (await first.next()).value as unknown as Array<{ accountnumber: string }> & { continuationToken?: string };
    all.push(...page1.map((r) => r.accountnumber));
    token = page1.continuationToken;
    expect(token).toContain('$skiptoken=');
    await first.return?.(undefined);
    for await (const page of client.list('accounts', query).byPage({ continuationToken: token })) all.push(...page.map((r) => r.accountnumber as string));
    expect(all).toHaveLength(10_000);
    expect(new Set(all).size).toBe(10_000);
  });

  it('a continuation token from elsewhere is refused', () => {
    const pages = client.list('accounts').byPage({ continuationToken: 'https://evil.example/api/data/v9.2/accounts?$skiptoken=x' });
    return expect(pages.next()).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('top stops after that many rows, with a page size and beyond one page', async () => {
    const withPages: unknown[] = [];
    for await (const row of client.list('accounts', { select: ['name'], filter: { name: { startswith: 'Paged ' } }, top: 1234, maxPageSize: 500 })) withPages.push(row);
    expect(withPages).toHaveLength(1234);
    let big = 0;
    for await (const page of client.list('accounts', { select: ['name'], filter: { name: { startswith: 'Paged ' } }, top: 7777 }).byPage()) big += page.length;
    expect(big).toBe(7777);
    const small: unknown[] = [];
    for await (const row of client.list('accounts', { select: ['name'], top: 3 })) small.push(row);
    expect(small).toHaveLength(3);
  });

  it('count() uses /$count (capped at 5000 by Dataverse), with a filter', async () => {
    const capped = await client.count('accounts');
    expect(capped).toBeLessThanOrEqual(5000);
    expect(await client.count('accounts', { name: { startswith: 'Paged 2499' } })).toBe(10);
  });

  it('count: true puts @odata.count on the page', async () => {
    const pages = client.list('accounts', { select: ['name'], filter: { name: { startswith: 'Paged 0001' } }, count: true }).byPage();
    const page = (await pages.next()).value as { count?: number; length: number };
    expect(page.count).toBe(10);
    expect(page.length).toBe(10);
  });
});

describe('filter values that need escaping', () => {
  const names = ["O'Brien", "O''Brien's", 'Zoë Łukasz 北京 😀', 'a&b#c?d+e%f', 'a%20b', 'semi;colon,comma=eq', 'tab\there'];

  beforeAll(() => {
    emulator.store.insert('accounts', names.map((name, i) => ({ name, accountnumber: `ESC-${i}` })));
  });

  it.each(names)('object filter finds %j exactly', async (name) => {
    const rows: Array<{ name?: unknown }> = [];
    for await (const row of client.list('accounts', { select: ['name'], filter: { name } })) rows.push(row);
    expect(rows.map((r) => r.name)).toEqual([name]);
  });

  it.each(names)('string filter with stringLiteral finds %j exactly', async (name) => {
    const rows: Array<{ name?: unknown }> = [];
    for await (const row of client.list('accounts', { select: ['name'], filter: `name eq ${stringLiteral(name)}` })) rows.push(row);
    expect(rows.map((r) => r.name)).toEqual([name]);
  });

  it('contains / startswith with special characters', async () => {
    const rows: Array<{ name?: unknown }> = [];
    for await (const row of client.list('accounts', { select: ['name'], filter: { name: { contains: '&b#c?d+e%' } } })) rows.push(row);
    expect(rows.map((r) => r.name)).toEqual(['a&b#c?d+e%f']);
    expect(await client.count('accounts', { name: { startswith: "O'" } })).toBe(2);
  });
});
