/**
 * Change tracking (https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems):
 * `GET <entitySet>?$select=…` with `Prefer: odata.track-changes` reads the table and ends with an
 * `@odata.deltaLink`; the token in it, sent back as `$deltatoken`, returns what changed since: new and
 * updated rows, then `$deletedEntity` entries for deleted rows.
 *
 * - The token is opaque: it is taken from the deltaLink and sent back as it came (percent-encoded).
 * - `$filter`, `$orderby`, `$expand` and `$top` are refused before anything is sent: the service
 *   rejects them with change tracking.
 * - Web API paging of changes is not documented; `@odata.nextLink` is followed when it comes, and the
 *   token is read from the page that carries the deltaLink.
 * - "No changes" is documented as "an empty JSON response": an empty body, or an empty page without
 *   a deltaLink, keeps the token the call started from.
 * - An expired token ("Version stamp associated with the client has expired") is a
 *   {@link DeltaTokenExpiredError}, whatever status and code carry it (neither is documented).
 */
import { DeltaTokenExpiredError, DynamicsError, ErrorCode } from '../../errors';
import { carriedOver } from '../../errors/DynamicsError';
import { describeRequest, requestLine } from '../../http/errors';
import { invalidArgument, malformedResponse } from '../../odata/fail';
import { buildQuery, composePrefer } from '../../odata/query';
import { entityPath } from '../arguments';
import type { ClientContext } from '../context';
import { checkContinuation, nextLinkOf, PageWalk } from '../paging';
import { readJsonObject } from '../response';
import type { OperationOptions } from '../types';
import { readCount } from './list';
import type { ChangeEntry, ChangePage, ChangesIterator, ChangesOptions } from '../workloadTypes';

const REFUSED = ['filter', 'orderBy', 'orderby', 'expand', 'top', 'skip', 'count'] as const;
const EXPIRED = /version stamp associated with the client has expired/i;

