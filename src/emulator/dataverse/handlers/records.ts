/**
 * Single records: create, retrieve, update/upsert, delete, and one column at a time, with the
 * conditional headers and `return=representation` (dp/webapi/create-entity-web-api.md,
 * retrieve-entity-using-web-api.md, update-delete-entities-using-web-api.md,
 * perform-conditional-operations-using-web-api.md).
 */
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { dvErrors } from '../errors';
import { parseQueryOptions, parseQueryString } from '../query';
import type { EntitySetInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { parseJson } from '../shared/body';
import type { Found } from '../shared/keys';
import { LOOKUP_LOGICAL } from '../shared/related';
import { jsonResponse, noContent, textResponse } from '../shared/responses';
import { contextSelect, entityUrl, etagOf, preferenceApplied, representation, shape, validateSelect, wantsRepresentation } from '../shared/shape';
import { coerce } from '../shared/values';
import { applyBody, createRecord, deriveColumns, ownerColumns } from '../shared/writes';

/** `POST <set>`: 204 with `OData-EntityId`, or 201 with the row for `return=representation`. */
function create(ctx: RequestContext, set: EntitySetInfo): ApiResponse {
  const { store } = ctx.env;
  const body = parseJson(ctx);
  const id = store.atomically(() => createRecord(ctx, set, body, {}));
  if (wantsRepresentation(ctx)) return representation(ctx, set, id, 201);
  const url = entityUrl(ctx, set, id);
  return noContent({ Location: url, 'OData-EntityId': url });
}

/**
 * `GET <set>(<key>)`, and the rows navigations lead to. 304 when `If-None-Match` holds the current
 * ETag, only without `$expand` or annotations (perform-conditional-operations-using-web-api.md).
 */
export function retrieve(ctx: RequestContext, set: EntitySetInfo, found: Found): ApiResponse {
  const row = found.row;
  if (!row) throw found.describe();
  const q = parseQueryOptions(parseQueryString(ctx.req.query));
  validateSelect(set, q.select);
  const inm = ctx.req.headers['if-none-match'];
  if (inm && inm !== 'null' && !q.expand && !ctx.annotations.any && inm === etagOf(row)) {
    return { status: 304, headers: { 'OData-Version': '4.0' }, body: '' };
  }
  const body = {
    '@odata.context': `${ctx.base}/$metadata#${set.name}${contextSelect(q)}/$entity`,
    ...shape(ctx, set, row, q.select, q.expand),
  };
  return jsonResponse(200, body, { ETag: etagOf(row), ...preferenceApplied(ctx, {}) });
}

/** `If-Match` with ETags none of which is the row's: 412. `*` matches any existing row. */
function checkIfMatch(ctx: RequestContext, row: Row): void {
  const ifMatch = ctx.req.headers['if-match'];
  if (ifMatch && ifMatch.trim() !== '*') {
    const tags = ifMatch.split(',').map((t) => t.trim());
    if (!tags.includes(etagOf(row))) throw dvErrors.etagMismatch();
  }
}

/** `PATCH <set>(<key>)`: update, or create when no row has the key (upsert), as the conditional headers allow. */
function upsert(ctx: RequestContext, set: EntitySetInfo, found: Found): ApiResponse {
  const { store } = ctx.env;
  const body = parseJson(ctx);
  const ifMatch = ctx.req.headers['if-match'];
  const ifNoneMatch = ctx.req.headers['if-none-match'];
  if (!found.row) {
    // If-Match (any value) makes PATCH update-only: no create (perform-conditional-operations-using-web-api.md).
    if (ifMatch) throw found.describe();
    const id = store.atomically(() => createRecord(ctx, set, body, found.keyColumns));
    if (wantsRepresentation(ctx)) return representation(ctx, set, id, 201);
    const url = entityUrl(ctx, set, id);
    return noContent({ 'OData-EntityId': url });
  }
  if (ifNoneMatch && ifNoneMatch.trim() === '*') throw dvErrors.alreadyExists();
  checkIfMatch(ctx, found.row);
  const id = normaliseId(found.row[set.key]);
  store.atomically(() => {
    const { columns, after } = applyBody(ctx, set, body);
    delete columns[set.key];
    const owner = ownerColumns(ctx, set);
    if (owner['_modifiedby_value'] !== undefined) {
      columns['_modifiedby_value'] = owner['_modifiedby_value'];
      columns[`_modifiedby_value@${LOOKUP_LOGICAL}`] = 'systemuser';
    }
    // modifiedonbehalfby describes the latest change: set when impersonating, cleared when not.
    if (owner['_modifiedonbehalfby_value'] !== undefined) {
      columns['_modifiedonbehalfby_value'] = owner['_modifiedonbehalfby_value'];
      columns[`_modifiedonbehalfby_value@${LOOKUP_LOGICAL}`] = 'systemuser';
    } else if ((found.row as Row)['_modifiedonbehalfby_value'] != null) {
      columns['_modifiedonbehalfby_value'] = null;
      columns[`_modifiedonbehalfby_value@${LOOKUP_LOGICAL}`] = undefined;
    }
    deriveColumns(set, { ...(found.row as Row), ...columns }, columns);
    store.update(set.name, id, columns, ctx.now);
    for (const f of after) f(id);
  });
  if (wantsRepresentation(ctx)) return representation(ctx, set, id, 200);
  return noContent({ 'OData-EntityId': entityUrl(ctx, set, id) });
}

/** `DELETE <set>(<key>)`. */
function remove(ctx: RequestContext, set: EntitySetInfo, found: Found): ApiResponse {
  if (!found.row) throw found.describe();
  checkIfMatch(ctx, found.row);
  ctx.env.store.remove(set.name, normaliseId(found.row[set.key]));
  return noContent();
}

/** `<set>(<key>)/<column>`: read one value, or write or clear one column (update-delete-entities-using-web-api.md#update-a-single-property-value). */
function property(ctx: RequestContext, { set, row, column }: Target<'property'>): ApiResponse {
  const { req } = ctx;
  const id = normaliseId(row[set.key]);
  if (req.method === 'GET') {
    const v = row[column.name];
    if (v === null || v === undefined) return noContent();
    return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${set.name}(${id})/${column.name}`, value: v });
  }
  if (column.lookupNavigations) throw dvErrors.lookupValueWrite();
  if (column.name === set.key) throw dvErrors.badRequest(`The primary key '${column.name}' cannot be changed.`);
  const value = req.method === 'DELETE' ? null : coerce(column, parseJson(ctx)['value'], set.logicalName);
  ctx.env.store.update(set.name, id, { [column.name]: value }, ctx.now);
  return noContent();
}

/** `<set>(<key>)/<column>/$value`: the raw value as text. */
function propertyValue({ row, column }: Target<'propertyValue'>): ApiResponse {
  const v = row[column.name];
  if (v === null || v === undefined) return noContent();
  return textResponse(String(v));
}

/** Records: create, retrieve, upsert, delete, and single columns. */
export const records: Handler = {
  name: 'records',
  routes: () => ({
    collection: { POST: (t, ctx) => create(ctx, t.set) },
    entity: {
      GET: (t, ctx) => retrieve(ctx, t.set, t.found),
      PATCH: (t, ctx) => upsert(ctx, t.set, t.found),
      DELETE: (t, ctx) => remove(ctx, t.set, t.found),
    },
    property: { GET: (t, ctx) => property(ctx, t), PUT: (t, ctx) => property(ctx, t), DELETE: (t, ctx) => property(ctx, t) },
    propertyValue: { GET: (t) => propertyValue(t) },
  }),
};
