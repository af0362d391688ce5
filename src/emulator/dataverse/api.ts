/**
 * The Dataverse Web API request handler: routes a resource path to CRUD, queries, `$ref`, operations
 * and `$batch`, and answers as Dataverse does (status, headers, body shapes). Everything here is
 * synchronous on purpose: a request (and a whole `$batch`) runs to completion before another starts,
 * so a change set's undo journal only ever holds its own changes.
 */
import { randomUUID } from 'node:crypto';
import { GUID_PATTERN } from '../../net/guid';
import { stableGuid } from '../ids';
import { parseBatch, writeBatchResponse, type BatchRequestPart, type BatchResponseItem, type BatchResponsePart } from './batch';
import { DataverseHttpError, dvErrors, errorBody } from './errors';
import { compareKeys, compileFilter, parseFilter, sortKey, type FilterRuntime, type RowPredicate, type ValueKind } from './filter';
import { formattedValue } from './format';
import { Impersonation, type UserIdentity } from './impersonation';
import type { MetadataApi } from './metadata';
import { AnnotationFilter, parsePrefer, type Preferences } from './prefer';
import {
  decodeSkipToken,
  encodeSkipToken,
  parseKey,
  parseOrderBy,
  parsePath,
  parseQueryOptions,
  parseQueryString,
  type ExpandItem,
  type KeyValue,
  type PathSegment,
  type QueryOptions,
  type QueryParam,
} from './query';
import type { ColumnInfo, EntitySetInfo, NavigationInfo, ServiceSchema } from './schema';
import { normaliseId, type DataStore, type Row } from './store';
import type { OperationModel } from '../../csdl';

/** One Web API request, already authenticated. */
export interface ApiRequest {
  method: string;
  /** `v9.0`, `v9.1` or `v9.2`. */
  version: string;
  /** Raw (still percent-encoded) resource path after `/api/data/v9.x/`. */
  path: string;
  /** Raw query string without `?`. */
  query: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  caller: Caller;
}

/** The token's user or app (before any impersonation header is applied). */
export interface Caller {
  /** Entra object id from the token. */
  oid: string;
  /** The caller's systemuserid (stable per oid: {@link systemUserIdFor}). */
  systemUserId: string;
  upn?: string;
  kind: 'app' | 'user';
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Dataverse's page-size ceiling and the cap on `@odata.count` (dp/webapi/query/page-results.md, count-rows.md). */
export const MAX_PAGE_SIZE = 5000;
const JSON_TYPE = 'application/json; odata.metadata=minimal; odata.streaming=true';
const ERROR_TYPE = 'application/json; odata.metadata=minimal';
const FORMATTED = 'OData.Community.Display.V1.FormattedValue';
const LOOKUP_LOGICAL = 'Microsoft.Dynamics.CRM.lookuplogicalname';
const ASSOCIATED_NAV = 'Microsoft.Dynamics.CRM.associatednavigationproperty';
const QUERY_CACHE_SIZE = 32;

export { stableGuid };

interface Context {
  req: ApiRequest;
  /** Who the request runs as: the caller, or the user an impersonation header names. */
  user: UserIdentity;
  /** The caller, when impersonating someone else (`createdonbehalfby`, `modifiedonbehalfby`). */
  onBehalfOf?: UserIdentity;
  prefs: Preferences;
  annotations: AnnotationFilter;
  now: Date;
  base: string;
  /** `$batch` Content-ID → entity URL. */
  contentIds?: Map<string, string>;
}

interface Found {
  row?: Row;
  /** Key columns from the URL, used as preset values when an upsert creates the row. */
  keyColumns: Row;
  describe: () => DataverseHttpError;
}

interface SortedResult {
  version: number;
  rows: Row[];
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { 'Content-Type': JSON_TYPE, 'OData-Version': '4.0', ...headers }, body: JSON.stringify(body) };
}

function noContent(headers: Record<string, string> = {}): ApiResponse {
  return { status: 204, headers: { 'OData-Version': '4.0', ...headers }, body: '' };
}

export function errorResponse(err: DataverseHttpError): ApiResponse {
  return {
    status: err.status,
    headers: { 'Content-Type': ERROR_TYPE, 'OData-Version': '4.0', ...err.headers },
    body: errorBody(err),
  };
}

function etagOf(row: Row): string {
  return `W/"${String(row['versionnumber'] ?? 0)}"`;
}

export class DataverseApi {
  private readonly queryCache = new Map<string, SortedResult>();
  readonly businessUnitId: string;
  readonly organizationId: string;
  private readonly impersonation: Impersonation;

  constructor(
    private readonly schema: ServiceSchema,
    private readonly store: DataStore,
    private readonly metadataXml: string,
    private readonly environmentUrl: string,
    private readonly metadata: MetadataApi,
  ) {
    // Fixed ids, so WhoAmI answers the same across restarts and ports.
    this.businessUnitId = stableGuid('dynamics-odata-emulator#businessunit');
    this.organizationId = stableGuid('dynamics-odata-emulator#organization');
    this.impersonation = new Impersonation(schema, store);
  }

  /** Answers one request; never throws. */
  execute(req: ApiRequest): ApiResponse {
    this.impersonation.remember(req.caller);
    const ctx: Context = {
      req,
      user: req.caller,
      prefs: parsePrefer(req.headers['prefer']),
      annotations: new AnnotationFilter(undefined),
      now: new Date(),
      base: `${this.environmentUrl}/api/data/${req.version}`,
    };
    return this.executeIn(ctx);
  }

  private executeIn(ctx: Context): ApiResponse {
    try {
      ctx.annotations = new AnnotationFilter(ctx.prefs.get('odata.include-annotations'));
      // A batch operation's own header overrides the $batch request's; impersonation is always of the token's user.
      const effective = this.impersonation.resolve(ctx.req.headers, ctx.req.caller);
      if (effective) {
        ctx.user = effective.user;
        if (effective.onBehalfOf) ctx.onBehalfOf = effective.onBehalfOf;
        else delete ctx.onBehalfOf;
      }
      return this.route(ctx);
    } catch (err) {
      if (err instanceof DataverseHttpError) return errorResponse(err);
      return errorResponse(new DataverseHttpError(500, '0x80040216', `An unexpected error occurred: ${(err as Error).message}`));
    }
  }

  // ---- routing ----

  private route(ctx: Context): ApiResponse {
    const { req } = ctx;
    const segs = parsePath(req.path);
    const first = segs[0];
    if (!first) {
      this.allow(req, 'GET');
      return jsonResponse(200, {
        '@odata.context': `${ctx.base}/$metadata`,
        value: [...this.schema.sets.keys()].map((name) => ({ name, kind: 'EntitySet', url: name })),
      });
    }
    if (first.name === '$metadata' && segs.length === 1) {
      this.allow(req, 'GET');
      return { status: 200, headers: { 'Content-Type': 'application/xml', 'OData-Version': '4.0' }, body: this.metadataXml };
    }
    if (first.name === 'EntityDefinitions') {
      this.allow(req, 'GET');
      const r = this.metadata.get(ctx.base, segs, req.query);
      return jsonResponse(r.status, r.body);
    }
    if (first.name === '$batch' && segs.length === 1) {
      this.allow(req, 'POST');
      return this.batch(ctx);
    }
    const set = this.schema.sets.get(first.name);
    if (set) return this.entitySetRoute(ctx, set, segs);
    const ops = this.operationsNamed(first.name)?.filter((o) => !o.isBound);
    if (ops && ops.length > 0 && segs.length === 1) return this.operation(ctx, ops, first.args, undefined);
    throw dvErrors.segmentNotFound(first.args === undefined ? first.name : `${first.name}(${first.args})`);
  }

