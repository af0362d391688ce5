/**
 * Change tracking (https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems):
 * `GET <set>?$select=…` with `Prefer: odata.track-changes` answers every row and an `@odata.deltaLink`;
 * `GET <deltaLink>` (`$deltatoken=…`) answers the rows created or changed since, then the rows deleted
 * since as `$deletedEntity` entries (`{"@odata.context":"…/$deletedEntity","id":"…","reason":"deleted"}`).
 *
 * - `$filter`, `$orderby`, `$expand` and `$top` are refused with the documented message.
 * - The token is opaque to clients; the emulator writes it as Dataverse's sample does
 *   (`<version>!<MM/dd/yyyy HH:mm:ss>`), where the version is the store's row version.
 * - Paging of changes is not documented for the Web API: the emulator honours `odata.maxpagesize`
 *   with `@odata.nextLink` and puts the `@odata.deltaLink` on the last page only (OData 4.0's rule).
 * - An expired token (the `expireDeltaTokens()` test hook) answers 400 with the message users report,
 *   "Version stamp associated with the client has expired. Please perform a full sync." (its code is
 *   not documented; 0x80040203, Dataverse's generic invalid-argument code, is the emulator's choice).
 * - `GET <set>/$count?$deltatoken=…` answers the number of changes since the token (documented;
 *   what it counts is not): the emulator counts what the delta read would list, upserts and
 *   deletions, capped at 5000 like every `$count` (count-rows.md).
 * - Every table of the emulator has change tracking enabled.
 */
