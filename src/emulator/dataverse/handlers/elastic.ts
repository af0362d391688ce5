/**
 * Elastic tables (https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables):
 * what differs from a standard table when one row is written or read.
 *
 * - Writes answer `x-ms-session-token`; reads may send it back as `MSCRM.SessionToken` (the emulator
 *   is always consistent, so it accepts any token). Deletes send none (a known issue the docs list).
 * - `partitionid` is set on create and never changes.
 * - A PATCH without `If-Match` replaces the whole row (columns it leaves out become null).
 * - `?partitionId=` on GET and DELETE scopes the call to one logical partition: a row of another
 *   partition is not found, and a collection lists that partition's rows only. It is accepted quoted
 *   or not, as the docs show both.
 */
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { dvErrors } from '../errors';
import { parseQueryString } from '../query';
import type { EntitySetInfo } from '../schema';
import type { Row } from '../store';
import { parseJson } from '../shared/body';
import { isElastic } from '../shared/tables';
import { records } from './records';

/** Columns Dataverse maintains itself: a whole-row replace leaves them as they are. */
const KEPT_ON_REPLACE = new Set(['partitionid', 'createdon', 'modifiedon', 'versionnumber', 'statecode', 'statuscode', 'ttlinseconds']);

/** The session token of the store's state now, in the shape Dataverse sends (`240:8#144100870#7=-1`). */
export function sessionTokenHeader(ctx: RequestContext): Record<string, string> {
  return { 'x-ms-session-token': `0:0#${ctx.env.store.currentRowVersion()}#7=-1` };
}

/** The `partitionId` query parameter, unquoted. */
function partitionParam(ctx: RequestContext): string | undefined {
  const p = parseQueryString(ctx.req.query).find((q) => q.name === 'partitionId');
  if (p === undefined) return undefined;
  const v = p.value;
  return v.length >= 2 && v.startsWith("'") && v.endsWith("'") ? v.slice(1, -1).replace(/''/g, "'") : v;
}

function withToken(ctx: RequestContext, response: ApiResponse | undefined): ApiResponse | undefined {
  if (response && response.status < 300) Object.assign(response.headers, sessionTokenHeader(ctx));
  return response;
}

/** The row must belong to the partition the request names, when it names one. */
function checkPartition(ctx: RequestContext, set: EntitySetInfo, row: Row | undefined): void {
  const partition = partitionParam(ctx);
  if (partition === undefined || !row) return;
  if (row['partitionid'] !== partition) throw dvErrors.recordNotFound(set.logicalName, String(row[set.key]));
}

/** Elastic rows: session tokens, partition scoping, immutable partitions, whole-row upserts. */
export const elastic: Handler = {
  name: 'elastic',
  routes: (env) => {
    const inner = records.routes(env);
    return {
      collection: {
        POST: (t, ctx) => (isElastic(t.set) ? withToken(ctx, inner.collection?.POST?.(t, ctx)) : undefined),
        GET: (t, ctx) => {
          const partition = isElastic(t.set) ? partitionParam(ctx) : undefined;
          if (partition === undefined) return undefined;
          // Scoped to one logical partition: the same rows as a filter on partitionid (the docs say only
          // that the parameter is faster). The query goes on to the collection handler with that filter.
          const params = parseQueryString(ctx.req.query).filter((p) => p.name !== 'partitionId');
          const literal = `partitionid eq '${partition.replace(/'/g, "''")}'`;
          const filter = params.find((p) => p.name === '$filter');
          const rest = params.filter((p) => p !== filter).map((p) => p.raw);
          rest.push(`$filter=${encodeURIComponent(filter ? `(${filter.value}) and ${literal}` : literal)}`);
          ctx.req = { ...ctx.req, query: rest.join('&') };
          return undefined;
        },
      },
      entity: {
        GET: (t, ctx) => {
          if (!isElastic(t.set)) return undefined;
          checkPartition(ctx, t.set, t.found.row);
          return undefined;
        },
        DELETE: (t, ctx) => {
          if (!isElastic(t.set)) return undefined;
          checkPartition(ctx, t.set, t.found.row);
          return undefined;
        },
        PATCH: (t: Target<'entity'>, ctx) => {
          if (!isElastic(t.set)) return undefined;
          const row = t.found.row;
          if (row) {
            const body = parseJson(ctx);
            if (body['partitionid'] !== undefined && body['partitionid'] !== row['partitionid']) {
              throw dvErrors.badRequest('The partitionid of a record cannot be changed.');
            }
            if (!ctx.req.headers['if-match']) {
              // An upsert replaces the entire row and raises no Update events (use-elastic-tables.md).
              for (const name of t.set.columns.keys()) {
                if (name === t.set.key || name.startsWith('_') || KEPT_ON_REPLACE.has(name) || name in body) continue;
                if (row[name] !== undefined && row[name] !== null) body[name] = null;
              }
              ctx.req = { ...ctx.req, body: JSON.stringify(body) };
            }
          }
          return withToken(ctx, inner.entity?.PATCH?.(t, ctx));
        },
      },
    };
  },
};
