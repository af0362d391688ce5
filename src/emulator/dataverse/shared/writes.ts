/**
 * Turning a request body into a row: column values coerced to their types, lookups bound with
 * `@odata.bind`, deep inserts (dp/webapi/create-entity-web-api.md#create-related-table-rows-in-one-operation),
 * the owner and audit columns Dataverse sets, and computed columns.
 */
import type { RequestContext } from '../context';
import { dvErrors } from '../errors';
import type { UserIdentity } from '../impersonation';
import type { EntitySetInfo, NavigationInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { resolveReference } from './keys';
import { associate, LOOKUP_LOGICAL, type SetRow } from './related';
import { primaryIdColumn } from './shape';
import { coerce } from './values';

/** A reference whose table does not fit the navigation property is Dataverse's 400. */
export function checkTarget(nav: NavigationInfo, target: SetRow): SetRow {
  if (!target.set.typeChain.has(nav.targetType)) {
    throw dvErrors.badRequest(
      `The entity set '${target.set.name}' is not valid for the navigation property '${nav.name}', which expects '${nav.targetType}'.`,
    );
  }
  return target;
}

/** Sets a lookup's `_x_value` (and the logical name beside it) to point at `target`. */
function setLookup(columns: Row, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
  if (!nav.lookupColumn) throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be set with @odata.bind.`);
  columns[nav.lookupColumn] = normaliseId(target[targetSet.key]);
  columns[`${nav.lookupColumn}@${LOOKUP_LOGICAL}`] = targetSet.logicalName;
}

/** Binds a single-valued navigation property to the row an entity reference names. */
export function bindSingle(ctx: RequestContext, nav: NavigationInfo, columns: Row, ref: unknown): void {
  const target = checkTarget(nav, resolveReference(ctx, ref));
  setLookup(columns, nav, target.set, target.row);
}

/**
 * Turns a request body into column values plus work that needs the new row's id (collection binds,
 * deep inserts). Unknown properties, read-only lookups and wrongly typed values are Dataverse's 400s.
 */
export function applyBody(ctx: RequestContext, set: EntitySetInfo, body: Record<string, unknown>): { columns: Row; after: ((id: string) => void)[] } {
  const { env } = ctx;
  const columns: Row = {};
  const after: ((id: string) => void)[] = [];
  for (const [name, value] of Object.entries(body)) {
    const at = name.indexOf('@');
    if (at === 0) continue; // @odata.type, @odata.etag, @odata.context
    if (at > 0) {
      const navName = name.slice(0, at);
      const annotation = name.slice(at + 1);
      if (annotation !== 'odata.bind') continue;
      const nav = set.navigations.get(navName);
      if (!nav) {
        throw dvErrors.badRequest(
          `An undeclared property '${navName}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.`,
        );
      }
      if (nav.kind === 'single') {
        if (value === null) {
          if (nav.lookupColumn) columns[nav.lookupColumn] = null;
          continue;
        }
        bindSingle(ctx, nav, columns, value);
      } else {
        if (!Array.isArray(value)) throw dvErrors.badRequest(`The value of '${name}' must be an array of entity references for a collection-valued navigation property.`);
        const targets = value.map((v) => checkTarget(nav, resolveReference(ctx, v)));
        after.push((id) => targets.forEach((t) => associate(env, set, id, nav, t.set, t.row)));
      }
      continue;
    }
    const column = set.columns.get(name);
    if (column) {
      if (column.lookupNavigations) throw dvErrors.lookupValueWrite();
      columns[name] = coerce(column, value, set.logicalName);
      continue;
    }
    const nav = set.navigations.get(name);
    if (nav && value !== null && typeof value === 'object') {
      // Deep insert (dp/webapi/create-entity-web-api.md#create-related-table-rows-in-one-operation).
      const targetSet = nav.targetSet ? env.schema.sets.get(nav.targetSet) : undefined;
      if (!targetSet) throw dvErrors.badRequest(`The navigation property '${name}' leads to a table without an entity set.`);
      if (nav.kind === 'single') {
        if (Array.isArray(value)) throw dvErrors.badRequest(`A single entity was expected for navigation property '${name}'.`);
        const childId = createRecord(ctx, targetSet, value as Record<string, unknown>, {});
        const child = env.store.get(targetSet.name, childId) as Row;
        setLookup(columns, nav, targetSet, child);
      } else {
        if (!Array.isArray(value)) throw dvErrors.badRequest(`An array was expected for collection-valued navigation property '${name}'.`);
        after.push((id) => {
          for (const item of value as Record<string, unknown>[]) {
            const childId = createRecord(ctx, targetSet, item, {});
            associate(env, set, id, nav, targetSet, env.store.get(targetSet.name, childId) as Row);
          }
        });
      }
      continue;
    }
    throw dvErrors.unknownBodyProperty(name, set.qualifiedName);
  }
  return { columns, after };
}

