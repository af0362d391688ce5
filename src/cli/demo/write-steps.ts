/**
 * The steps of the tour that write, or that change the service: they run against the emulator only.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DynamicsClient } from '../../client/DynamicsClient';
import type { TokenProvider } from '../../auth/types';
import { generate, type GenerateOptions } from '../../codegen';
import { EMULATOR_DEFAULTS, type Emulator } from '../../emulator';
import { DEFAULT_OPTION_SETS_LABEL } from '../../emulator/schema/default-optionsets';
import { PreconditionFailedError } from '../../errors';
import type { Schema } from './models';
import { count, seconds, type DemoIO, type Printer } from './output';
import { createProgressBar } from './progress';

/** Where a clone keeps the committed models (src/cli/demo and dist/cli/demo alike). */
const REPO_ROOT = path.resolve(__dirname, '../../..');

/**
 * Regenerates typed models live from the emulator, as a user does against their environment:
 * `$metadata` and the option sets (`EntityDefinitions`) downloaded with a bearer token, into a
 * scratch folder, with the header labels `npm run generate` writes, and compares them with the
 * committed `generated/`. The folder is never overwritten: a difference is reported, and
 * `npm run generate` refreshes it.
 */
export async function regenerateModels(p: Printer, emulator: Emulator, auth: TokenProvider, scratch: string): Promise<void> {
  const out = path.join(scratch, 'generated');
  const options: GenerateOptions = {
    url: emulator.url,
    auth,
    ca: emulator.caPem,
    out,
    downloadOptionSets: true,
    // The labels `npm run generate` writes into file headers, so identical input gives identical files.
    sourceLabel: 'dynamics-odata emulator default schema (src/emulator/schema/default-metadata.ts)',
    optionSetsLabel: DEFAULT_OPTION_SETS_LABEL,
  };
  const start = performance.now();
  const result = await generate(options);
  const ms = performance.now() - start;
  const committed = path.join(REPO_ROOT, 'generated');
  let verdict: string;
  if (!fs.existsSync(committed)) {
    verdict = 'no committed generated/ folder here to compare with';
  } else {
    const committedFiles = fs.readdirSync(committed).filter((f) => f.endsWith('.ts'));
    const produced = new Map(result.files.map((f) => [f.path, f.content]));
    const differing = result.files.filter((f) => !fs.existsSync(path.join(committed, f.path)) || fs.readFileSync(path.join(committed, f.path), 'utf8') !== f.content).map((f) => f.path);
    const extra = committedFiles.filter((f) => !produced.has(f));
    verdict =
      differing.length === 0 && extra.length === 0
        ? p.green(`identical to the committed generated/ (${count(result.files.length)} files)`)
        : p.yellow(`${differing.length + extra.length} file(s) differ from generated/ (${[...differing, ...extra].slice(0, 4).join(', ')}): run \`npm run generate\``);
  }
  const optionSetColumns = result.notes.length === 0 ? 'with option sets' : p.yellow(result.notes.join('; '));
  p.setup('Typed models', `regenerated live from the emulator's $metadata and EntityDefinitions: ${result.entityTypes} tables ${optionSetColumns}, ${count(result.files.length)} files in ${seconds(ms)}; ${verdict}`);
}

/** (d) A `$batch` with an atomic change set (Content-ID references), then one that fails and rolls back. */
export async function batchWithChangeSet(p: Printer, client: DynamicsClient<Schema>, tag: string): Promise<{ accountId: string }> {
  const results = await client.batch([
    {
      changeSet: [
        { method: 'POST', url: 'contacts', contentId: '1', body: { firstname: 'Ada', lastname: `Lovelace ${tag}` } },
        { method: 'POST', url: 'accounts', contentId: '2', body: { name: `Analytical Engines ${tag}`, 'primarycontactid@odata.bind': '$1' } },
      ],
    },
    { method: 'GET', url: 'WhoAmI' },
  ]);
  const [contactPart, accountPart, whoPart] = results;
  p.detail(p.dim(`client.batch([{ changeSet: [POST contacts (Content-ID 1), POST accounts with primarycontactid@odata.bind: '$1'] }, GET WhoAmI])`));
  p.detail(`change set → ${contactPart.status} ${accountPart.status}; GET outside it → ${whoPart.status}`);
  if (accountPart.entityId === undefined || contactPart.entityId === undefined) throw new Error('the change set did not report the ids of the records it created');
  const account = await client.retrieve('accounts', accountPart.entityId, { select: ['name', '_primarycontactid_value'] });
  p.detail(`'${account.name}' now points at its new primary contact: ${account._primarycontactid_value === contactPart.entityId ? p.green('linked through $1') : p.yellow('not linked')}`);

  // A change set is one transaction: the second part fails, so the first is undone.
  const failing = await client.batch([
    {
      changeSet: [
        { method: 'POST', url: 'accounts', body: { name: `Rolled back ${tag}` } },
        { method: 'PATCH', url: `accounts(${randomUUID()})`, headers: { 'If-Match': '*' }, body: { name: 'no such record' } },
      ],
    },
  ]);
  const kept = await client.count('accounts', { name: `Rolled back ${tag}` });
  p.detail(
    `a change set whose 2nd part fails (PATCH of a missing record, ${failing[1].status}): 1st part → ${failing[0].error?.code ?? failing[0].status}; ` +
      `records kept: ${kept === 0 ? p.green('0, rolled back') : p.yellow(String(kept))}`,
  );
  return { accountId: accountPart.entityId };
}

