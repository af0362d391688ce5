/**
 * Hostile arguments against the emulator (issue 11, items 3, 4, 14 and 15): each is refused with a
 * DynamicsError `invalid_argument` before anything is sent (the emulator's counters stay at 0, no
 * token is even fetched), never a raw RangeError/TypeError/URIError, and never a query that matches
 * more rows than the caller asked for. The non-empty forms still reach the emulator and match the
 * right rows.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { DynamicsService } from '../../src/compat';
import type { Emulator } from '../../src/emulator';
import { DynamicsError, ErrorCode } from '../../src/errors';
import { buildQueryString, guid } from '../../src/odata/query';
import { startTestEmulator } from '../helpers/emulator';

let emulator: Emulator;
let dir: string;
const clients: DynamicsClient[] = [];
const services: DynamicsService[] = [];
/** The accounts this file created, all tagged with one run id so that counts are exact. */
const tag = `hostile-args-${randomUUID().slice(0, 8)}`;
const ids: string[] = [];

/** A client that has sent nothing yet: a refusal must not even fetch a token. */
function freshClient(): DynamicsClient {
  const client = new DynamicsClient({
    url: emulator.url,
    ca: emulator.caPem,
    auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
  });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  emulator = await startTestEmulator({ seed: 30 });
  dir = mkdtempSync(path.join(tmpdir(), 'hostile-arguments-'));
  writeFileSync(path.join(dir, 'ca.pem'), emulator.caPem);
  const setup = freshClient();
  for (let i = 0; i < 3; i++) ids.push(await setup.create('accounts', { name: `${tag} ${i}`, accountnumber: `${tag}-${i}` }));
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(services.map((s) => s.close()));
  await emulator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `act` with counters at 0 and checks it is refused with invalid_argument and that nothing reached the emulator. */
async function refusedBeforeSending(act: () => unknown): Promise<DynamicsError> {
  emulator.resetCounters();
  let error: unknown;
  try {
    await act();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(DynamicsError);
  expect((error as DynamicsError).code).toBe(ErrorCode.invalidArgument);
  expect(emulator.counters.apiRequestsTotal).toBe(0);
  expect(emulator.counters.tokenRequestsTotal).toBe(0);
  return error as DynamicsError;
}

describe('empty lists never widen a query (item 4): refused before any request', () => {
  it('the table holds more rows than the ones we ask for, so a widened query would show', async () => {
    expect(await freshClient().count('accounts')).toBeGreaterThan(ids.length);
  });

  const idsFilter = (list: string[]) => ({ or: list.map((id) => ({ accountid: guid(id) })) });

  it.each<[string, () => unknown]>([
    ['{ or: ids.map(...) } with no ids', () => idsFilter([])],
    ['{ statecode: 0, or: [] }', () => ({ statecode: 0, or: [] })],
    ['{ and: [] }', () => ({ and: [] })],
    ['{ not: {} }', () => ({ not: {} })],
    ['{ accountid: { in: [] } }', () => ({ accountid: { in: [] } })],
    ['an empty or three levels down', () => ({ statecode: 0, and: [{ or: [{ name: 'x' }, { and: [{ or: [] }] }] }] })],
    ['an empty or under a column', () => ({ parentaccountid: { or: [] } })],
    ['an empty top-level list', () => []],
  ])('count and list refuse %s', async (_, make) => {
    const client = freshClient();
    const countError = await refusedBeforeSending(() => client.count('accounts', make() as never));
    expect(countError.message).toMatch(/expected a non-empty/);
    // list() refuses at the call, not at the first iteration.
    const listError = await refusedBeforeSending(() => client.list('accounts', { select: ['name'], filter: make() as never }));
    expect(listError.message).toMatch(/expected a non-empty/);
  });

  it('the message says what to do', async () => {
    const error = await refusedBeforeSending(() => freshClient().count('accounts', idsFilter([])));
    expect(error.message).toContain('skip the query when the list is empty');
  });

  it('retrieve refuses an empty or in an expand filter, and the $batch query helper refuses it too', async () => {
    await refusedBeforeSending(() => freshClient().retrieve('accounts', ids[0], { expand: { contact_customer_accounts: { filter: { or: [] } } } } as never));
    await refusedBeforeSending(() => freshClient().batch([{ method: 'GET', url: `accounts${buildQueryString({ filter: { or: [] } })}` }]));
  });

  it('the non-empty forms still match exactly the rows asked for', async () => {
    const client = freshClient();
    expect(await client.count('accounts', idsFilter(ids.slice(0, 2)))).toBe(2);
    expect(await client.count('accounts', { and: [{ name: { startswith: tag } }], not: { accountid: guid(ids[0]) } })).toBe(2);
    const names: string[] = [];
    for await (const row of client.list('accounts', { select: ['name'], filter: { or: [{ accountid: guid(ids[1]) }], statecode: 0 } })) names.push(String(row.name));
    expect(names).toEqual([`${tag} 1`]);
  });

  it("a column's or list keeps its parentheses: it cannot widen the rest of the filter", async () => {
    // odata-query wrote `(name eq a) or (name eq b) and accountnumber eq c`, which reads as `a or (b and c)`.
    const filter = { name: { or: [{ eq: `${tag} 0` }, { eq: `${tag} 1` }] }, accountnumber: `${tag}-1` };
    expect(await freshClient().count('accounts', filter as never)).toBe(1);
  });
});

describe('deep, cyclic and huge queries (items 3, 14): refused before any request', () => {
  it('a filter nested 10,000 levels deep', async () => {
    let filter: Record<string, unknown> = { name: 'x' };
    for (let i = 0; i < 10_000; i++) filter = { and: [filter] };
    const error = await refusedBeforeSending(() => freshClient().count('accounts', filter as never));
    expect(error.message).toContain('at most 100 levels');
  });

  it('a cyclic filter, expand and list', async () => {
    const filter: Record<string, unknown> = { name: 'x' };
    filter.or = [filter];
    expect((await refusedBeforeSending(() => freshClient().count('accounts', filter as never))).message).toContain('contains itself');
    const options: Record<string, unknown> = {};
    options.expand = { primarycontactid: options };
    await refusedBeforeSending(() => freshClient().list('accounts', { expand: { primarycontactid: options } } as never));
  });

  it('a 1 MB filter value: refused with a short message that names the filter and suggests $batch', async () => {
    const error = await refusedBeforeSending(() => freshClient().count('accounts', { name: 'x'.repeat(1_000_000) }));
    expect(error.message).toMatch(/^filter\.filter: the query string alone is 1,000,0\d\d characters long, and Dataverse accepts at most 32,768/);
    expect(error.message).toContain('client.batch()');
    expect(error.message.length).toBeLessThan(800);
  });

  it('a long URL given to request() or DynamicsService is refused the same way', async () => {
    const long = `accounts?$filter=name eq '${'x'.repeat(40_000)}'`;
    const error = await refusedBeforeSending(() => freshClient().request('GET', long));
    expect(error.message).toMatch(/^url: the request URL is 40,\d{3} characters long/);
    expect(error.message.length).toBeLessThan(800);

    const service = new DynamicsService({ env: { ...emulator.env(path.join(dir, 'ca.pem')), DYNAMICS_ENABLED: 'true' } });
    services.push(service);
    await refusedBeforeSending(() => service.get(`api/data/v9.2/${long}`));
  });

  it('a long query within the limit is sent', async () => {
    // 10,000 characters: the emulator's HTTP server (Node's 16 KB header limit) refuses request lines
    // of 16 KB and more with 431, though Dataverse accepts 32 KB.
    expect(await freshClient().count('accounts', { name: 'x'.repeat(10_000) })).toBe(0);
  });
});

describe('keys are column names (item 15): refused before any request', () => {
  it.each<[string, unknown]>([
    ['an expression as a key', { "name eq 'nobody' or statecode": 0 }],
    ['a function as a key', { 'tolower(name)': 'x' }],
    ['an expression as a nested key', { parentaccountid: { 'name eq 1) or (true': 1 } }],
    ['an object value whose keys would be written verbatim', { name: { eq: { "x') or (true": 1 } } }],
  ])('%s', async (_, filter) => {
    const error = await refusedBeforeSending(() => freshClient().count('accounts', filter as never));
    expect(error.message).toMatch(/^filter\.filter/);
  });

  it('orderBy, select and expand names', async () => {
    const client = freshClient();
    await refusedBeforeSending(() => client.list('accounts', { orderBy: 'name,$top=1' } as never));
    await refusedBeforeSending(() => client.list('accounts', { select: ['name);$filter=(true'] } as never));
    await refusedBeforeSending(() => client.list('accounts', { expand: { 'primarycontactid),parentaccountid(': true } } as never));
  });
});

describe('caller data that JSON cannot write (item 14): refused before any request, naming its path', () => {
  it.each<[string, (client: DynamicsClient) => unknown, RegExp]>([
    ['create with a BigInt', (c) => c.create('accounts', { name: 'x', revenue: 10n } as never), /^record: expected a JSON-serialisable value, but record\.revenue is a BigInt/],
    [
      'create with a cyclic record',
      (c) => {
        const record: Record<string, unknown> = { name: 'x' };
        record.self = record;
        return c.create('accounts', record);
      },
      /^record: expected a JSON-serialisable value, but record\.self refers back to record/,
    ],
    ['update with a BigInt', (c) => c.update('accounts', ids[0], { revenue: 1n } as never), /^changes: .*changes\.revenue is a BigInt/],
    ['upsert with a BigInt', (c) => c.upsert('accounts', ids[0], { revenue: 1n } as never), /^record: .*record\.revenue is a BigInt/],
    ['create with a Map (JSON would send {})', (c) => c.create('accounts', new Map([['name', 'x']]) as never), /^record: expected a record object, not a Map/],
    ['callAction with a BigInt parameter', (c) => c.callAction('PublishXml', { ParameterXml: 1n }), /^params: .*params\.ParameterXml is a BigInt/],
    ['callFunction with a BigInt in an array parameter', (c) => c.callFunction('WhoAmI', { list: [1n] } as never), /^params\.list: .*params\.list\[0\] is a BigInt/],
    ['request() with a cyclic body', (c) => {
      const body: Record<string, unknown> = {};
      body.me = { again: body };
      return c.request('POST', 'accounts', body);
    }, /^body: .*body\.me\.again refers back to body/],
    ['batch with a BigInt body', (c) => c.batch([{ method: 'POST', url: 'accounts', body: { revenue: 1n } }]), /^operations\[0\]\.body: .*operations\[0\]\.body\.revenue is a BigInt/],
    ['an alternate key with a lone surrogate', (c) => c.retrieve('accounts', { accountnumber: 'A\ud800' }), /^key\.accountnumber: expected well-formed Unicode text/],
    ['a filter value with a lone surrogate', (c) => c.count('accounts', { name: '\udc00' }), /^filter\.filter\.name: expected well-formed Unicode text/],
    ['a request() parameter with a lone surrogate', (c) => c.request('GET', 'accounts', undefined, { params: { $filter: '\ud800' } }), /^options\.params\.\$filter: expected well-formed/],
  ])('%s', async (_, act, message) => {
    const client = freshClient();
    const error = await refusedBeforeSending(() => act(client));
    expect(error.message).toMatch(message);
  });

  it('DynamicsService.post with a cyclic body', async () => {
    const service = new DynamicsService({ env: { ...emulator.env(path.join(dir, 'ca.pem')), DYNAMICS_ENABLED: 'true' } });
    services.push(service);
    const data: Record<string, unknown> = { name: 'x' };
    data.self = data;
    const error = await refusedBeforeSending(() => service.post('api/data/v9.2/accounts', data));
    expect(error.message).toMatch(/^body: .*body\.self refers back to body/);
  });
});