/** Copies the key into the table's own `<logicalname>id` column when the key is inherited (see {@link primaryIdColumn}). */
function mirrorPrimaryId(set: EntitySetInfo, row: Row): Row {
  const col = primaryIdColumn(set);
  if (col) row[col] = row[set.key];
  return row;
}

/** Ensures a systemuser row exists for a user the request runs as or on behalf of. */
function ensureUser(ctx: RequestContext, who: UserIdentity): void {
  const { schema, store, businessUnitId } = ctx.env;
  const users = schema.sets.get('systemusers');
  if (!users || store.get(users.name, who.systemUserId)) return;
  const row: Row = { [users.key]: who.systemUserId };
  const name = who.upn ?? (who.kind === 'app' ? '# Application User' : (who.oid ?? who.systemUserId));
  for (const [col, v] of Object.entries({
    fullname: name,
    domainname: who.upn ?? null,
    azureactivedirectoryobjectid: who.oid ?? null,
    _businessunitid_value: businessUnitId,
    isdisabled: false,
  })) {
    if (users.columns.has(col)) row[col] = v;
  }
  store.create(users.name, mirrorPrimaryId(users, store.withSystemColumns(users, row, ctx.now)));
}

/**
 * Ensures the users have systemuser rows, and returns the owner columns Dataverse sets on create: owner and
 * createdby are the user the request runs as, createdonbehalfby the impersonating caller
 * (dp/webapi/impersonate-another-user-web-api.md "Determine the actual user").
 */
export function ownerColumns(ctx: RequestContext, set: EntitySetInfo): Row {
  const user = ctx.user;
  ensureUser(ctx, user);
  if (ctx.onBehalfOf) ensureUser(ctx, ctx.onBehalfOf);
  const out: Row = {};
  const put = (col: string, value: string, logical: string) => {
    if (!set.columns.has(col)) return;
    out[col] = value;
    out[`${col}@${LOOKUP_LOGICAL}`] = logical;
  };
  put('_ownerid_value', user.systemUserId, 'systemuser');
  put('_owninguser_value', user.systemUserId, 'systemuser');
  put('_createdby_value', user.systemUserId, 'systemuser');
  put('_modifiedby_value', user.systemUserId, 'systemuser');
  if (ctx.onBehalfOf) {
    put('_createdonbehalfby_value', ctx.onBehalfOf.systemUserId, 'systemuser');
    put('_modifiedonbehalfby_value', ctx.onBehalfOf.systemUserId, 'systemuser');
  }
  put('_owningbusinessunit_value', ctx.env.businessUnitId, 'businessunit');
  return out;
}

/** Columns Dataverse computes: `fullname` from first and last name (contacts, leads, users). */
export function deriveColumns(set: EntitySetInfo, merged: Row, into: Row): void {
  if (set.columns.has('fullname') && set.columns.has('firstname') && set.columns.has('lastname') && ('firstname' in into || 'lastname' in into)) {
    into['fullname'] = [merged['firstname'], merged['lastname']].filter((v) => typeof v === 'string' && v !== '').join(' ') || null;
  }
}

/** Creates a row from a body (plus preset key columns); returns its id. */
export function createRecord(ctx: RequestContext, set: EntitySetInfo, body: Record<string, unknown>, preset: Row): string {
  const { store } = ctx.env;
  const { columns, after } = applyBody(ctx, set, body);
  const row: Row = { ...ownerColumns(ctx, set), ...columns, ...preset };
  deriveColumns(set, row, row);
  const primaryId = primaryIdColumn(set);
  if (primaryId && row[set.key] == null && row[primaryId] != null) row[set.key] = row[primaryId];
  const id = store.create(set.name, mirrorPrimaryId(set, store.withSystemColumns(set, row, ctx.now)));
  for (const f of after) f(id);
  return id;
}
