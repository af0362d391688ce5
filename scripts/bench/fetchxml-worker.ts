/**
 * One FetchXML walk in its own process (started by scripts/bench/fetchxml.ts with `fork()`), so that
 * each contender's CPU and peak RSS are its own: `DynamicsClient.fetchXml()` (from `dist/`, as users
 * install it) or dynamics-web-api's `fetchAll`. The task arrives as a JSON file path in argv; the
 * result leaves as `{ type: 'result', result }`.
 *
 * Every row is checked, not just counted: the rows' account numbers (`A000001`…) are summed, and
 * their squares too, so a lost or repeated row changes the checksums. No set of ids is kept, which
 * would itself cost the memory being measured.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import axios from 'axios';
import { DynamicsWebApi } from 'dynamics-web-api';
import type { Target } from './worker';

const distEntry = path.resolve(__dirname, '../../dist/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DynamicsClient } = require(existsSync(distEntry) ? distEntry : '../../src') as typeof import('../../src');

export type FetchXmlContender = 'client' | 'dwa' | 'idle';

export interface FetchXmlTask {
  target: Target;
  contender: FetchXmlContender;
  fetchXml: string;
}

export interface FetchXmlRun {
  rows: number;
  /** Sum of the row numbers, and of their squares. */
  sum: number;
  sumOfSquares: number;
  ms: number;
  peakRssKb: number;
}

async function fixedToken(t: Target, ca: string): Promise<string> {
  const agent = new https.Agent({ ca });
  try {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, client_secret: t.clientSecret, resource: t.url }).toString();
    const response = await axios.post<{ access_token: string }>(t.tokenUrl, body, { httpsAgent: agent, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    return response.data.access_token;
  } finally {
    agent.destroy();
  }
}

async function run(task: FetchXmlTask): Promise<FetchXmlRun> {
  const t = task.target;
  const ca = readFileSync(t.caFile, 'utf8');
  let rows = 0;
  let sum = 0;
  let sumOfSquares = 0;
  const touch = (row: Record<string, unknown>): void => {
    rows++;
    const n = Number(String(row.accountnumber ?? '').slice(1));
    sum += n;
    sumOfSquares += n * n;
  };
  let body: () => Promise<void>;
  let close: () => void = () => undefined;
  // Both libraries loaded, nothing run: the floor the others' peak RSS is read against.
  if (task.contender === 'idle') return { rows: 0, sum: 0, sumOfSquares: 0, ms: 0, peakRssKb: process.resourceUsage().maxRSS };
  if (task.contender === 'client') {
    const client = new DynamicsClient({ url: t.url, ca, auth: { tokenUrl: t.tokenUrl, clientId: t.clientId, clientSecret: t.clientSecret } });
    close = () => client.close();
    // Warm up: token, connection.
    for await (const row of client.fetchXml('accounts', "<fetch top='1'><entity name='account'><attribute name='name'/></entity></fetch>")) void row;
    body = async () => {
      for await (const row of client.fetchXml('accounts', task.fetchXml)) touch(row);
    };
  } else {
    const token = await fixedToken(t, ca);
    const dwa = new DynamicsWebApi({ serverUrl: t.url, dataApi: { version: '9.2' }, onTokenRefresh: async () => token });
    await dwa.fetch({ collection: 'accounts', fetchXml: "<fetch top='1'><entity name='account'><attribute name='name'/></entity></fetch>" });
    body = async () => {
      // fetchAll pages only when the cookie annotation comes back, and it does not ask for it itself:
      // without includeAnnotations it silently stops after the first page (its issue #79).
      const all = await dwa.fetchAll<Record<string, unknown>>({ collection: 'accounts', fetchXml: task.fetchXml, includeAnnotations: 'Microsoft.Dynamics.CRM.fetchxmlpagingcookie' });
      for (const row of all.value) touch(row);
    };
  }
  const start = performance.now();
  await body();
  const ms = performance.now() - start;
  close();
  return { rows, sum, sumOfSquares, ms, peakRssKb: process.resourceUsage().maxRSS };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || !process.send) throw new Error('fetchxml-worker.ts must be started with fork() and a task file');
  const task = JSON.parse(readFileSync(file, 'utf8')) as FetchXmlTask;
  const result = await run(task);
  await new Promise<void>((resolve, reject) => process.send!({ type: 'result', result }, (err: Error | null) => (err ? reject(err) : resolve())));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const message = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
    if (process.send) process.send({ type: 'error', message }, () => process.exit(1));
    else {
      process.stderr.write(`${message}\n`);
      process.exit(1);
    }
  },
);
