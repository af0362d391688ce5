/**
 * `dynamics-odata demo` (`npm run demo`): a guided, typed tour of the library.
 *
 * With no options it needs no configuration: it starts the emulator with seeded data, regenerates
 * typed models from the emulator's `$metadata`, then walks the drop-in `DynamicsService`, a typed
 * `list`, paging through every row, a `$batch` with a change set, an upsert conflict and a throttled
 * burst, and prints what happened. With `--url` it runs the read-only part of the tour against a
 * real environment, with credentials from the environment (`loadAuthConfig`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MsalTokenProvider } from '../auth/MsalTokenProvider';
import { loadAuthConfig } from '../auth/config';
import { DynamicsClient } from '../client/DynamicsClient';
import { DynamicsService } from '../compat';
import { startEmulator, type Emulator } from '../emulator';
import { ConfigurationError, DynamicsError } from '../errors';
import type { Schema } from './demo/models';
import { count, Printer, seconds, type DemoIO } from './demo/output';
import { dropInService, pageThrough, typedList, whoAmI } from './demo/read-steps';
import { batchWithChangeSet, regenerateModels, throttledBurst, upsertConflict } from './demo/write-steps';

const USAGE = `usage: dynamics-odata demo [options]

A typed tour of dynamics-odata. Without --url it starts the local emulator (no configuration
needed) and runs every step; with --url it runs the read-only steps against a real environment.

options:
  --url URL         a real environment (https://<org>.crm.dynamics.com); credentials come from the
                    environment: DYNAMICS_TOKEN_URL / DYNAMICS_CLIENT_ID / DYNAMICS_CLIENT_SECRET
                    (+ DYNAMICS_USER_NAME / DYNAMICS_PASSWORD), or AZURE_TENANT_ID / AZURE_CLIENT_ID /
                    AZURE_CLIENT_SECRET
  --rows N          emulator: accounts (and contacts) to seed and page through (default: 20000)
  --max-rows N      --url: stop paging after N rows (default: 20000)
  -h, --help        show this help
`;

/** What the tour is sized to by default: about 20,000 rows, a few seconds of throttling. */
export const DEMO_DEFAULTS = {
  rows: 20_000,
  maxRows: 20_000,
  pageSize: 1000,
  burstCreates: 120,
  burstBudget: 40,
  burstWindowInMs: 1000,
} as const;

class UsageError extends Error {}

interface DemoFlags {
  help: boolean;
  url?: string;
  rows: number;
  maxRows: number;
}

function integerFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got '${value}'`);
  return Number(value);
}

function parseFlags(argv: string[]): DemoFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { url: { type: 'string' }, rows: { type: 'string' }, 'max-rows': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  let url: string | undefined;
  if (values.url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(values.url);
    } catch {
      throw new UsageError(`--url must be an environment URL such as https://contoso.crm.dynamics.com, got '${values.url}'`);
    }
    if (parsed.protocol !== 'https:') throw new UsageError(`--url must be an https URL, got '${values.url}'`);
    url = parsed.origin;
  }
  return {
    help: values.help === true,
    ...(url !== undefined ? { url } : {}),
    rows: integerFlag('rows', values.rows, DEMO_DEFAULTS.rows, 10, 1_000_000),
    maxRows: integerFlag('max-rows', values['max-rows'], DEMO_DEFAULTS.maxRows, 1, 10_000_000),
  };
}

/**
 * Runs the demo. Returns the exit code: 0 when every step succeeded, 1 when one failed, 2 for a
 * command-line or configuration mistake.
 */
export async function run(argv: string[], io: DemoIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let flags: DemoFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`dynamics-odata demo: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const p = new Printer(io);
  const started = performance.now();
  try {
    if (flags.url !== undefined) await remoteTour(p, io, flags.url, flags.maxRows);
    else await emulatorTour(p, io, flags.rows);
  } catch (err) {
    const failed = p.steps.find((s) => !s.ok);
    p.line();
    if (err instanceof ConfigurationError) {
      io.stderr.write(`dynamics-odata demo: ${err.message}\n`);
      return 2;
    }
    const detail = err instanceof DynamicsError ? `${err.name} (${err.code}${err.status !== undefined ? `, HTTP ${err.status}` : ''}): ${err.message}` : err instanceof Error ? err.message : String(err);
    io.stderr.write(`dynamics-odata demo: ${failed ? `step "${failed.title}" failed` : 'setup failed'}: ${detail}\n`);
    return 1;
  }
  p.line();
  p.line(p.bold('Summary'));
  const width = Math.max(...p.steps.map((s) => [...s.title].length));
  for (const s of p.steps) p.detail(`${p.green('✓')} ${s.title}${' '.repeat(width - [...s.title].length)}  ${p.dim(seconds(s.ms))}`);
  p.line();
  p.line(`${p.green('✓')} ${p.steps.length} steps in ${seconds(performance.now() - started)}. Next: read README.md, or point your app at \`npx dynamics-odata emulator\`.`);
  return 0;
}