import type { ApiResponse, Handler, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { parseQueryString, splitTopLevel } from '../query';
import type { EntitySetInfo } from '../schema';
import type { Row } from '../store';
import { MAX_PAGE_SIZE } from '../shared/evaluation';
import { jsonResponse, textResponse } from '../shared/responses';
import { shape, validateSelect } from '../shared/shape';

/** The message Dataverse answers a refused query option with (documented text). */
const refused = (option: string) => dvErrors.badRequest(`The "${option}" query parameter isn't supported when Change Tracking is enabled.`);

/** The observed text of an expired token (MicrosoftDocs/powerapps-docs issue 3845). */
export const EXPIRED_TOKEN_MESSAGE = 'Version stamp associated with the client has expired. Please perform a full sync.';

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function encodeDeltaToken(version: number, now: Date): string {
  const stamp = `${pad(now.getUTCMonth() + 1)}/${pad(now.getUTCDate())}/${now.getUTCFullYear()} ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}`;
  return `${version}!${stamp}`;
}

function decodeDeltaToken(token: string): number {
  const m = /^(\d{1,15})!\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/.exec(token);
  if (!m) throw dvErrors.badRequest('The $deltatoken value is not valid. Use the @odata.deltaLink URL exactly as returned.', '0x80040203');
  return Number(m[1]);
}

/** Where a paged sync stands: the changes in (`from`, `to`], and the last entry sent. */
interface Cursor {
  from: number;
  to: number;
  /** `u` while sending upserts, `d` while sending deletions. */
  phase: 'u' | 'd';
  /** Version of the last entry sent in this phase. */
  after: number;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.from}.${c.to}.${c.phase}.${c.after}`, 'utf8').toString('base64url');
}

function decodeCursor(text: string): Cursor {
  const m = /^(-?\d+)\.(\d+)\.([ud])\.(-?\d+)$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!m) throw dvErrors.badRequest('The $skiptoken value is not valid. Use the @odata.nextLink URL exactly as returned.');
  return { from: Number(m[1]), to: Number(m[2]), phase: m[3] as 'u' | 'd', after: Number(m[4]) };
}

/** `$filter`, `$orderby`, `$expand` and `$top` are refused with change tracking, with the documented message. */
function refuseUntrackable(params: ReturnType<typeof parseQueryString>): void {
  for (const p of params) {
    const option = p.name.trim();
    if (option === '$filter' || option === '$orderby' || option === '$expand' || option === '$top') throw refused(option.slice(1));
  }
}

function versionOf(row: Row): number {
  return typeof row['versionnumber'] === 'number' ? row['versionnumber'] : 0;
}

function track(ctx: RequestContext, set: EntitySetInfo): ApiResponse | undefined {
  const params = parseQueryString(ctx.req.query);
  const deltaParam = params.find((p) => p.name === '$deltatoken');
  if (!ctx.prefs.has('odata.track-changes') && deltaParam === undefined) return undefined;
  refuseUntrackable(params);
  const selectParam = params.find((p) => p.name === '$select');
  const select = selectParam ? splitTopLevel(selectParam.value, ',') : undefined;
  validateSelect(set, select);
  const { store } = ctx.env;
  const skip = params.find((p) => p.name === '$skiptoken');
  let cursor: Cursor;
  if (skip !== undefined) cursor = decodeCursor(skip.value);
  else {
    const from = deltaParam === undefined ? -1 : decodeDeltaToken(deltaParam.value);
    cursor = { from, to: store.currentRowVersion(), phase: 'u', after: from };
  }
  if (cursor.from >= 0 && store.isDeltaExpired(cursor.from)) throw dvErrors.badRequest(EXPIRED_TOKEN_MESSAGE, '0x80040203');

  const requested = ctx.prefs.get('odata.maxpagesize');
  let pageSize = MAX_PAGE_SIZE;
  if (requested !== undefined) {
    const n = Number(requested);
    if (!Number.isInteger(n) || n <= 0) throw dvErrors.badRequest(`The value '${requested}' of the odata.maxpagesize preference is not a positive integer.`);
    pageSize = Math.min(n, MAX_PAGE_SIZE);
  }
  const value: unknown[] = [];
  let next: Cursor | undefined;
  if (cursor.phase === 'u') {
    const changed: Row[] = [];
    for (const row of store.allRows(set.name)) {
      const v = versionOf(row);
      if (v > cursor.after && v <= cursor.to) changed.push(row);
    }
    changed.sort((a, b) => versionOf(a) - versionOf(b));
    for (const row of changed.slice(0, pageSize)) value.push(shape(ctx, set, row, select, undefined));
    if (changed.length > pageSize) next = { ...cursor, after: versionOf(changed[pageSize - 1] as Row) };
    else if (cursor.from >= 0) cursor = { ...cursor, phase: 'd', after: cursor.from };
  }
  if (next === undefined && cursor.phase === 'd') {
    // A full sync (no token) reports no deletions: it lists what exists.
    const deleted = store.deletedSince(set.name, cursor.after, cursor.to);
    const room = pageSize - value.length;
    for (const d of deleted.slice(0, room)) {
      value.push({ '@odata.context': `${ctx.base}/$metadata#${set.name}/$deletedEntity`, id: d.id, reason: 'deleted' });
    }
    if (deleted.length > room) next = { ...cursor, after: (deleted[room - 1] ?? { version: cursor.after }).version };
  }
  const selectText = select ? `(${select.join(',')})` : '';
  const body: Record<string, unknown> = { '@odata.context': `${ctx.base}/$metadata#${set.name}${selectText}${deltaParam ? '/$delta' : ''}`, value };
  const kept = params.filter((p) => p.name === '$select').map((p) => p.raw);
  if (next !== undefined) {
    body['@odata.nextLink'] = `${ctx.base}/${set.name}?${[...kept, `$skiptoken=${encodeCursor(next)}`, ...(deltaParam ? [deltaParam.raw] : [])].join('&')}`;
  } else {
    body['@odata.deltaLink'] = `${ctx.base}/${set.name}?${[...kept, `$deltatoken=${encodeURIComponent(encodeDeltaToken(cursor.to, ctx.now))}`].join('&')}`;
  }
  const applied = ['odata.track-changes'];
  if (requested !== undefined) applied.push(`odata.maxpagesize=${pageSize}`);
  return jsonResponse(200, body, { 'Preference-Applied': applied.join(',') });
}

/** `GET <set>/$count?$deltatoken=…`: how many entries the delta read would give; without a token, the ordinary count. */
function countChanges(ctx: RequestContext, set: EntitySetInfo): ApiResponse | undefined {
  const params = parseQueryString(ctx.req.query);
  const deltaParam = params.find((p) => p.name === '$deltatoken');
  if (deltaParam === undefined) return undefined;
  refuseUntrackable(params);
  const { store } = ctx.env;
  const from = decodeDeltaToken(deltaParam.value);
  if (store.isDeltaExpired(from)) throw dvErrors.badRequest(EXPIRED_TOKEN_MESSAGE, '0x80040203');
  const to = store.currentRowVersion();
  let n = 0;
  for (const row of store.allRows(set.name)) {
    const v = versionOf(row);
    if (v > from && v <= to) n++;
  }
  n += store.deletedSince(set.name, from, to).length;
  return textResponse(String(Math.min(n, MAX_PAGE_SIZE)));
}

/** Change tracking on collections and their counts, ahead of the ordinary collection handler. */
export const changes: Handler = {
  name: 'changes',
  routes: () => ({ collection: { GET: (t, ctx) => track(ctx, t.set) }, count: { GET: (t, ctx) => countChanges(ctx, t.set) } }),
};