/** (e) Upsert with `createOnly` on a key that exists: PreconditionFailedError, caught; the record is untouched. */
export async function upsertConflict(p: Printer, client: DynamicsClient<Schema>, accountId: string, tag: string): Promise<void> {
  const before = await client.retrieve('accounts', accountId, { select: ['name'] });
  try {
    await client.upsert('accounts', accountId, { name: 'must not overwrite' }, { mode: 'createOnly' });
    throw new Error('createOnly on an existing record did not fail');
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    p.detail(p.dim(`client.upsert('accounts', '${accountId}', { name: … }, { mode: 'createOnly' })`));
    p.detail(`→ ${error.name} (HTTP ${error.status}, code ${error.code}): ${error.message.split('\n')[0]}`);
  }
  const after = await client.retrieve('accounts', accountId, { select: ['name'] });
  p.detail(`caught: the record still reads '${after.name}'${after.name === before.name ? ` ${p.green('(unchanged)')}` : p.yellow(' (changed!)')}`);
  // With a client-chosen id, createOnly is the create that is safe to re-send after a network failure.
  const id = randomUUID();
  await client.upsert('accounts', id, { name: `Retry-safe create ${tag}` }, { mode: 'createOnly' });
  p.detail(`the same call with a new client-chosen id creates it (${id.slice(0, 8)}…): the retry-safe way to create`);
}

/**
 * (f) Lowers the emulator's service-protection budget, fires a burst of creates at once and checks
 * that every create landed exactly once although many were answered 429.
 */
export async function throttledBurst(p: Printer, io: DemoIO, emulator: Emulator, client: DynamicsClient<Schema>, options: { creates: number; budget: number; windowInMs: number }, tag: string): Promise<{ throttled: number; lost: number; duplicated: number }> {
  emulator.setServiceProtection({ maxRequests: options.budget, windowInMs: options.windowInMs, maxConcurrent: EMULATOR_DEFAULTS.serviceProtection.maxConcurrent });
  const throttledBefore = emulator.counters.throttled;
  const prefix = `Burst ${tag} #`;
  const bar = createProgressBar(io.stderr, 'creates ', options.creates);
  let done = 0;
  const start = performance.now();
  p.detail(p.dim(`budget lowered to ${options.budget} requests per ${seconds(options.windowInMs)}; ${options.creates} × client.create('accounts', …) fired at once`));
  try {
    await Promise.all(
      Array.from({ length: options.creates }, (_, i) =>
        client.create('accounts', { name: `${prefix}${i}` }).then(() => bar.update(++done)),
      ),
    );
  } finally {
    bar.done();
    emulator.setServiceProtection(EMULATOR_DEFAULTS.serviceProtection);
  }
  const ms = performance.now() - start;
  const throttled = emulator.counters.throttled - throttledBefore;
  const names: string[] = [];
  for await (const row of client.list('accounts', { select: ['name'], filter: { name: { startswith: prefix } } })) names.push(row.name ?? '');
  const distinct = new Set(names).size;
  const lost = options.creates - distinct;
  const duplicated = names.length - distinct;
  p.detail(`${count(throttled)} responses were 429 (Retry-After honoured, the pause shared by all calls); ${count(done)} of ${count(options.creates)} creates succeeded in ${seconds(ms)}`);
  p.detail(`read back: ${count(names.length)} rows → ${lost === 0 && duplicated === 0 ? p.green(`0 lost, 0 duplicated`) : p.yellow(`${lost} lost, ${duplicated} duplicated`)}`);
  return { throttled, lost, duplicated };
}
