/**
 * The bulk messages: CreateMultiple, UpdateMultiple, UpsertMultiple and DeleteMultiple, actions bound
 * to an entity set (`POST <set>/Microsoft.Dynamics.CRM.CreateMultiple {"Targets":[…]}`,
 * https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations,
 * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/upsertmultiple).
 *
 * - Every target must carry `@odata.type` naming the set's table.
 * - Standard tables: one failure rolls the whole request back. Elastic tables: each target stands on
 *   its own; failures are listed, when annotations are asked for, in
 *   `@Microsoft.PowerApps.CDS.ErrorDetails.BulkApiErrorDetails` as the SDK's `[{RequestIndex, Id, StatusCode}]`
 *   (the Web API shape of a partial failure is not documented; this is the brief's choice).
 * - DeleteMultiple exists on elastic tables only; elsewhere "DeleteMultiple has not yet been implemented."
 * - The request counts once against service protection, as the docs say (the server counts requests, not targets).
 */
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { DataverseHttpError, dvErrors } from '../errors';
import { parsePath } from '../query';
import type { EntitySetInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { parseJson } from '../shared/body';
import { find } from '../shared/keys';
import { LOOKUP_LOGICAL } from '../shared/related';
import { errorResponse, jsonResponse, noContent, unexpectedError } from '../shared/responses';
import { isElastic } from '../shared/tables';
import { applyBody, createRecord, deriveColumns, ownerColumns } from '../shared/writes';
import { sessionTokenHeader } from './elastic';

const MESSAGES = new Set(['CreateMultiple', 'UpdateMultiple', 'UpsertMultiple', 'DeleteMultiple']);

/** The annotation that lists an elastic table's failed targets. */
export const BULK_ERROR_DETAILS = '@Microsoft.PowerApps.CDS.ErrorDetails.BulkApiErrorDetails';

type Message = 'CreateMultiple' | 'UpdateMultiple' | 'UpsertMultiple' | 'DeleteMultiple';

/** The entity set a collection-bound action was called on: the path's first segment. */
function boundSet(ctx: RequestContext): EntitySetInfo | undefined {
  const first = parsePath(ctx.req.path)[0];
  const set = first ? ctx.env.schema.sets.get(first.name) : undefined;
  return first?.args === undefined ? set : undefined;
}

function bulk(ctx: RequestContext, target: Target<'operation'>): ApiResponse | undefined {
  const op = target.operations[0];
  if (!op || !MESSAGES.has(op.name) || target.bound) return undefined;
  const set = boundSet(ctx);
  if (!set) return undefined;
  if (ctx.req.method !== 'POST') throw dvErrors.methodNotAllowed(ctx.req.method);
  const message = op.name as Message;
  const elastic = isElastic(set);
  if (message === 'DeleteMultiple' && !elastic) {
    // bulk-operations.md: "DeleteMultiple has not yet been implemented" for standard tables; use BulkDelete.
    throw dvErrors.badRequest('DeleteMultiple has not yet been implemented.', '0x80040800');
  }
  if (!elastic && !ctx.env.store.bulkMessagesSupported(set.name)) {
    // The service's answer for a table without the message is not documented; this is the SDK's wording for a message a table lacks.
    throw dvErrors.badRequest(`The '${message}' method does not support entities of type '${set.logicalName}'.`, '0x80040800');
  }
  const body = parseJson(ctx);
  const targets = body['Targets'];
  if (!Array.isArray(targets) || targets.length === 0) throw dvErrors.badRequest("The parameter 'Targets' must be a non-empty array of records.");
  const expectedType = `${ctx.env.schema.namespace}.${set.logicalName}`;
  targets.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw dvErrors.badRequest(`Targets[${i}] is not a record.`);
    const type = (t as Row)['@odata.type'];
    // bulk-operations.md: "You must specify the @odata.type annotation with every item in the Targets parameter."
    if (typeof type !== 'string') throw dvErrors.badRequest(`The '@odata.type' annotation is missing on Targets[${i}]; every item of Targets must carry it.`);
    if (type.replace(/^#/, '') !== expectedType) throw dvErrors.badRequest(`Targets[${i}] has '@odata.type' '${type}', but ${message} was called on '${set.name}' (${expectedType}).`);
  });
  const one = (t: Row): string | undefined => {
    switch (message) {
      case 'CreateMultiple':
        return createRecord(ctx, set, strip(t), {});
      case 'UpdateMultiple':
        return updateTarget(ctx, set, t, false);
      case 'UpsertMultiple':
        return updateTarget(ctx, set, t, true);
      case 'DeleteMultiple':
        return deleteTarget(ctx, set, t);
    }
  };
  const { store } = ctx.env;
  const headers = elastic && message !== 'DeleteMultiple' ? sessionTokenHeader(ctx) : {};
  // One request, each record at the bulk share of a single operation's server time.
  const work = { operations: 0, bulkRecords: targets.length };
  const succeeded = (ids: readonly (string | undefined)[]): ApiResponse =>
    message === 'CreateMultiple'
      ? { ...jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${ctx.env.schema.namespace}.CreateMultipleResponse`, Ids: ids }, headers), work }
      : { ...noContent(headers), work };
  if (!elastic) {
    const ids = store.atomically(() => (targets as Row[]).map(one));
    return succeeded(ids);
  }
  const ids: (string | undefined)[] = [];
  const failures: { RequestIndex: number; Id: string | null; StatusCode: number; error: DataverseHttpError }[] = [];
  (targets as Row[]).forEach((t, i) => {
    try {
      ids.push(store.atomically(() => one(t)));
    } catch (err) {
      const e = unexpectedError(err);
      const id = t[set.key];
      failures.push({ RequestIndex: i, Id: typeof id === 'string' ? normaliseId(id) : null, StatusCode: e.status, error: e });
      ids.push(undefined);
    }
  });
  if (failures.length > 0) {
    const first = failures[0] as (typeof failures)[number];
    const response = errorResponse(first.error);
    if (ctx.annotations.wants(BULK_ERROR_DETAILS.slice(1))) {
      const parsed = JSON.parse(response.body) as { error: Record<string, unknown> };
      parsed.error[BULK_ERROR_DETAILS] = JSON.stringify(failures.map(({ RequestIndex, Id, StatusCode }) => ({ RequestIndex, Id, StatusCode })));
      response.body = JSON.stringify(parsed);
    }
    Object.assign(response.headers, headers);
    return { ...response, work };
  }
  return succeeded(ids);
}

/** A target without its annotations (`@odata.type`, `@odata.id`), which are not columns. */
function strip(t: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(t)) if (k !== '@odata.type' && k !== '@odata.id') out[k] = v;
  return out;
}

/** The row a target names: `@odata.id` (`accounts(accountnumber='A1')`), or its primary key (and partition on elastic tables). */
function locate(ctx: RequestContext, set: EntitySetInfo, t: Row): { row?: Row; preset: Row; describe: () => DataverseHttpError } {
  const ref = t['@odata.id'];
  if (typeof ref === 'string') {
    const text = ref.replace(/^https?:\/\/[^/]+/i, '').replace(/^\/?api\/data\/v\d+\.\d+\//i, '').replace(/^\//, '');
    const seg = parsePath(text)[0];
    if (!seg || seg.name !== set.name || seg.args === undefined) throw dvErrors.badRequest(`The '@odata.id' '${ref}' does not identify a record of '${set.name}'.`);
    const found = find(ctx, set, seg.args);
    return { ...(found.row ? { row: found.row } : {}), preset: found.keyColumns, describe: found.describe };
  }
  const id = t[set.key];
  if (typeof id !== 'string' || id === '') throw dvErrors.badRequest(`A target of '${set.name}' has neither '@odata.id' nor its primary key '${set.key}'.`);
  const row = ctx.env.store.get(set.name, id);
  const describe = () => dvErrors.recordNotFound(set.logicalName, id);
  if (row && isElastic(set) && t['partitionid'] !== undefined && row['partitionid'] !== t['partitionid']) return { preset: { [set.key]: normaliseId(id) }, describe };
  return { ...(row ? { row } : {}), preset: { [set.key]: normaliseId(id) }, describe };
}

function updateTarget(ctx: RequestContext, set: EntitySetInfo, t: Row, upsert: boolean): string {
  const found = locate(ctx, set, t);
  const body = strip(t);
  if (!found.row) {
    if (!upsert) throw found.describe();
    return createRecord(ctx, set, body, found.preset);
  }
  const row = found.row;
  const id = normaliseId(row[set.key]);
  if (isElastic(set) && body['partitionid'] !== undefined && body['partitionid'] !== row['partitionid']) {
    throw dvErrors.badRequest('The partitionid of a record cannot be changed.');
  }
  const { columns, after } = applyBody(ctx, set, body);
  delete columns[set.key];
  const owner = ownerColumns(ctx, set);
  if (owner['_modifiedby_value'] !== undefined) {
    columns['_modifiedby_value'] = owner['_modifiedby_value'];
    columns[`_modifiedby_value@${LOOKUP_LOGICAL}`] = 'systemuser';
  }
  deriveColumns(set, { ...row, ...columns }, columns);
  ctx.env.store.update(set.name, id, columns, ctx.now);
  for (const f of after) f(id);
  return id;
}

function deleteTarget(ctx: RequestContext, set: EntitySetInfo, t: Row): string {
  const found = locate(ctx, set, t);
  if (!found.row) throw found.describe();
  const id = normaliseId(found.row[set.key]);
  ctx.env.store.remove(set.name, id);
  return id;
}

/** The bulk messages, ahead of the generic operations handler. */
export const bulkHandler: Handler = {
  name: 'bulk',
  routes: () => ({ operation: { '*': (t, ctx) => bulk(ctx, t) } }),
};