  private allow(req: ApiRequest, ...methods: string[]): void {
    if (!methods.includes(req.method)) throw dvErrors.methodNotAllowed(req.method);
  }

  private operationsNamed(name: string): OperationModel[] | undefined {
    const simple = name.replace(/^(Microsoft\.Dynamics\.CRM|mscrm)\./, '');
    if (simple !== name || !name.includes('.')) return this.schema.operations.get(simple);
    return undefined;
  }

  private entitySetRoute(ctx: Context, set: EntitySetInfo, segs: PathSegment[]): ApiResponse {
    const { req } = ctx;
    const [head, s1, s2, s3] = segs;
    if (!head) throw dvErrors.segmentNotFound('');
    if (head.args === undefined) {
      if (!s1) {
        this.allow(req, 'GET', 'POST');
        return req.method === 'GET' ? this.list(ctx, set, undefined) : this.create(ctx, set);
      }
      if (s1.name === '$count' && !s2) {
        this.allow(req, 'GET');
        return this.count(ctx, set);
      }
      const ops = this.boundOperations(s1.name, set, true);
      if (ops && !s2) return this.operation(ctx, ops, s1.args, undefined);
      throw dvErrors.segmentNotFound(s1.name);
    }
    const found = this.find(ctx, set, head.args);
    if (!s1) {
      this.allow(req, 'GET', 'PATCH', 'DELETE');
      if (req.method === 'GET') return this.retrieve(ctx, set, found);
      if (req.method === 'PATCH') return this.upsert(ctx, set, found);
      return this.remove(ctx, set, found);
    }
    const column = set.columns.get(s1.name);
    if (column && s1.args === undefined) {
      const row = found.row;
      if (!row) throw found.describe();
      if (!s2) return this.propertyRoute(ctx, set, row, column);
      if (s2.name === '$value' && !s3) {
        this.allow(req, 'GET');
        const v = row[column.name];
        if (v === null || v === undefined) return noContent();
        return { status: 200, headers: { 'Content-Type': 'text/plain', 'OData-Version': '4.0' }, body: String(v) };
      }
      throw dvErrors.segmentNotFound(s2.name);
    }
    const nav = set.navigations.get(s1.name);
    if (nav) {
      const row = found.row;
      if (!row) throw found.describe();
      if (s2?.name === '$ref' && !s3) return this.refRoute(ctx, set, row, nav, s1.args);
      if (!s2) return this.navigationRoute(ctx, set, row, nav, s1.args);
      throw dvErrors.segmentNotFound(s2.name);
    }
    const ops = this.boundOperations(s1.name, set, false);
    if (ops && !s2) {
      if (!found.row) throw found.describe();
      return this.operation(ctx, ops, s1.args, found.row);
    }
    throw dvErrors.segmentNotFound(s1.name);
  }

  private boundOperations(name: string, set: EntitySetInfo, collection: boolean): OperationModel[] | undefined {
    const ops = this.operationsNamed(name)?.filter(
      (o) => o.isBound && o.bindingType !== undefined && set.typeChain.has(o.bindingType) && Boolean(o.bindingIsCollection) === collection,
    );
    return ops && ops.length > 0 ? ops : undefined;
  }

  // ---- keys ----

  private keyValue(column: ColumnInfo | undefined, name: string, v: KeyValue): unknown {
    if (!column) throw dvErrors.badRequest(`The key property '${name}' does not exist.`);
    if (v.kind === 'null') return null;
    if (column.kind === 'guid') {
      // Edm.Guid keys are written unquoted (OData ABNF); a quoted GUID is a syntax error in Dataverse.
      if (v.kind !== 'guid') throw dvErrors.syntax('Bad Request - Error in query syntax.');
      return String(v.value).toLowerCase();
    }
    if (column.kind === 'string' && v.kind !== 'string') throw dvErrors.syntax('Bad Request - Error in query syntax.');
    if (column.kind === 'number' && v.kind !== 'number') throw dvErrors.syntax('Bad Request - Error in query syntax.');
    return v.value;
  }

  /** Resolves a key predicate (primary key or a declared alternate key) to the row, if any. */
  private find(ctx: Context, set: EntitySetInfo, args: string): Found {
    const resolved = this.resolveKeyText(ctx, args);
    const key = parseKey(resolved);
    if (key.single) {
      const id = this.keyValue(set.columns.get(set.key), set.key, key.single);
      const text = String(id);
      const row = this.store.get(set.name, text);
      return { ...(row ? { row } : {}), keyColumns: { [set.key]: id }, describe: () => dvErrors.recordNotFound(set.logicalName, text) };
    }
    const named = key.named ?? new Map<string, KeyValue>();
    if (named.size === 1 && named.has(set.key)) {
      const id = this.keyValue(set.columns.get(set.key), set.key, named.get(set.key) as KeyValue);
      const text = String(id);
      const row = this.store.get(set.name, text);
      return { ...(row ? { row } : {}), keyColumns: { [set.key]: id }, describe: () => dvErrors.recordNotFound(set.logicalName, text) };
    }
    const names = [...named.keys()].sort().join(',');
    const declared = set.alternateKeys.find((k) => [...k].sort().join(',') === names);
    if (!declared) {
      throw dvErrors.badRequest(
        `Invalid key '${[...named.keys()].join(',')}' for entity '${set.logicalName}': the key must be the primary key or one of the alternate keys defined for the entity.`,
        '0x80060891',
      );
    }
    const values: Row = {};
    for (const [name, v] of named) values[name] = this.keyValue(set.columns.get(name), name, v);
    const row = this.store.findByAlternateKey(set.name, values);
    return { ...(row ? { row } : {}), keyColumns: values, describe: () => dvErrors.recordNotFoundByKey(set.logicalName, args) };
  }

  /** Replaces parameter aliases in a key predicate with their values from the query string. */
  private resolveKeyText(ctx: Context, args: string): string {
    if (!args.includes('@')) return args;
    const q = parseQueryString(ctx.req.query);
    return args.replace(/@[A-Za-z_][A-Za-z0-9_]*/g, (alias) => q.find((p) => p.name === alias)?.value ?? alias);
  }

  // ---- values ----