/** The `$deltatoken` of a deltaLink, decoded. */
function tokenOf(deltaLink: string): string | undefined {
  const q = deltaLink.indexOf('?');
  if (q === -1) return undefined;
  for (const part of deltaLink.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq) === '$deltatoken') {
      try {
        return decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function isDeleted(item: Record<string, unknown>): boolean {
  const context = item['@odata.context'];
  return (typeof context === 'string' && context.endsWith('/$deletedEntity')) || (item['reason'] === 'deleted' && typeof item['id'] === 'string' && Object.keys(item).length <= 3);
}

/** An expired token's error as a {@link DeltaTokenExpiredError} (whatever status and code carry it); any other error as it is. */
function expiredOr(err: unknown, what: string): unknown {
  if (!(err instanceof DynamicsError) || !EXPIRED.test(err.serviceMessage ?? err.message)) return err;
  return new DeltaTokenExpiredError(
    `${what}: the delta token has expired (${err.serviceMessage ?? err.message}). Run a full sync: call changes() without deltaToken and replace your copy of the table.`,
    {
      code: ErrorCode.deltaTokenExpired,
      ...carriedOver(err),
    },
  );
}

/**
 * `GET <entitySet>/$count?$deltatoken=…`: how many changes a sync from `deltaToken` would give, without
 * reading them. What the service counts is not documented (the emulator counts upserts and deletions,
 * capped at 5000 like every `$count`). See `DynamicsClient.countChanges`.
 */
export async function countChanges(ctx: ClientContext, entitySet: string, deltaToken: string, options?: OperationOptions): Promise<number> {
  const path = entityPath(entitySet);
  if (typeof deltaToken !== 'string' || deltaToken === '') throw invalidArgument('deltaToken', 'the non-empty token a previous sync ended with', deltaToken);
  try {
    return readCount(await ctx.call({ method: 'GET', url: `${ctx.apiRoot}${path}/$count?$deltatoken=${encodeURIComponent(deltaToken)}`, options, expect: [200] }));
  } catch (err) {
    throw expiredOr(err, `countChanges('${entitySet}')`);
  }
}

/** The changes of `entitySet`; nothing is sent until iteration starts. See `DynamicsClient.changes`. */
export function changes<R>(ctx: ClientContext, entitySet: string, options?: ChangesOptions): ChangesIterator<R> {
  const path = entityPath(entitySet);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgument('options', 'an object of options', options);
  const o = options ?? {};
  for (const name of REFUSED) {
    if ((o as Record<string, unknown>)[name] !== undefined) {
      throw invalidArgument(`options.${name}`, 'nothing: Dataverse rejects $filter, $orderby, $expand and $top when change tracking is on (select columns, then filter the changes yourself)', (o as Record<string, unknown>)[name]);
    }
  }
  if (o.deltaToken !== undefined && (typeof o.deltaToken !== 'string' || o.deltaToken === '')) throw invalidArgument('options.deltaToken', 'the non-empty token a previous sync ended with', o.deltaToken);
  const { queryString } = buildQuery(o.select !== undefined ? { select: o.select } : {}, 'options');
  const startToken = o.deltaToken;
  const firstUrl = ctx.apiRoot + path + queryString + (startToken === undefined ? '' : `${queryString === '' ? '?' : '&'}$deltatoken=${encodeURIComponent(startToken)}`);
  const prefer = composePrefer({ ...(o.maxPageSize !== undefined ? { maxPageSize: o.maxPageSize } : {}), extra: ['odata.track-changes'] });
  let finalToken: string | undefined;

  async function* pages(settings: { continuationToken?: string } = {}): AsyncIterableIterator<ChangePage<R>> {
    let url: string | undefined = settings.continuationToken === undefined ? firstUrl : checkContinuation(settings.continuationToken, ctx.apiRoot, 'settings.continuationToken');
    const walk = new PageWalk();
    walk.visit(url);
    while (url !== undefined) {
      const current: string = url;
      let result;
      try {
        result = await ctx.call({ method: 'GET', url: current, options: o, headers: { Prefer: prefer }, expect: [200, 204] });
      } catch (err) {
        throw expiredOr(err, `changes('${entitySet}')`);
      }
      const body = result.response.body.length === 0 ? undefined : readJsonObject(result, 'a page of changes');
      const page = [] as unknown as ChangePage<R>;
      if (body === undefined) {
        // "An empty JSON response" when nothing changed: the token stays.
        if (startToken === undefined) throw malformedResponse(`${requestLine(result.request)}: a full read answered with no body and no deltaLink`, { status: result.response.status });
        page.deltaToken = startToken;
        finalToken = startToken;
        yield page;
        return;
      }
      const b = body;
      const value = b['value'];
      if (!Array.isArray(value)) {
        throw new DynamicsError(`${requestLine(result.request)}: expected a page of changes (an object with a value array)`, {
          code: ErrorCode.malformedResponse,
          status: result.response.status,
          request: describeRequest(result.request),
        });
      }
      for (const item of value) {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) throw malformedResponse(`${requestLine(result.request)}: a change that is not an object`);
        const row = item as Record<string, unknown>;
        if (isDeleted(row)) {
          const id = row['id'];
          if (typeof id !== 'string') throw malformedResponse(`${requestLine(result.request)}: a $deletedEntity without an id`);
          page.push({ kind: 'delete', id: id.toLowerCase() } as ChangeEntry<R>);
        } else page.push({ kind: 'upsert', record: row as R });
      }
      const nextLink = typeof b['@odata.nextLink'] === 'string' ? (b['@odata.nextLink'] as string) : undefined;
      const deltaLink = typeof b['@odata.deltaLink'] === 'string' ? (b['@odata.deltaLink'] as string) : undefined;
      url = nextLinkOf(nextLink, current, ctx.apiRoot, walk);
      if (url !== undefined) page.continuationToken = url;
      else {
        const token = deltaLink !== undefined ? tokenOf(deltaLink) : value.length === 0 ? startToken : undefined;
        if (token === undefined) {
          throw malformedResponse(`${requestLine(result.request)}: the last page of changes carries no @odata.deltaLink with a $deltatoken, so there is no token to resume from`, { status: result.response.status });
        }
        page.deltaToken = token;
        finalToken = token;
      }
      yield page;
    }
  }

  let records: AsyncIterator<ChangeEntry<R>> | undefined;
  async function* entries(): AsyncIterableIterator<ChangeEntry<R>> {
    for await (const page of pages()) yield* page;
  }
  const iterator: ChangesIterator<R> = {
    get deltaToken() {
      return finalToken;
    },
    next() {
      records ??= entries();
      return records.next();
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    byPage(settings) {
      if (settings !== undefined && (settings === null || typeof settings !== 'object')) throw invalidArgument('settings', '{ continuationToken? }', settings);
      return pages(settings ?? {});
    },
  };
  return iterator;
}