async function emulatorTour(p: Printer, io: DemoIO, rows: number): Promise<void> {
  p.line(p.bold('dynamics-odata demo: a typed tour against the local emulator (no configuration needed)'));
  p.line();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dynamics-odata-demo-'));
  let emulator: Emulator | undefined;
  const closers: Array<() => unknown> = [];
  try {
    const start = performance.now();
    emulator = await startEmulator({ seed: rows });
    p.setup('Emulator', `${emulator.url} · ${count(emulator.store.count('accounts'))} accounts, ${count(emulator.store.count('contacts'))} contacts · ready in ${seconds(performance.now() - start)}`);
    const caFile = path.join(scratch, 'emulator-ca.pem');
    fs.writeFileSync(caFile, emulator.caPem);
    const env = emulator.env(caFile);
    p.setup('Environment', `${Object.keys(env).join(' ')}`);

    // One token provider for the generator and the typed client: one token request for both.
    const auth = new MsalTokenProvider({ tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret, resource: emulator.url, ca: emulator.caPem });
    closers.push(() => auth.close());
    await regenerateModels(p, emulator, auth, scratch);

    const client = new DynamicsClient<Schema>({ url: emulator.url, auth, ca: emulator.caPem });
    closers.push(() => client.close());
    const tag = `${process.pid}-${Date.now().toString(36)}`;

    await p.step('Drop-in DynamicsService, configured from DYNAMICS_* only', async () => {
      const service = new DynamicsService({ env: { ...env, DYNAMICS_ENABLED: 'true' } });
      closers.push(() => service.close());
      await dropInService(p, service, 'password');
    });
    await p.step("Typed list: select, filter (O'Brien in München), expand", async () => {
      await typedList(p, client, { lastname: "O'Brien", address1_city: 'München', _parentcustomerid_value: { ne: null } }, `{ lastname: "O'Brien", address1_city: 'München', _parentcustomerid_value: { ne: null } }`);
    });
    await p.step(`Paging through all ${count(rows)} accounts`, async () => {
      await pageThrough(p, io, client, { expected: emulator!.store.count('accounts'), pageSize: DEMO_DEFAULTS.pageSize });
    });
    const { accountId } = await p.step('$batch with an atomic change set', () => batchWithChangeSet(p, client, tag));
    await p.step('Upsert conflict, handled', () => upsertConflict(p, client, accountId, tag));
    await p.step('Throttled burst that survives its 429s', async () => {
      const result = await throttledBurst(p, io, emulator!, client, { creates: DEMO_DEFAULTS.burstCreates, budget: DEMO_DEFAULTS.burstBudget, windowInMs: DEMO_DEFAULTS.burstWindowInMs }, tag);
      if (result.lost !== 0 || result.duplicated !== 0) throw new Error(`${result.lost} creates lost and ${result.duplicated} duplicated under throttling`);
    });

    const c = emulator.counters;
    p.line();
    p.setup(
      'Emulator saw',
      `${count(c.apiRequestsTotal)} Web API requests, ${count(c.throttled)} answered 429, ${count(c.tokenRequestsTotal)} token requests (${Object.entries(c.tokenRequests)
        .map(([grant, n]) => `${n} ${grant}`)
        .join(', ')})`,
    );
  } finally {
    for (const close of closers.reverse()) await close();
    await emulator?.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function remoteTour(p: Printer, io: DemoIO, url: string, maxRows: number): Promise<void> {
  p.line(p.bold(`dynamics-odata demo: the read-only tour against ${url}`));
  p.line();
  // --url wins over DYNAMICS_RESOURCE / DYNAMICS_URL, so the token is always for the environment called.
  const env = { ...io.env, DYNAMICS_RESOURCE: url, DYNAMICS_URL: url };
  const config = loadAuthConfig(env);
  const grant = config.username !== undefined ? 'password' : 'client_credentials';
  p.setup('Environment', `${url} · grant ${grant} · client ${config.clientId}`);
  const auth = new MsalTokenProvider(config);
  const client = new DynamicsClient<Schema>({ url, auth, ...(config.ca !== undefined ? { ca: config.ca } : {}) });
  const closers: Array<() => unknown> = [() => client.close(), () => auth.close()];
  try {
    const start = performance.now();
    const userId = await whoAmI(client);
    p.setup('Signed in', `WhoAmI → UserId ${userId} (${seconds(performance.now() - start)}, token from MSAL)`);
    await p.step('Drop-in DynamicsService, configured from the environment', async () => {
      let service: DynamicsService;
      try {
        service = new DynamicsService({ env: { ...env, DYNAMICS_ENABLED: 'true' } });
      } catch (err) {
        if (!(err instanceof ConfigurationError)) throw err;
        p.detail(p.yellow(`skipped: DynamicsService reads the @edirect/dynamics variables (${err.issues.map((i) => i.name).join(', ')})`));
        return;
      }
      closers.unshift(() => service.close());
      await dropInService(p, service, grant);
    });
    await p.step('Typed list: select, filter, expand', async () => {
      await typedList(p, client, { statecode: 0 }, '{ statecode: 0 }');
    });
    await p.step(`Paging through accounts (up to ${count(maxRows)})`, async () => {
      await pageThrough(p, io, client, { maxRows, pageSize: DEMO_DEFAULTS.pageSize });
    });
    p.line();
    p.detail(p.dim('Writes ($batch, upsert conflict, throttled burst) run only against the emulator: `npm run demo`.'));
  } finally {
    for (const close of closers) await close();
  }
}