  private coerce(set: EntitySetInfo, column: ColumnInfo, value: unknown): unknown {
    if (value === null) return null;
    const bad = (): never => {
      throw dvErrors.invalidValue(typeof value === 'object' ? JSON.stringify(value) : String(value), column.edmType);
    };
    if (column.isCollection) return Array.isArray(value) ? value : bad();
    switch (column.edmType) {
      case 'Edm.String':
        return typeof value === 'string' ? value : bad();
      case 'Edm.Boolean':
        return typeof value === 'boolean' ? value : bad();
      case 'Edm.Int16':
      case 'Edm.Int32':
      case 'Edm.Byte':
      case 'Edm.SByte': {
        const n = typeof value === 'number' ? value : bad();
        if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) bad();
        return n;
      }
      case 'Edm.Int64': {
        const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : bad();
        return Number.isInteger(n) ? n : bad();
      }
      case 'Edm.Decimal':
      case 'Edm.Double':
      case 'Edm.Single': {
        // IEEE754Compatible clients send decimals as strings.
        const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : bad();
        return n;
      }
      case 'Edm.Guid':
        return typeof value === 'string' && GUID_PATTERN.test(value) ? value.toLowerCase() : bad();
      case 'Edm.DateTimeOffset': {
        if (typeof value !== 'string') bad();
        const t = Date.parse(value as string);
        if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(value as string)) bad();
        return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
      }
      case 'Edm.Date':
        return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : bad();
      case 'Edm.Binary':
        return typeof value === 'string' && /^[A-Za-z0-9+/=_-]*$/.test(value) ? value : bad();
      default:
        if (set.columns.has(column.name) && column.kind === 'other') return value;
        return value;
    }
  }

  // ---- bodies ----

  private parseJson(ctx: Context): Record<string, unknown> {
    const text = ctx.req.body.trim();
    if (!text) throw dvErrors.badRequest('The request body is empty; a JSON object was expected.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw dvErrors.badRequest(`Invalid JSON. ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw dvErrors.badRequest('The request body must be a JSON object.');
    }
    return parsed as Record<string, unknown>;
  }

  /** Resolves an entity reference (`/contacts(id)`, `contacts(id)`, an absolute URL or `$n`) to its set and row. */
  private resolveReference(ctx: Context, ref: unknown): { set: EntitySetInfo; row: Row } {
    if (typeof ref !== 'string' || ref.length === 0) throw dvErrors.badRequest(`The entity reference '${String(ref)}' is not a valid URL.`);
    let text = ref;
    if (text.startsWith('$')) {
      const m = /^\$([^/]+)(.*)$/.exec(text);
      const target = m ? ctx.contentIds?.get(m[1] as string) : undefined;
      if (!m || target === undefined) throw dvErrors.badRequest(`Content-ID Reference: '${text}' does not exist in the batch context.`);
      text = target + (m[2] ?? '');
    }
    text = text.replace(/^https?:\/\/[^/]+/i, '').replace(/^\/?api\/data\/v\d+\.\d+\//i, '').replace(/^\//, '');
    const segs = parsePath(text.split('?')[0] ?? '');
    const seg = segs[0];
    const set = seg ? this.schema.sets.get(seg.name) : undefined;
    if (!seg || !set || seg.args === undefined || segs.length !== 1) {
      throw dvErrors.badRequest(`The entity reference '${ref}' does not identify a record: expected '<entityset>(<key>)'.`);
    }
    const found = this.find(ctx, set, seg.args);
    if (!found.row) throw found.describe();
    return { set, row: found.row };
  }

  /**
   * Turns a request body into column values plus work that needs the new row's id (collection binds,
   * deep inserts). Unknown properties, read-only lookups and wrongly typed values are Dataverse's 400s.
   */
  private applyBody(ctx: Context, set: EntitySetInfo, body: Record<string, unknown>): { columns: Row; after: ((id: string) => void)[] } {
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
          this.bindSingle(ctx, nav, columns, value);
        } else {
          if (!Array.isArray(value)) throw dvErrors.badRequest(`The value of '${name}' must be an array of entity references for a collection-valued navigation property.`);
          const targets = value.map((v) => this.checkTarget(nav, this.resolveReference(ctx, v)));
          after.push((id) => targets.forEach((t) => this.associate(set, id, nav, t.set, t.row)));
        }
        continue;
      }
      const column = set.columns.get(name);
      if (column) {
        if (column.lookupNavigations) throw dvErrors.lookupValueWrite();
        columns[name] = this.coerce(set, column, value);
        continue;
      }
      const nav = set.navigations.get(name);
      if (nav && value !== null && typeof value === 'object') {
        // Deep insert (dp/webapi/create-entity-web-api.md#create-related-table-rows-in-one-operation).
        const targetSet = nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
        if (!targetSet) throw dvErrors.badRequest(`The navigation property '${name}' leads to a table without an entity set.`);
        if (nav.kind === 'single') {
          if (Array.isArray(value)) throw dvErrors.badRequest(`A single entity was expected for navigation property '${name}'.`);
          const childId = this.createRecord(ctx, targetSet, value as Record<string, unknown>, {});
          const child = this.store.get(targetSet.name, childId) as Row;
          this.setLookup(columns, nav, targetSet, child);
        } else {
          if (!Array.isArray(value)) throw dvErrors.badRequest(`An array was expected for collection-valued navigation property '${name}'.`);
          after.push((id) => {
            for (const item of value as Record<string, unknown>[]) {
              const childId = this.createRecord(ctx, targetSet, item, {});
              this.associate(set, id, nav, targetSet, this.store.get(targetSet.name, childId) as Row);
            }
          });
        }
        continue;
      }
      throw dvErrors.unknownBodyProperty(name, set.qualifiedName);
    }
    return { columns, after };
  }

  private checkTarget(nav: NavigationInfo, target: { set: EntitySetInfo; row: Row }): { set: EntitySetInfo; row: Row } {
    if (!target.set.typeChain.has(nav.targetType)) {
      throw dvErrors.badRequest(
        `The entity set '${target.set.name}' is not valid for the navigation property '${nav.name}', which expects '${nav.targetType}'.`,
      );
    }
    return target;
  }

  private bindSingle(ctx: Context, nav: NavigationInfo, columns: Row, ref: unknown): void {
    const target = this.checkTarget(nav, this.resolveReference(ctx, ref));
    this.setLookup(columns, nav, target.set, target.row);
  }

  private setLookup(columns: Row, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
    if (!nav.lookupColumn) throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be set with @odata.bind.`);
    columns[nav.lookupColumn] = normaliseId(target[targetSet.key]);
    columns[`${nav.lookupColumn}@${LOOKUP_LOGICAL}`] = targetSet.logicalName;
  }

  /** Links `target` to the row `id` of `set` through a collection-valued navigation. */
  private associate(set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
    const targetId = normaliseId(target[targetSet.key]);
    if (nav.kind === 'oneToMany' && nav.lookupColumn) {
      this.store.update(targetSet.name, targetId, { [nav.lookupColumn]: id, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: set.logicalName }, new Date());
    } else if (nav.kind === 'manyToMany' && nav.relationship) {
      this.store.link(nav.relationship, set.qualifiedName, nav.name, id, targetId);
    } else {
      throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be associated.`);
    }
  }

  private disassociate(set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo, target: Row): void {
    const targetId = normaliseId(target[targetSet.key]);
    if (nav.kind === 'oneToMany' && nav.lookupColumn) {
      if (normaliseId(target[nav.lookupColumn]) !== id) throw dvErrors.recordNotFound(targetSet.logicalName, targetId);
      this.store.update(targetSet.name, targetId, { [nav.lookupColumn]: null, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: undefined }, new Date());
    } else if (nav.kind === 'manyToMany' && nav.relationship) {
      if (!this.store.unlink(nav.relationship, set.qualifiedName, nav.name, id, targetId)) {
        throw dvErrors.recordNotFound(targetSet.logicalName, targetId);
      }
    } else {
      throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be disassociated.`);
    }
  }

  /** Ensures a systemuser row exists for a user the request runs as or on behalf of. */
  private ensureUser(ctx: Context, who: UserIdentity): void {
    const users = this.schema.sets.get('systemusers');
    if (!users || this.store.get(users.name, who.systemUserId)) return;
    const row: Row = { [users.key]: who.systemUserId };
    const name = who.upn ?? (who.kind === 'app' ? '# Application User' : (who.oid ?? who.systemUserId));
    for (const [col, v] of Object.entries({
      fullname: name,
      domainname: who.upn ?? null,
      azureactivedirectoryobjectid: who.oid ?? null,
      _businessunitid_value: this.businessUnitId,
      isdisabled: false,
    })) {
      if (users.columns.has(col)) row[col] = v;
    }
    this.store.create(users.name, this.mirrorPrimaryId(users, this.store.withSystemColumns(users, row, ctx.now)));
  }

  /**
   * Tables whose key is inherited (systemuser and team key on `ownerid`, from `principal`) also have their
   * own `<logicalname>id` column holding the same value; Dataverse returns both (the systemuser sample in
   * dp/webapi/impersonate-another-user-web-api.md shows `systemuserid` and `ownerid` equal).
   */
  private primaryIdColumn(set: EntitySetInfo): string | undefined {
    const col = `${set.logicalName}id`;
    return col !== set.key && set.columns.has(col) ? col : undefined;
  }

  private mirrorPrimaryId(set: EntitySetInfo, row: Row): Row {
    const col = this.primaryIdColumn(set);
    if (col) row[col] = row[set.key];
    return row;
  }

  /**
   * Ensures the users have systemuser rows, and returns the owner columns Dataverse sets on create: owner and
   * createdby are the user the request runs as, createdonbehalfby the impersonating caller
   * (dp/webapi/impersonate-another-user-web-api.md "Determine the actual user").
   */
  private ownerColumns(ctx: Context, set: EntitySetInfo): Row {
    const user = ctx.user;
    this.ensureUser(ctx, user);
    if (ctx.onBehalfOf) this.ensureUser(ctx, ctx.onBehalfOf);
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
    put('_owningbusinessunit_value', this.businessUnitId, 'businessunit');
    return out;
  }

  /** Columns Dataverse computes: `fullname` from first and last name (contacts, leads, users). */
  private deriveColumns(set: EntitySetInfo, merged: Row, into: Row): void {
    if (set.columns.has('fullname') && set.columns.has('firstname') && set.columns.has('lastname') && ('firstname' in into || 'lastname' in into)) {
      into['fullname'] = [merged['firstname'], merged['lastname']].filter((v) => typeof v === 'string' && v !== '').join(' ') || null;
    }
  }

  /** Creates a row from a body (plus preset key columns); returns its id. */
  private createRecord(ctx: Context, set: EntitySetInfo, body: Record<string, unknown>, preset: Row): string {
    const { columns, after } = this.applyBody(ctx, set, body);
    const row: Row = { ...this.ownerColumns(ctx, set), ...columns, ...preset };
    this.deriveColumns(set, row, row);
    const primaryId = this.primaryIdColumn(set);
    if (primaryId && row[set.key] == null && row[primaryId] != null) row[set.key] = row[primaryId];
    const id = this.store.create(set.name, this.mirrorPrimaryId(set, this.store.withSystemColumns(set, row, ctx.now)));
    for (const f of after) f(id);
    return id;
  }

  private entityUrl(ctx: Context, set: EntitySetInfo, id: string): string {
    return `${ctx.base}/${set.name}(${id})`;
  }

  private wantsRepresentation(ctx: Context): boolean {
    return ctx.prefs.get('return') === 'representation';
  }

  private representation(ctx: Context, set: EntitySetInfo, id: string, status: number): ApiResponse {
    const q = parseQueryOptions(parseQueryString(ctx.req.query));
    const row = this.store.get(set.name, id) as Row;
    const body = {
      '@odata.context': `${ctx.base}/$metadata#${set.name}${this.contextSelect(q)}/$entity`,
      ...this.shape(ctx, set, row, q.select, q.expand),
    };
    return jsonResponse(status, body, this.preferenceApplied(ctx, { representation: true }));
  }

  // ---- CRUD ----

  private create(ctx: Context, set: EntitySetInfo): ApiResponse {
    const body = this.parseJson(ctx);
    const id = this.store.atomically(() => this.createRecord(ctx, set, body, {}));
    if (this.wantsRepresentation(ctx)) return this.representation(ctx, set, id, 201);
    const url = this.entityUrl(ctx, set, id);
    return noContent({ Location: url, 'OData-EntityId': url });
  }

  private retrieve(ctx: Context, set: EntitySetInfo, found: Found): ApiResponse {
    const row = found.row;
    if (!row) throw found.describe();
    const q = parseQueryOptions(parseQueryString(ctx.req.query));
    this.validateSelect(set, q.select);
    const inm = ctx.req.headers['if-none-match'];
    // 304 only without $expand or annotations (dp/webapi/perform-conditional-operations-using-web-api.md).
    if (inm && inm !== 'null' && !q.expand && !ctx.annotations.any && inm === etagOf(row)) {
      return { status: 304, headers: { 'OData-Version': '4.0' }, body: '' };
    }
    const body = {
      '@odata.context': `${ctx.base}/$metadata#${set.name}${this.contextSelect(q)}/$entity`,
      ...this.shape(ctx, set, row, q.select, q.expand),
    };
    return jsonResponse(200, body, { ETag: etagOf(row), ...this.preferenceApplied(ctx, {}) });
  }

  private checkIfMatch(ctx: Context, row: Row): void {
    const ifMatch = ctx.req.headers['if-match'];
    if (ifMatch && ifMatch.trim() !== '*') {
      const tags = ifMatch.split(',').map((t) => t.trim());
      if (!tags.includes(etagOf(row))) throw dvErrors.etagMismatch();
    }
  }

  private upsert(ctx: Context, set: EntitySetInfo, found: Found): ApiResponse {
    const body = this.parseJson(ctx);
    const ifMatch = ctx.req.headers['if-match'];
    const ifNoneMatch = ctx.req.headers['if-none-match'];
    if (!found.row) {
      // If-Match (any value) makes PATCH update-only: no create (perform-conditional-operations-using-web-api.md).
      if (ifMatch) throw found.describe();
      const id = this.store.atomically(() => this.createRecord(ctx, set, body, found.keyColumns));
      if (this.wantsRepresentation(ctx)) return this.representation(ctx, set, id, 201);
      const url = this.entityUrl(ctx, set, id);
      return noContent({ 'OData-EntityId': url });
    }
    if (ifNoneMatch && ifNoneMatch.trim() === '*') throw dvErrors.alreadyExists();
    this.checkIfMatch(ctx, found.row);
    const id = normaliseId(found.row[set.key]);
    this.store.atomically(() => {
      const { columns, after } = this.applyBody(ctx, set, body);
      delete columns[set.key];
      const owner = this.ownerColumns(ctx, set);
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
      this.deriveColumns(set, { ...(found.row as Row), ...columns }, columns);
      this.store.update(set.name, id, columns, ctx.now);
      for (const f of after) f(id);
    });
    if (this.wantsRepresentation(ctx)) return this.representation(ctx, set, id, 200);
    return noContent({ 'OData-EntityId': this.entityUrl(ctx, set, id) });
  }

  private remove(ctx: Context, set: EntitySetInfo, found: Found): ApiResponse {
    if (!found.row) throw found.describe();
    this.checkIfMatch(ctx, found.row);
    this.store.remove(set.name, normaliseId(found.row[set.key]));
    return noContent();
  }

  private propertyRoute(ctx: Context, set: EntitySetInfo, row: Row, column: ColumnInfo): ApiResponse {
    const { req } = ctx;
    this.allow(req, 'GET', 'PUT', 'DELETE');
    const id = normaliseId(row[set.key]);
    if (req.method === 'GET') {
      const v = row[column.name];
      if (v === null || v === undefined) return noContent();
      return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${set.name}(${id})/${column.name}`, value: v });
    }
    if (column.lookupNavigations) throw dvErrors.lookupValueWrite();
    if (column.name === set.key) throw dvErrors.badRequest(`The primary key '${column.name}' cannot be changed.`);
    const value = req.method === 'DELETE' ? null : this.coerce(set, column, this.parseJson(ctx)['value']);
    this.store.update(set.name, id, { [column.name]: value }, ctx.now);
    return noContent();
  }

  // ---- navigation and $ref ----

  private navigationRoute(ctx: Context, set: EntitySetInfo, row: Row, nav: NavigationInfo, args: string | undefined): ApiResponse {
    const { req } = ctx;
    const targetSet = nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
    if (!targetSet) throw dvErrors.segmentNotFound(nav.name);
    const id = normaliseId(row[set.key]);
    if (nav.kind === 'single') {
      this.allow(req, 'GET');
      const target = this.singleTarget(row, nav);
      if (!target) return noContent();
      return this.retrieve(ctx, target.set, { row: target.row, keyColumns: {}, describe: () => dvErrors.recordNotFound(target.set.logicalName, '') });
    }
    if (args !== undefined) {
      this.allow(req, 'GET');
      const found = this.find(ctx, targetSet, args);
      const related = found.row && this.relatedIds(set, id, nav, targetSet).has(normaliseId(found.row[targetSet.key]));
      if (!related) throw found.describe();
      return this.retrieve(ctx, targetSet, found);
    }
    this.allow(req, 'GET', 'POST');
    if (req.method === 'POST') {
      const body = this.parseJson(ctx);
      const childId = this.store.atomically(() => {
        const cid = this.createRecord(ctx, targetSet, body, {});
        this.associate(set, id, nav, targetSet, this.store.get(targetSet.name, cid) as Row);
        return cid;
      });
      if (this.wantsRepresentation(ctx)) return this.representation(ctx, targetSet, childId, 201);
      const url = this.entityUrl(ctx, targetSet, childId);
      return noContent({ Location: url, 'OData-EntityId': url });
    }
    return this.list(ctx, targetSet, { parentSet: set, parentId: id, nav });
  }

  private refRoute(ctx: Context, set: EntitySetInfo, row: Row, nav: NavigationInfo, args: string | undefined): ApiResponse {
    const { req } = ctx;
    const id = normaliseId(row[set.key]);
    const targetSet = nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
    if (nav.kind === 'single') {
      this.allow(req, 'GET', 'PUT', 'DELETE');
      if (req.method === 'GET') {
        const target = this.singleTarget(row, nav);
        if (!target) return noContent();
        return jsonResponse(200, {
          '@odata.context': `${ctx.base}/$metadata#$ref`,
          '@odata.id': this.entityUrl(ctx, target.set, normaliseId(target.row[target.set.key])),
        });
      }
      if (req.method === 'PUT') {
        const ref = this.parseJson(ctx)['@odata.id'];
        const columns: Row = {};
        this.bindSingle(ctx, nav, columns, ref);
        this.store.update(set.name, id, columns, ctx.now);
        return noContent();
      }
      if (!nav.lookupColumn) throw dvErrors.badRequest(`The navigation property '${nav.name}' cannot be cleared.`);
      this.store.update(set.name, id, { [nav.lookupColumn]: null, [`${nav.lookupColumn}@${LOOKUP_LOGICAL}`]: undefined }, ctx.now);
      return noContent();
    }
    if (!targetSet) throw dvErrors.segmentNotFound(nav.name);
    this.allow(req, 'GET', 'POST', 'DELETE');
    if (req.method === 'GET') {
      const ids = [...this.relatedIds(set, id, nav, targetSet)];
      return jsonResponse(200, {
        '@odata.context': `${ctx.base}/$metadata#Collection($ref)`,
        value: ids.map((t) => ({ '@odata.id': this.entityUrl(ctx, targetSet, t) })),
      });
    }
    if (req.method === 'POST') {
      const target = this.checkTarget(nav, this.resolveReference(ctx, this.parseJson(ctx)['@odata.id']));
      this.store.atomically(() => this.associate(set, id, nav, target.set, target.row));
      return noContent();
    }
    let target: { set: EntitySetInfo; row: Row };
    if (args !== undefined) {
      const found = this.find(ctx, targetSet, args);
      if (!found.row) throw found.describe();
      target = { set: targetSet, row: found.row };
    } else {
      const ref = parseQueryString(ctx.req.query).find((p) => p.name === '$id')?.value;
      if (!ref) throw dvErrors.badRequest('The $id query option is required to remove a reference from a collection-valued navigation property.');
      target = this.checkTarget(nav, this.resolveReference(ctx, ref));
    }
    this.store.atomically(() => this.disassociate(set, id, nav, target.set, target.row));
    return noContent();
  }

  private singleTarget(row: Row, nav: NavigationInfo): { set: EntitySetInfo; row: Row } | undefined {
    if (!nav.lookupColumn) return undefined;
    const value = row[nav.lookupColumn];
    if (value === null || value === undefined) return undefined;
    const logical = row[`${nav.lookupColumn}@${LOOKUP_LOGICAL}`];
    const set = nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
    if (!set) return undefined;
    // Polymorphic lookups (customer, owner) share one _x_value across several navigations.
    if (typeof logical === 'string' && !set.typeChain.has(`${this.schema.namespace}.${logical}`)) {
      const actual = this.schema.setByType.get(`${this.schema.namespace}.${logical}`);
      if (!actual || !actual.typeChain.has(nav.targetType) || actual.name !== set.name) {
        if (!actual || !actual.typeChain.has(nav.targetType)) return undefined;
        const r = this.store.get(actual.name, String(value));
        return r ? { set: actual, row: r } : undefined;
      }
    }
    const target = this.store.get(set.name, String(value));
    return target ? { set, row: target } : undefined;
  }

  private relatedIds(set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo): Set<string> {
    if (nav.kind === 'manyToMany' && nav.relationship) {
      return new Set(this.store.linked(nav.relationship, set.qualifiedName, nav.name, id).filter((t) => this.store.get(targetSet.name, t)));
    }
    const out = new Set<string>();
    for (const r of this.relatedRows(set, id, nav, targetSet)) out.add(normaliseId(r[targetSet.key]));
    return out;
  }

  private relatedRows(set: EntitySetInfo, id: string, nav: NavigationInfo, targetSet: EntitySetInfo): Row[] {
    if (nav.kind === 'manyToMany' && nav.relationship) {
      return this.store
        .linked(nav.relationship, set.qualifiedName, nav.name, id)
        .map((t) => this.store.get(targetSet.name, t))
        .filter((r): r is Row => r !== undefined);
    }
    const col = nav.lookupColumn;
    if (!col) return [];
    const out: Row[] = [];
    for (const r of this.store.allRows(targetSet.name)) {
      if (r[col] !== id) continue;
      const logical = r[`${col}@${LOOKUP_LOGICAL}`];
      if (typeof logical === 'string' && logical !== set.logicalName) continue;
      out.push(r);
    }
    return out;
  }

  // ---- queries ----

  private validateSelect(set: EntitySetInfo, select: string[] | undefined): void {
    for (const s of select ?? []) {
      if (!set.columns.has(s)) throw dvErrors.unknownQueryProperty(s, set.qualifiedName);
    }
  }

  private contextSelect(q: Pick<QueryOptions, 'select' | 'expand'>): string {
    const parts = [...(q.select ?? [])];
    for (const e of q.expand ?? []) parts.push(`${e.navigation}(${(e.select ?? []).join(',')})`);
    return parts.length > 0 ? `(${parts.join(',')})` : '';
  }

  /** Value kind of a filter/orderby path: a column, or `lookupnav/column` through a single-valued navigation. */
  private kindOf(set: EntitySetInfo, path: string[]): ValueKind | undefined {
    if (path.length === 1) return set.columns.get(path[0] as string)?.kind;
    if (path.length === 2) {
      const nav = set.navigations.get(path[0] as string);
      const target = nav?.kind === 'single' && nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
      return target?.columns.get(path[1] as string)?.kind;
    }
    return undefined;
  }

  private runtime(ctx: Context, set: EntitySetInfo): FilterRuntime {
    return {
      userId: ctx.user.systemUserId,
      now: ctx.now,
      get: (row, path) => {
        if (path.length === 1) return row[path[0] as string];
        const nav = set.navigations.get(path[0] as string);
        if (!nav) return undefined;
        return this.singleTarget(row, nav)?.row[path[1] as string];
      },
    };
  }

  private compile(ctx: Context, set: EntitySetInfo, filter: string | undefined, aliases: Map<string, string>): RowPredicate | undefined {
    if (filter === undefined) return undefined;
    return compileFilter(parseFilter(filter, aliases), { qualifiedType: set.qualifiedName, kindOf: (p) => this.kindOf(set, p) });
  }

  /**
   * Ordering of a query: the $orderby terms, then the primary key. Dataverse orders by the primary key
   * when no $orderby is given; it is also the final tie-breaker, so every row has exactly one position
   * and paging "after this row" is exact. Rows are compared through precomputed sort keys.
   */
  private comparator(ctx: Context, set: EntitySetInfo, orderby: string | undefined, aliases: Map<string, string>) {
    const terms = orderby === undefined ? [] : parseOrderBy(orderby.replace(/@[A-Za-z_][A-Za-z0-9_]*/g, (a) => aliases.get(a) ?? a));
    const kinds = terms.map((t) => {
      const kind = this.kindOf(set, t.path);
      if (kind === undefined) throw dvErrors.unknownQueryProperty(t.path[t.path.length - 1] as string, set.qualifiedName);
      return kind;
    });
    const rt = this.runtime(ctx, set);
    const keyKind = set.keyKind;
    const n = terms.length;
    const keyOf = (row: Row): (string | number | null)[] => {
      const k: (string | number | null)[] = new Array(n + 1);
      for (let i = 0; i < n; i++) k[i] = sortKey(rt.get(row, (terms[i] as { path: string[] }).path), kinds[i] as ValueKind);
      k[n] = sortKey(row[set.key], keyKind);
      return k;
    };
    const compareKeyArrays = (a: unknown[], b: unknown[]): number => {
      for (let i = 0; i < n; i++) {
        const c = compareKeys(a[i] as string | number | null, b[i] as string | number | null);
        if (c !== 0) return (terms[i] as { desc: boolean }).desc ? -c : c;
      }
      return compareKeys(a[n] as string | number | null, b[n] as string | number | null);
    };
    const compareTo = (row: Row, last: unknown[]): number => compareKeyArrays(keyOf(row), last);
    const compare = (a: Row, b: Row): number => compareKeyArrays(keyOf(a), keyOf(b));
    return { compare, compareTo, compareKeyArrays, values: keyOf };
  }

  private list(ctx: Context, set: EntitySetInfo, parent: { parentSet: EntitySetInfo; parentId: string; nav: NavigationInfo } | undefined): ApiResponse {
    const params = parseQueryString(ctx.req.query);
    const q = parseQueryOptions(params);
    this.validateSelect(set, q.select);
    const predicate = this.compile(ctx, set, q.filter, q.aliases);
    const order = this.comparator(ctx, set, q.orderby, q.aliases);
    for (const e of q.expand ?? []) this.checkExpand(set, e);

    const source = parent ? `${parent.parentSet.name}(${parent.parentId})/${parent.nav.name}` : set.name;
    const cacheKey = `${source}\u0000${q.filter ?? ''}\u0000${q.orderby ?? ''}\u0000${JSON.stringify([...q.aliases])}\u0000${ctx.user.systemUserId}`;
    const version = this.store.version(set.name) + (parent?.nav.kind === 'manyToMany' ? Number.NaN : 0);
    let sorted = this.queryCache.get(cacheKey);
    if (!sorted || sorted.version !== version) {
      const rt = this.runtime(ctx, set);
      const input = parent ? this.relatedRows(parent.parentSet, parent.parentId, parent.nav, set) : this.store.allRows(set.name);
      const rows: Row[] = [];
      for (const r of input) if (!predicate || predicate(r, rt)) rows.push(r);
      // Decorate-sort-undecorate: sort keys are computed once per row, not per comparison.
      const decorated = rows.map((r) => ({ r, k: order.values(r) }));
      decorated.sort((a, b) => order.compareKeyArrays(a.k, b.k));
      sorted = { version, rows: decorated.map((d) => d.r) };
      this.queryCache.delete(cacheKey);
      this.queryCache.set(cacheKey, sorted);
      if (this.queryCache.size > QUERY_CACHE_SIZE) this.queryCache.delete(this.queryCache.keys().next().value as string);
    }
    const all = sorted.rows;

    const requested = ctx.prefs.get('odata.maxpagesize');
    let pageSize = MAX_PAGE_SIZE;
    if (requested !== undefined) {
      const n = Number(requested);
      if (!Number.isInteger(n) || n <= 0) throw dvErrors.badRequest(`The value '${requested}' of the odata.maxpagesize preference is not a positive integer.`);
      pageSize = Math.min(n, MAX_PAGE_SIZE);
    }
    let start = 0;
    let pageNumber = 1;
    if (q.skiptoken !== undefined) {
      const token = decodeSkipToken(q.skiptoken);
      pageNumber = token.page;
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (order.compareTo(all[mid] as Row, token.last) <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    let page: Row[];
    let nextLink: string | undefined;
    if (q.top !== undefined) {
      // With $top Dataverse returns at most $top rows and no nextLink; combined with maxpagesize the
      // page size still bounds the rows (page-results.md: "Don't use $top with odata.maxpagesize").
      page = all.slice(0, Math.min(q.top, pageSize));
    } else {
      page = all.slice(start, start + pageSize);
      if (start + pageSize < all.length) {
        const last = page[page.length - 1] as Row;
        const token = encodeSkipToken(pageNumber + 1, order.values(last));
        const kept = params.filter((p) => p.name !== '$skiptoken').map((p) => p.raw);
        // Dataverse leaves '=' unencoded inside the cookie (see paging-nextlink-contacts fixture).
        kept.push(`$skiptoken=${encodeURIComponent(token).replace(/%3D/g, '=').replace(/%2F/g, '/')}`);
        const path = parent ? `${parent.parentSet.name}(${parent.parentId})/${parent.nav.name}` : set.name;
        nextLink = `${ctx.base}/${path}?${kept.join('&')}`;
      }
    }

    const body: Record<string, unknown> = { '@odata.context': `${ctx.base}/$metadata#${set.name}${this.contextSelect(q)}` };
    const total = all.length;
    if (q.count) body['@odata.count'] = Math.min(total, MAX_PAGE_SIZE);
    if (q.count && ctx.annotations.wants('Microsoft.Dynamics.CRM.totalrecordcount')) {
      body['@Microsoft.Dynamics.CRM.totalrecordcount'] = Math.min(total, MAX_PAGE_SIZE);
    }
    if (q.count && ctx.annotations.wants('Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded')) {
      body['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] = total > MAX_PAGE_SIZE;
    }
    body['value'] = page.map((r) => this.shape(ctx, set, r, q.select, q.expand));
    if (nextLink) body['@odata.nextLink'] = nextLink;
    return jsonResponse(200, body, this.preferenceApplied(ctx, { pageSize: requested !== undefined ? pageSize : undefined }));
  }

  private count(ctx: Context, set: EntitySetInfo): ApiResponse {
    const q = parseQueryOptions(parseQueryString(ctx.req.query));
    const predicate = this.compile(ctx, set, q.filter, q.aliases);
    const rt = this.runtime(ctx, set);
    let n = 0;
    for (const r of this.store.allRows(set.name)) if (!predicate || predicate(r, rt)) n++;
    // count-rows.md: the /$count value is capped at 5000 like @odata.count.
    return { status: 200, headers: { 'Content-Type': 'text/plain', 'OData-Version': '4.0' }, body: String(Math.min(n, MAX_PAGE_SIZE)) };
  }

  private preferenceApplied(ctx: Context, what: { pageSize?: number | undefined; representation?: boolean }): Record<string, string> {
    const applied: string[] = [];
    if (what.representation) applied.push('return=representation');
    if (what.pageSize !== undefined) applied.push(`odata.maxpagesize=${what.pageSize}`);
    const ann = ctx.prefs.get('odata.include-annotations');
    if (ann !== undefined) applied.push(`odata.include-annotations="${ann}"`);
    return applied.length > 0 ? { 'Preference-Applied': applied.join(',') } : {};
  }

  private checkExpand(set: EntitySetInfo, e: ExpandItem): void {
    const nav = set.navigations.get(e.navigation);
    if (!nav) throw dvErrors.unknownQueryProperty(e.navigation, set.qualifiedName);
    const target = nav.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
    if (!target) throw dvErrors.badRequest(`The navigation property '${e.navigation}' leads to a table without an entity set.`);
    this.validateSelect(target, e.select);
    for (const inner of e.expand ?? []) this.checkExpand(target, inner);
  }

  /** Serialises a row as Dataverse does: etag first, selected (or all) columns with annotations, expansions. */
  private shape(ctx: Context, set: EntitySetInfo, row: Row, select: string[] | undefined, expand: ExpandItem[] | undefined): Row {
    const out: Row = { '@odata.etag': etagOf(row) };
    const primaryId = this.primaryIdColumn(set);
    const names = select ? [...select, ...[set.key, ...(primaryId ? [primaryId] : [])].filter((k) => !select.includes(k))] : [...set.columns.keys()];
    const ann = ctx.annotations;
    for (const name of names) {
      const column = set.columns.get(name);
      if (!column) continue;
      const value = row[name] === undefined ? null : row[name];
      if (value !== null && ann.any) {
        if (column.lookupNavigations) {
          const logical = row[`${name}@${LOOKUP_LOGICAL}`];
          const navName = this.associatedNavigation(set, column, typeof logical === 'string' ? logical : undefined);
          if (ann.wants(FORMATTED)) {
            const nav = navName ? set.navigations.get(navName) : undefined;
            const target = nav ? this.singleTarget(row, nav) : undefined;
            const label = target?.set.primaryName ? target.row[target.set.primaryName] : undefined;
            if (typeof label === 'string') out[`${name}@${FORMATTED}`] = label;
          }
          if (navName && ann.wants(ASSOCIATED_NAV)) out[`${name}@${ASSOCIATED_NAV}`] = navName;
          if (typeof logical === 'string' && ann.wants(LOOKUP_LOGICAL)) out[`${name}@${LOOKUP_LOGICAL}`] = logical;
        } else if (ann.wants(FORMATTED)) {
          const f = formattedValue(set.logicalName, column, value, this.metadata.optionLabels(set.logicalName, name));
          if (f !== undefined) out[`${name}@${FORMATTED}`] = f;
        }
      }
      out[name] = value;
    }
    for (const e of expand ?? []) {
      const nav = set.navigations.get(e.navigation);
      const targetSet = nav?.targetSet ? this.schema.sets.get(nav.targetSet) : undefined;
      if (!nav || !targetSet) continue;
      if (nav.kind === 'single') {
        const target = this.singleTarget(row, nav);
        out[e.navigation] = target ? this.shape(ctx, target.set, target.row, e.select, e.expand) : null;
      } else {
        let related = this.relatedRows(set, normaliseId(row[set.key]), nav, targetSet);
        if (e.filter) {
          const p = this.compile(ctx, targetSet, e.filter, new Map());
          const rt = this.runtime(ctx, targetSet);
          if (p) related = related.filter((r) => p(r, rt));
        }
        const order = this.comparator(ctx, targetSet, e.orderby, new Map());
        related.sort(order.compare);
        related = related.slice(0, Math.min(e.top ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE));
        out[e.navigation] = related.map((r) => this.shape(ctx, targetSet, r, e.select, e.expand));
      }
    }
    return out;
  }

  private associatedNavigation(set: EntitySetInfo, column: ColumnInfo, logical: string | undefined): string | undefined {
    const navs = column.lookupNavigations ?? [];
    if (navs.length <= 1 || logical === undefined) return navs[0];
    return (
      navs.find((n) => {
        const nav = set.navigations.get(n);
        return nav !== undefined && nav.targetType === `${this.schema.namespace}.${logical}`;
      }) ?? navs[0]
    );
  }

  // ---- operations ----

  private operation(ctx: Context, ops: OperationModel[], args: string | undefined, bound: Row | undefined): ApiResponse {
    const { req } = ctx;
    const op = ops.find((o) => (req.method === 'GET' ? o.kind === 'function' : o.kind === 'action'));
    if (!op) throw dvErrors.methodNotAllowed(req.method);
    if (op.kind === 'action' && args !== undefined && args.trim() !== '') throw dvErrors.syntax('Bad Request - Error in query syntax.');
    if (op.kind === 'action' && req.body.trim()) this.parseJson(ctx);
    void bound;
    if (op.name === 'WhoAmI') {
      return jsonResponse(200, {
        '@odata.context': `${ctx.base}/$metadata#${this.schema.namespace}.WhoAmIResponse`,
        BusinessUnitId: this.businessUnitId,
        UserId: ctx.user.systemUserId,
        OrganizationId: this.organizationId,
      });
    }
    const rt = op.returnType;
    if (!rt) return noContent();
    const typeName = rt.type.kind === 'primitive' ? rt.type.edmType : rt.type.qualifiedName;
    if (rt.isCollection) {
      return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#Collection(${typeName})`, value: [] });
    }
    if (rt.type.kind === 'complex') {
      const complex = this.schema.model.complexTypes.get(rt.type.qualifiedName);
      const body: Row = { '@odata.context': `${ctx.base}/$metadata#${typeName}` };
      for (const p of complex?.properties ?? []) body[p.name] = p.isCollection ? [] : null;
      return jsonResponse(200, body);
    }
    if (rt.type.kind === 'entity') {
      return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${typeName}` });
    }
    return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${typeName}`, value: null });
  }

  // ---- $batch ----

  private batch(ctx: Context): ApiResponse {
    const items = parseBatch(ctx.req.body, ctx.req.headers['content-type']);
    const continueOnError = ctx.prefs.has('odata.continue-on-error');
    const contentIds = new Map<string, string>();
    /** Content-IDs of parts not yet executed: referencing one is a forward reference (400). */
    const boundary = `batchresponse_${randomUUID()}`;
    const out: BatchResponseItem[] = [];
    let failedStatus: number | undefined;

    const run = (part: BatchRequestPart): BatchResponsePart => {
      const res = this.runPart(ctx, part, contentIds);
      if (part.contentId !== undefined && res.status < 300) {
        const entity = res.headers['OData-EntityId'];
        if (entity) contentIds.set(part.contentId, entity);
      }
      return { ...res, ...(part.contentId !== undefined ? { contentId: part.contentId } : {}) };
    };

    for (const item of items) {
      if (item.kind === 'request') {
        const res = run(item.request);
        out.push({ kind: 'response', part: res });
        if (res.status >= 400 && !continueOnError) {
          failedStatus = res.status;
          break;
        }
        continue;
      }
      const tx = this.store.begin();
      const parts: BatchResponsePart[] = [];
      let failure: BatchResponsePart | undefined;
      const added: string[] = [];
      for (const request of item.requests) {
        const res = run(request);
        if (request.contentId !== undefined) added.push(request.contentId);
        if (res.status >= 400) {
          failure = res;
          break;
        }
        parts.push(res);
      }
      if (failure) {
        tx.rollback();
        // Content-IDs of a rolled-back change set point at rows that no longer exist.
        for (const id of added) contentIds.delete(id);
        // A failed change set is answered with the failing operation alone (execute-batch-operations-using-web-api.md).
        out.push({ kind: 'response', part: failure });
        if (!continueOnError) {
          failedStatus = failure.status;
          break;
        }
      } else {
        tx.commit();
        out.push({ kind: 'changeset', boundary: `changesetresponse_${randomUUID()}`, parts });
      }
    }
    const headers: Record<string, string> = { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'OData-Version': '4.0' };
    if (continueOnError) headers['Preference-Applied'] = 'odata.continue-on-error';
    return { status: failedStatus ?? 200, headers, body: writeBatchResponse(boundary, out) };
  }

  /** Runs one batch operation as its own request, resolving `$n` references first. */
  private runPart(ctx: Context, part: BatchRequestPart, contentIds: Map<string, string>): ApiResponse {
    const requestId = randomUUID();
    const withReqId = (r: ApiResponse): ApiResponse => (r.status >= 400 ? { ...r, headers: { REQ_ID: requestId, ...r.headers } } : r);
    try {
      let url = part.url;
      const ref = /^\$([^/?]+)(.*)$/.exec(url);
      if (ref) {
        const target = contentIds.get(ref[1] as string);
        if (target === undefined) throw dvErrors.badRequest(`Content-ID Reference: '$${ref[1]}' does not exist in the batch context.`);
        url = target + (ref[2] ?? '');
      }
      const m = /^(?:https?:\/\/[^/]+)?\/?(?:api\/data\/(v\d+\.\d+)\/)?([^?]*)(?:\?(.*))?$/i.exec(url);
      if (!m) throw dvErrors.badRequest(`The batch operation URL '${part.url}' is not valid.`);
      const headers: Record<string, string> = { ...part.headers };
      const req: ApiRequest = {
        method: part.method,
        version: m[1] ?? ctx.req.version,
        path: m[2] ?? '',
        query: m[3] ?? '',
        headers,
        body: part.body,
        caller: ctx.req.caller,
      };
      const inner: Context = {
        req,
        user: ctx.user,
        ...(ctx.onBehalfOf ? { onBehalfOf: ctx.onBehalfOf } : {}),
        prefs: parsePrefer(headers['prefer']),
        annotations: new AnnotationFilter(undefined),
        now: new Date(),
        base: `${this.environmentUrl}/api/data/${req.version}`,
        contentIds,
      };
      if (req.path.startsWith('$batch')) throw dvErrors.badRequest('A batch request cannot contain another batch request.');
      return withReqId(this.executeIn(inner));
    } catch (err) {
      if (err instanceof DataverseHttpError) return withReqId(errorResponse(err));
      throw err;
    }
  }
}
