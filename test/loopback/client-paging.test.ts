/**
 * Paging and filtering against the emulator: 25,000 rows walked with page sizes 5000 and 333 (no row
 * lost or repeated, no page read ahead or kept once handed over), continuation tokens, $top, counts, and filter
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

/** Full collections, so that a page nobody references any more is gone from its WeakRef. */
function fullGc(): void {
  gc();
  gc();
}

describe.each([5000, 333])('walking 25,000 rows with maxPageSize %i', (pageSize) => {
  it('returns every row exactly once, in pages of that size, holding no page it has handed over', async () => {
    const seen = new Set<string>();
    let duplicates = 0;
    let pages = 0;
    // Memory is flat when the walk neither reads ahead nor keeps what it yielded. Both are counted here,
    // deterministically; how many MB that is lives in the benchmark (npm run bench, paging).
    const handedOver: Array<WeakRef<object>> = [];
    let stillHeld = 0;
    let readAhead = 0;
    const requestsSoFar = (): number => emulator.counters.apiRequests['GET /accounts'] ?? 0;
    const before = requestsSoFar();
    for await (const page of client.list('accounts', { select: ['accountnumber', 'description'], filter: { name: { startswith: 'Paged ' } }, maxPageSize: pageSize }).byPage()) {
      pages++;
      if (page.continuationToken !== undefined) expect(page).toHaveLength(pageSize);
      for (const row of page) {
        const key = row.accountnumber as string;
        if (seen.has(key)) duplicates++;
        seen.add(key);
      }
      // The page being handled is the only one fetched: the next is asked for when the loop asks.
      readAhead = Math.max(readAhead, requestsSoFar() - before - pages);
      handedOver.push(new WeakRef(page));
      if (pages % 5 === 0 || page.continuationToken === undefined) {
        fullGc();
        // Every page before the current one must be collectable by now. V8 may keep one a little longer
        // (seen: the page of the previous check, whose WeakRef was made in the job that ran that check), so
        // the bound is one page; a walk that buffers would still hold every earlier page (up to 75 here).
        stillHeld = Math.max(stillHeld, handedOver.slice(0, -1).filter((ref) => ref.deref() !== undefined).length);
      }
    }
    expect(duplicates).toBe(0);
    expect(seen.size).toBe(ROWS);
    expect(pages).toBe(Math.ceil(ROWS / pageSize));
    expect(requestsSoFar() - before).toBe(pages);
    expect(readAhead).toBe(0);
    expect(stillHeld).toBeLessThanOrEqual(1);
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
    // The table holds 25,000+ rows: Dataverse answers 5000, its cap.
    expect(await client.count('accounts')).toBe(5000);
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
