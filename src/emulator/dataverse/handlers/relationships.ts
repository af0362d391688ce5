/**
 * Relationships: following navigation properties (`<set>(<key>)/<navigation>[(<key>)]`), creating a
 * related row through one, and `$ref` to read, set, associate and disassociate links
 * (dp/webapi/associate-disassociate-entities-using-web-api.md, create-entity-web-api.md#associate-table-rows-on-create).
 */
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { dvErrors } from '../errors';
import { parseQueryString } from '../query';
import { normaliseId, type Row } from '../store';
import { parseJson } from '../shared/body';
import { find, resolveReference } from '../shared/keys';
import { associate, disassociate, LOOKUP_LOGICAL, relatedIds, singleTarget, type SetRow } from '../shared/related';
import { jsonResponse, noContent } from '../shared/responses';
import { entityUrl, representation, wantsRepresentation } from '../shared/shape';
import { bindSingle, checkTarget, createRecord } from '../shared/writes';
import { retrieve } from './records';

/** `GET <set>(<key>)/<single-valued navigation>`: the row it points at, or 204 when it is empty. */
function singleNavigation(ctx: RequestContext, { row, navigation }: Target<'singleNavigation'>): ApiResponse {
  const target = singleTarget(ctx.env, row, navigation);
  if (!target) return noContent();
  return retrieve(ctx, target.set, { row: target.row, keyColumns: {}, describe: () => dvErrors.recordNotFound(target.set.logicalName, '') });
}

/** `GET <set>(<key>)/<collection navigation>(<key>)`: a related row, 404 when it is not related. */
function relatedEntity(ctx: RequestContext, { set, row, navigation, targetSet, key }: Target<'relatedEntity'>): ApiResponse {
  const found = find(ctx, targetSet, key);
  const related = found.row && relatedIds(ctx.env, set, normaliseId(row[set.key]), navigation, targetSet).has(normaliseId(found.row[targetSet.key]));
  if (!related) throw found.describe();
  return retrieve(ctx, targetSet, found);
}

/** `POST <set>(<key>)/<collection navigation>`: creates a row already associated. */
function createRelated(ctx: RequestContext, { set, row, navigation, targetSet }: Target<'relatedCollection'>): ApiResponse {
  const { store } = ctx.env;
  const id = normaliseId(row[set.key]);
  const body = parseJson(ctx);
  const childId = store.atomically(() => {
    const cid = createRecord(ctx, targetSet, body, {});
    associate(ctx.env, set, id, navigation, targetSet, store.get(targetSet.name, cid) as Row);
    return cid;
  });
  if (wantsRepresentation(ctx)) return representation(ctx, targetSet, childId, 201);
  const url = entityUrl(ctx, targetSet, childId);
  return noContent({ Location: url, 'OData-EntityId': url });
}

/** `<set>(<key>)/<single-valued navigation>/$ref`: read (GET), set (PUT) or clear (DELETE) the lookup. */
function singleReference(ctx: RequestContext, { set, row, navigation: nav }: Target<'singleReference'>): ApiResponse {
  const { req, env } = ctx;
  const id = normaliseId(row[set.key]);
  if (req.method === 'GET') {
    const target = singleTarget(env, row, nav);
    if (!target) return noContent();
    return jsonResponse(200, {
      '@odata.context': `${ctx.base}/$metadata#$ref`,
      '@odata.id': entityUrl(ctx, target.set, normaliseId(target.row[target.set.key])),
    });
  }
  if (req.method === 'PUT') {
    const ref = parseJson(ctx)['@odata.id'];
    const columns: Row = {};
    bindSingle(ctx, nav, columns, ref);
    env.store.update(set.name, id, columns, ctx.now);
    return noContent();
  }
  if (!nav.lookupColumn) throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be cleared.`);
  env.store.update(set.name, id, { [nav.lookupColumn]: null, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: undefined }, ctx.now);
  return noContent();
}

/** `<set>(<key>)/<collection navigation>[(<key>)]/$ref`: list (GET), associate (POST) or disassociate (DELETE, by key or `$id`). */
function collectionReference(ctx: RequestContext, { set, row, navigation: nav, targetSet, key }: Target<'collectionReference'>): ApiResponse {
  const { req, env } = ctx;
  const id = normaliseId(row[set.key]);
  if (req.method === 'GET') {
    const ids = [...relatedIds(env, set, id, nav, targetSet)];
    return jsonResponse(200, {
      '@odata.context': `${ctx.base}/$metadata#Collection($ref)`,
      value: ids.map((t) => ({ '@odata.id': entityUrl(ctx, targetSet, t) })),
    });
  }
  if (req.method === 'POST') {
    const target = checkTarget(nav, resolveReference(ctx, parseJson(ctx)['@odata.id']));
    env.store.atomically(() => associate(env, set, id, nav, target.set, target.row));
    return noContent();
  }
  let target: SetRow;
  if (key !== undefined) {
    const found = find(ctx, targetSet, key);
    if (!found.row) throw found.describe();
    target = { set: targetSet, row: found.row };
  } else {
    const ref = parseQueryString(ctx.req.query).find((p) => p.name === '$id')?.value;
    if (!ref) throw dvErrors.badRequest('The $id query option is required to remove a reference from a collection-valued navigation property.');
    target = checkTarget(nav, resolveReference(ctx, ref));
  }
  env.store.atomically(() => disassociate(env, set, id, nav, target.set, target.row));
  return noContent();
}

/** Navigation properties and `$ref`. */
export const relationships: Handler = {
  name: 'relationships',
  routes: () => ({
    singleNavigation: { GET: (t, ctx) => singleNavigation(ctx, t) },
    relatedEntity: { GET: (t, ctx) => relatedEntity(ctx, t) },
    relatedCollection: { POST: (t, ctx) => createRelated(ctx, t) },
    singleReference: { GET: (t, ctx) => singleReference(ctx, t), PUT: (t, ctx) => singleReference(ctx, t), DELETE: (t, ctx) => singleReference(ctx, t) },
    collectionReference: {
      GET: (t, ctx) => collectionReference(ctx, t),
      POST: (t, ctx) => collectionReference(ctx, t),
      DELETE: (t, ctx) => collectionReference(ctx, t),
    },
  }),
};
