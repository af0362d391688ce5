/**
 * The read-only steps of the tour. They run against the emulator and, unchanged, against a real
 * environment (`dynamics-odata demo --url …`): nothing here writes.
 */
import type { DynamicsClient } from '../../client/DynamicsClient';
import type { FilterQuery } from '../../client/types';
import type { DynamicsService } from '../../compat';
import type { DynamicsGrantType } from '../../compat/types';
import type { Account, Contact, ContactModel, Schema } from './models';
import { WhoAmI } from './models';
import { count, money, seconds, type DemoIO, type Printer } from './output';
import { createProgressBar } from './progress';

/** Path of the Web API relative to the environment URL, as `@edirect/dynamics` users write it. */
const API = 'api/data/v9.2';

/** (a) The drop-in: the `@edirect/dynamics` API, configured from `DYNAMICS_*` variables alone. */
export async function dropInService(p: Printer, service: DynamicsService, grant: DynamicsGrantType): Promise<void> {
  const who = (await service.get<{ UserId: string; OrganizationId: string }>(`${API}/WhoAmI`, undefined, grant))!;
  p.detail(`dynamics.get('${API}/WhoAmI')  →  UserId ${who.UserId}`);
  const page = (await service.get<{ value: Array<{ name: string | null }> }>(`${API}/accounts`, { params: { $select: 'name', $top: 3 } }, grant))!;
  p.detail(`dynamics.get('${API}/accounts', { params: { $select: 'name', $top: 3 } })  →  ${page.value.map((a) => a.name ?? '(no name)').join(' · ')}`);
  p.detail(p.dim(`same calls as @edirect/dynamics; tokens from MSAL's cache (grant: ${grant}), retries on 429/503, typed errors`));
}

/**
 * (b) A typed `list`: `select` narrows each row to the chosen columns (a misspelt column does not
 * compile), `filter` values are escaped for you (O'Brien), `expand` joins the parent account.
 */
export async function typedList(p: Printer, client: DynamicsClient<Schema>, filter: FilterQuery<Contact, typeof ContactModel, Schema>, filterText: string): Promise<number> {
  const rows = client.list('contacts', {
    select: ['fullname', 'jobtitle', 'address1_city'],
    filter,
    expand: { parentcustomerid_account: { select: ['name'] } },
    orderBy: 'fullname',
    top: 5,
  });
  p.detail(p.dim(`client.list('contacts', { select: ['fullname', 'jobtitle', 'address1_city'], filter: ${filterText},`));
  p.detail(p.dim(`  expand: { parentcustomerid_account: { select: ['name'] } }, orderBy: 'fullname', top: 5 })`));
  const table: string[][] = [];
  for await (const contact of rows) {
    // `contact` is Pick<Contact, 'fullname' | 'jobtitle' | 'address1_city'> plus the expanded account.
    const account = contact.parentcustomerid_account as Pick<Account, 'name'> | null | undefined;
    table.push([contact.fullname ?? '', contact.jobtitle ?? '', contact.address1_city ?? '', account?.name ?? '(no account)']);
  }
  if (table.length === 0) p.detail('(no contact matched)');
  else p.table(table);
  return table.length;
}

export interface PagingSummary {
  rows: number;
  pages: number;
  distinct: number;
  ms: number;
}

/**
 * (c) Paging: `byPage()` follows `@odata.nextLink` unmodified, one page in memory at a time; the
 * progress bar is drawn on stderr.
 */
export async function pageThrough(p: Printer, io: DemoIO, client: DynamicsClient<Schema>, options: { expected?: number; maxRows?: number; pageSize: number }): Promise<PagingSummary> {
  const seen = new Set<string>();
  let rows = 0;
  let pages = 0;
  let revenue = 0;
  const total = options.expected ?? options.maxRows;
  const bar = createProgressBar(io.stderr, 'accounts', options.expected);
  const start = performance.now();
  p.detail(p.dim(`for await (const page of client.list('accounts', { select: ['accountid', 'revenue'], maxPageSize: ${options.pageSize} }).byPage())`));
  try {
    for await (const page of client.list('accounts', { select: ['accountid', 'revenue'], maxPageSize: options.pageSize }).byPage()) {
      pages++;
      for (const account of page) {
        rows++;
        seen.add(account.accountid);
        revenue += account.revenue ?? 0;
      }
      bar.update(rows, total);
      if (options.maxRows !== undefined && rows >= options.maxRows) break;
    }
  } finally {
    bar.done();
  }
  const ms = performance.now() - start;
  const rate = Math.round((rows / ms) * 1000);
  p.detail(`${count(rows)} rows in ${count(pages)} pages, ${seconds(ms)} (${count(rate)} rows/s), total revenue ${money(revenue)}`);
  const repeated = rows - seen.size;
  if (options.expected !== undefined) {
    const lost = options.expected - seen.size;
    p.detail(`${count(seen.size)} distinct ids of ${count(options.expected)} in the table: ${lost === 0 && repeated === 0 ? p.green('no row lost, none repeated') : p.yellow(`${lost} lost, ${repeated} repeated`)}`);
  } else {
    p.detail(`${count(seen.size)} distinct ids: ${repeated === 0 ? p.green('none repeated') : p.yellow(`${repeated} repeated`)}${options.maxRows !== undefined && rows >= options.maxRows ? ` (stopped at --max-rows ${count(options.maxRows)})` : ''}`);
  }
  return { rows, pages, distinct: seen.size, ms };
}

/** WhoAmI through the generated, typed function wrapper. */
export async function whoAmI(client: DynamicsClient<Schema>): Promise<string> {
  const who = await WhoAmI(client);
  return who.UserId ?? '(none)';
}
