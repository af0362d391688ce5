/**
 * The contract between the Web API router and its handlers: the request and response shapes, the
 * environment every handler shares, the per-request context, the resource a URL addresses (a
 * {@link Target}), and what a handler module declares ({@link Handler}).
 *
 * A handler module is one concern of the Web API (records, collections, relationships, operations,
 * `$batch`, …). It returns, per kind of target and HTTP method, the function that answers it; the
 * router turns the URL into a target, checks the method against what the handlers declared (405
 * otherwise), and calls them. Adding a capability is a new handler module plus one line in
 * `handlers/index.ts`.
 */
import type { OperationModel } from '../../csdl';
import type { HttpMethod } from '../../net/method';
import type { UserIdentity } from './impersonation';
import type { MetadataApi } from './metadata';
import type { AnnotationFilter, Preferences } from './prefer';
import type { PathSegment } from './query';
import type { ColumnInfo, EntitySetInfo, NavigationInfo, ServiceSchema } from './schema';
import type { Found } from './shared/keys';
import type { DataStore, Row } from './store';

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
  /** The body's bytes as received (file and image uploads are binary; `body` is their UTF-8 reading). */
  bytes?: Buffer;
  caller: Caller;
}

/** The token's user or app (before any impersonation header is applied). */
export interface Caller {
  /** Entra object id from the token. */
  oid: string;
  /** The caller's systemuserid (stable per oid: `systemUserIdFor`). */
  systemUserId: string;
  upn?: string;
  kind: 'app' | 'user';
}

/** One answer: status, headers and the body text. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** A binary body (file and image downloads); sent instead of `body` when present. */
  bytes?: Buffer;
  /**
   * The server work this answer stands for, in operations (default 1): a `$batch` sums its parts, a
   * bulk message counts its records (`bulkRecords`). The service turns it into server time.
   */
  work?: { operations: number; bulkRecords: number };
}

/** What every handler shares for the lifetime of the service: the schema, the data and fixed ids. */
export interface DataverseEnvironment {
  readonly schema: ServiceSchema;
  readonly store: DataStore;
  /** The `EntityDefinitions` part of the metadata API, and option-set labels for formatted values. */
  readonly metadata: MetadataApi;
  /** The `$metadata` document as served. */
  readonly metadataXml: string;
  /** `https://127.0.0.1:PORT`. */
  readonly environmentUrl: string;
  /** Fixed ids, so WhoAmI answers the same across restarts and ports. */
  readonly businessUnitId: string;
  readonly organizationId: string;
  /**
   * Answers `ctx` through the router as a request of its own (impersonation headers applied, errors
   * turned into Dataverse error responses): how `$batch` runs its operations. Never throws.
   */
  run(ctx: RequestContext): ApiResponse;
}

/** One request as a handler sees it. */
export interface RequestContext {
  readonly env: DataverseEnvironment;
  req: ApiRequest;
  /** Who the request runs as: the caller, or the user an impersonation header names. */
  user: UserIdentity;
  /** The caller, when impersonating someone else (`createdonbehalfby`, `modifiedonbehalfby`). */
  onBehalfOf?: UserIdentity;
  prefs: Preferences;
  annotations: AnnotationFilter;
  now: Date;
  /** The service root of this request: `<environmentUrl>/api/data/v9.x`. */
  base: string;
  /** `$batch` Content-ID → entity URL. */
  contentIds?: Map<string, string>;
}

/** What each kind of {@link Target} carries, beyond its `kind`. */
export interface TargetKinds {
  /** `/`: the service document. */
  serviceDocument: object;
  /** `/$metadata`. */
  metadataDocument: object;
  /** `/EntityDefinitions…`: the metadata API. */
  entityDefinitions: { segments: PathSegment[] };
  /** `/$batch`. */
  batch: object;
  /** `/accounts`. */
  collection: { set: EntitySetInfo };
  /** `/accounts/$count`. */
  count: { set: EntitySetInfo };
  /** `/accounts(<key>)`: `found.row` is absent when no row has the key (an upsert may create it). */
  entity: { set: EntitySetInfo; found: Found };
  /** `/accounts(<key>)/name`. */
  property: { set: EntitySetInfo; row: Row; column: ColumnInfo };
  /** `/accounts(<key>)/name/$value`. */
  propertyValue: { set: EntitySetInfo; row: Row; column: ColumnInfo };
  /** `/accounts(<key>)/primarycontactid`: a single-valued navigation property. */
  singleNavigation: { set: EntitySetInfo; row: Row; navigation: NavigationInfo; targetSet: EntitySetInfo };
  /** `/accounts(<key>)/contact_customer_accounts(<key>)`: `key` is the raw key predicate, resolved by the handler. */
  relatedEntity: { set: EntitySetInfo; row: Row; navigation: NavigationInfo; targetSet: EntitySetInfo; key: string };
  /** `/accounts(<key>)/contact_customer_accounts`. */
  relatedCollection: { set: EntitySetInfo; row: Row; navigation: NavigationInfo; targetSet: EntitySetInfo };
  /** `/accounts(<key>)/primarycontactid/$ref`. */
  singleReference: { set: EntitySetInfo; row: Row; navigation: NavigationInfo };
  /** `/accounts(<key>)/contact_customer_accounts[(<key>)]/$ref`. */
  collectionReference: { set: EntitySetInfo; row: Row; navigation: NavigationInfo; targetSet: EntitySetInfo; key?: string };
  /** `/WhoAmI()`, `/accounts/<bound op>`, `/accounts(<key>)/<bound op>`: the overloads of one name. */
  operation: { operations: OperationModel[]; args?: string; bound?: Row };
}

/** The kinds of resource a Web API URL can address. */
export type TargetKind = keyof TargetKinds;

/** The resource a URL addresses, resolved by the router as far as the path itself allows. */
export type Target<K extends TargetKind = TargetKind> = { [P in K]: { kind: P } & TargetKinds[P] }[K];

/** Answers a request for a target, or returns undefined to leave it to the next handler registered for it. */
export type Route<K extends TargetKind> = (target: Target<K>, ctx: RequestContext) => ApiResponse | undefined;

/** A handler's routes: per target kind, per method (`'*'`: any method; the handler checks it). */
export type Routes = { [K in TargetKind]?: Partial<Record<HttpMethod | '*', Route<K>>> };

/**
 * One concern of the Web API. `routes` is called once per service, so a handler can keep state (a
 * cache, a token store) in its closure, per emulator instance.
 *
 * @example
 * export const whoAmIOnly: Handler = {
 *   name: 'who-am-i',
 *   routes: (env) => ({ operation: { GET: (t, ctx) => (t.operations[0]?.name === 'WhoAmI' ? jsonResponse(200, { UserId: ctx.user.systemUserId }) : undefined) } }),
 * };
 */
export interface Handler {
  /** Short name, for diagnostics. */
  readonly name: string;
  routes(env: DataverseEnvironment): Routes;
}
