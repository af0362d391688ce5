/**
 * How rows go out: `@odata.etag`, the selected (or all) columns with the annotations the request
 * asked for (dp/webapi/query/select-columns.md#formatted-values), expansions, `@odata.context`,
 * `Preference-Applied`, and `return=representation` bodies.
 */
import type { ApiResponse, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { formattedValue } from '../format';
import { parseQueryOptions, parseQueryString, type ExpandItem, type QueryOptions } from '../query';
import type { ColumnInfo, EntitySetInfo } from '../schema';
import { normaliseId, type Row } from '../store';
import { compile, comparator, MAX_PAGE_SIZE, runtime } from './evaluation';
import { relatedRows, singleTarget, LOOKUP_LOGICAL } from './related';
import { jsonResponse } from './responses';

const FORMATTED = 'OData.Community.Display.V1.FormattedValue';
const ASSOCIATED_NAV = 'Microsoft.Dynamics.CRM.associatednavigationproperty';

/** A row's weak ETag, from its version number (dp/webapi/perform-conditional-operations-using-web-api.md). */
export function etagOf(row: Row): string {
  return `W/"${String(row['versionnumber'] ?? 0)}"`;
}

/** The URL of a row: `<service root>/<set>(<id>)`. */
export function entityUrl(ctx: RequestContext, set: EntitySetInfo, id: string): string {
  return `${ctx.base}/${set.name}(${id})`;
}

/**
 * Tables whose key is inherited (systemuser and team key on `ownerid`, from `principal`) also have their
 * own `<logicalname>id` column holding the same value; Dataverse returns both (the systemuser sample in
 * dp/webapi/impersonate-another-user-web-api.md shows `systemuserid` and `ownerid` equal).
 */
export function primaryIdColumn(set: EntitySetInfo): string | undefined {
  const col = `${set.logicalName}id`;
  return col !== set.key && set.columns.has(col) ? col : undefined;
}

/** `$select` naming a column the table does not have is Dataverse's 400 (code 0x0). */
export function validateSelect(set: EntitySetInfo, select: string[] | undefined): void {
  for (const s of select ?? []) {
    if (!set.columns.has(s)) throw dvErrors.unknownQueryProperty(s, set.qualifiedName);
  }
}

/** The `(…)` after the set name in `@odata.context`, from `$select` and `$expand`. */
export function contextSelect(q: Pick<QueryOptions, 'select' | 'expand'>): string {
  const parts = [...(q.select ?? [])];
  for (const e of q.expand ?? []) parts.push(`${e.navigation}(${(e.select ?? []).join(',')})`);
  return parts.length > 0 ? `(${parts.join(',')})` : '';
}

/** Checks an `$expand` item (and those nested in it) against the schema before any row is read. */
export function checkExpand(ctx: RequestContext, set: EntitySetInfo, e: ExpandItem): void {
  const nav = set.navigations.get(e.navigation);
  if (!nav) throw dvErrors.unknownQueryProperty(e.navigation, set.qualifiedName);
  const target = nav.targetSet ? ctx.env.schema.sets.get(nav.targetSet) : undefined;
  if (!target) throw dvErrors.badRequest(`The navigation property '${e.navigation}' leads to a table without an entity set.`);
  validateSelect(target, e.select);
  for (const inner of e.expand ?? []) checkExpand(ctx, target, inner);
}

/** Which of a polymorphic lookup's navigation properties the stored value belongs to. */
function associatedNavigation(ctx: RequestContext, set: EntitySetInfo, column: ColumnInfo, logical: string | undefined): string | undefined {
  const navs = column.lookupNavigations ?? [];
  if (navs.length <= 1 || logical === undefined) return navs[0];
  return (
    navs.find((n) => {
      const nav = set.navigations.get(n);
      return nav !== undefined && nav.targetType === `${ctx.env.schema.namespace}.${logical}`;
    }) ?? navs[0]
  );
}

/** Serialises a row as Dataverse does: etag first, selected (or all) columns with annotations, expansions. */
export function shape(ctx: RequestContext, set: EntitySetInfo, row: Row, select: string[] | undefined, expand: ExpandItem[] | undefined): Row {
  const { env } = ctx;
  const out: Row = { '@odata.etag': etagOf(row) };
  const primaryId = primaryIdColumn(set);
  const names = select ? [...select, ...[set.key, ...(primaryId ? [primaryId] : [])].filter((k) => !select.includes(k))] : [...set.columns.keys()];
  const ann = ctx.annotations;
  for (const name of names) {
    const column = set.columns.get(name);
    if (!column) continue;
    const value = row[name] === undefined ? null : row[name];
    if (value !== null && ann.any) {
      if (column.lookupNavigations) {
        const logical = row[`${name}@${LOOKUP_LOGICAL}`];
        const navName = associatedNavigation(ctx, set, column, typeof logical === 'string' ? logical : undefined);
        if (ann.wants(FORMATTED)) {
          const nav = navName ? set.navigations.get(navName) : undefined;
          const target = nav ? singleTarget(env, row, nav) : undefined;
          const label = target?.set.primaryName ? target.row[target.set.primaryName] : undefined;
          if (typeof label === 'string') out[`${name}@${FORMATTED}`] = label;
        }
        if (navName && ann.wants(ASSOCIATED_NAV)) out[`${name}@${ASSOCIATED_NAV}`] = navName;
        if (typeof logical === 'string' && ann.wants(LOOKUP_LOGICAL)) out[`${name}@${LOOKUP_LOGICAL}`] = logical;
      } else if (ann.wants(FORMATTED)) {
        const f = formattedValue(set.logicalName, column, value, env.metadata.optionLabels(set.logicalName, name));
        if (f !== undefined) out[`${name}@${FORMATTED}`] = f;
      }
    }
    out[name] = value;
  }
  for (const e of expand ?? []) {
    const nav = set.navigations.get(e.navigation);
    const targetSet = nav?.targetSet ? env.schema.sets.get(nav.targetSet) : undefined;
    if (!nav || !targetSet) continue;
    if (nav.kind === 'single') {
      const target = singleTarget(env, row, nav);
      out[e.navigation] = target ? shape(ctx, target.set, target.row, e.select, e.expand) : null;
    } else {
      let related = relatedRows(env, set, normaliseId(row[set.key]), nav, targetSet);
      if (e.filter) {
        const p = compile(ctx, targetSet, e.filter, new Map());
        const rt = runtime(ctx, targetSet);
        if (p) related = related.filter((r) => p(r, rt));
      }
      const order = comparator(ctx, targetSet, e.orderby, new Map());
      related.sort(order.compare);
      related = related.slice(0, Math.min(e.top ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE));
      out[e.navigation] = related.map((r) => shape(ctx, targetSet, r, e.select, e.expand));
    }
  }
  return out;
}

/** The `Preference-Applied` header for what the request preferred and the answer honours. */
export function preferenceApplied(ctx: RequestContext, what: { pageSize?: number | undefined; representation?: boolean }): Record<string, string> {
  const applied: string[] = [];
  if (what.representation) applied.push('return=representation');
  if (what.pageSize !== undefined) applied.push(`odata.maxpagesize=${what.pageSize}`);
  const ann = ctx.prefs.get('odata.include-annotations');
  if (ann !== undefined) applied.push(`odata.include-annotations="${ann}"`);
  return applied.length > 0 ? { 'Preference-Applied': applied.join(',') } : {};
}

/** `Prefer: return=representation` (dp/webapi/create-entity-web-api.md#create-with-data-returned). */
export function wantsRepresentation(ctx: RequestContext): boolean {
  return ctx.prefs.get('return') === 'representation';
}

/** The written row as the body of a create or update with `return=representation`, shaped by the request's `$select`/`$expand`. */
export function representation(ctx: RequestContext, set: EntitySetInfo, id: string, status: number): ApiResponse {
  const q = parseQueryOptions(parseQueryString(ctx.req.query));
  const row = ctx.env.store.get(set.name, id) as Row;
  const body = {
    '@odata.context': `${ctx.base}/$metadata#${set.name}${contextSelect(q)}/$entity`,
    ...shape(ctx, set, row, q.select, q.expand),
  };
  return jsonResponse(status, body, preferenceApplied(ctx, { representation: true }));
}
