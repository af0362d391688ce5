/**
 * Rows related through navigation properties, and the links between them: a lookup column
 * (`_x_value`, with the target's logical name kept beside it for polymorphic lookups) for 1:N,
 * a link table in the store for N:N (dp/webapi/associate-disassociate-entities-using-web-api.md).
 */
import type { DataverseEnvironment } from '../context';
import { dvErrors } from '../errors';
import type { EntitySetInfo, NavigationInfo } from '../schema';
import { normaliseId, type Row } from '../store';

/** Annotation that names the table a lookup value points at; stored beside the `_x_value` column. */
export const LOOKUP_LOGICAL = 'Microsoft.Dynamics.CRM.lookuplogicalname';

/** A row and the entity set it belongs to. */
export interface SetRow {
  set: EntitySetInfo;
  row: Row;
}

/** The row a single-valued navigation property points at, if any (polymorphic lookups resolved to their actual table). */
export function singleTarget(env: DataverseEnvironment, row: Row, nav: NavigationInfo): SetRow | undefined {
  const { schema, store } = env;
  if (!nav.lookupColumn) return undefined;
  const value = row[nav.lookupColumn];
  if (value === null || value === undefined) return undefined;
  const logical = row[`${nav.lookupColumn}@${LOOKUP_LOGICAL}`];
  const set = nav.targetSet ? schema.sets.get(nav.targetSet) : undefined;
  if (!set) return undefined;
  // Polymorphic lookups (customer, owner) share one _x_value across several navigations.
  if (typeof logical === 'string' && !set.typeChain.has(`${schema.namespace}.${logical}`)) {
    const actual = schema.setByType.get(`${schema.namespace}.${logical}`);
    if (!actual || !actual.typeChain.has(nav.targetType) || actual.name !== set.name) {
      if (!actual || !actual.typeChain.has(nav.targetType)) return undefined;
      const r = store.get(actual.name, String(value));
      return r ? { set: actual, row: r } : undefined;
    }
  }
  const target = store.get(set.name, String(value));
  return target ? { set, row: target } : undefined;
}

/** Rows of `targetSet` that the row `id` of `set` reaches through the collection-valued `nav`. */
export function relatedRows(env: DataverseEnvironment, set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo): Row[] {
  const { store } = env;
  if (nav.kind === 'manyToMany' && nav.relationship) {
    return store
      .linked(nav.relationship, set.qualifiedName, nav.name, id)
      .map((t) => store.get(targetSet.name, t))
      .filter((r): r is Row => r !== undefined);
  }
  const col = nav.lookupColumn;
  if (!col) return [];
  const out: Row[] = [];
  for (const r of store.allRows(targetSet.name)) {
    if (r[col] !== id) continue;
    const logical = r[`${col}@${LOOKUP_LOGICAL}`];
    if (typeof logical === 'string' && logical !== set.logicalName) continue;
    out.push(r);
  }
  return out;
}

/** Ids of the rows {@link relatedRows} returns. */
export function relatedIds(env: DataverseEnvironment, set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo): Set<string> {
  const { store } = env;
  if (nav.kind === 'manyToMany' && nav.relationship) {
    return new Set(store.linked(nav.relationship, set.qualifiedName, nav.name, id).filter((t) => store.get(targetSet.name, t)));
  }
  const out = new Set<string>();
  for (const r of relatedRows(env, set, id, nav, targetSet)) out.add(normaliseId(r[targetSet.key]));
  return out;
}

/** Links `target` to the row `id` of `set` through a collection-valued navigation. */
export function associate(env: DataverseEnvironment, set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
  const targetId = normaliseId(target[targetSet.key]);
  if (nav.kind === 'oneToMany' && nav.lookupColumn) {
    env.store.update(targetSet.name, targetId, { [nav.lookupColumn]: id, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: set.logicalName }, new Date());
  } else if (nav.kind === 'manyToMany' && nav.relationship) {
    env.store.link(nav.relationship, set.qualifiedName, nav.name, id, targetId);
  } else {
    throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be associated.`);
  }
}

/** Removes the link {@link associate} makes; a link that does not exist is Dataverse's 404. */
export function disassociate(env: DataverseEnvironment, set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
  const targetId = normaliseId(target[targetSet.key]);
  if (nav.kind === 'oneToMany' && nav.lookupColumn) {
    if (normaliseId(target[nav.lookupColumn]) !== id) throw dvErrors.recordNotFound(targetSet.logicalName, targetId);
    env.store.update(targetSet.name, targetId, { [nav.lookupColumn]: null, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: undefined }, new Date());
  } else if (nav.kind === 'manyToMany' && nav.relationship) {
    if (!env.store.unlink(nav.relationship, set.qualifiedName, nav.name, id, targetId)) {
      throw dvErrors.recordNotFound(targetSet.logicalName, targetId);
    }
  } else {
    throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be disassociated.`);
  }
}
