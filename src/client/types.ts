import type { DynamicsError } from '../errors';
import type { FilterQuery } from './filters';
import type { EntityTypes } from './schema';

/*
 * Public types of DynamicsClient. They are written so that generated models (`Schema` from the code
 * generator, see ./schema.ts) narrow every call: entity-set names, column names in `select`, and the
 * shapes of records read, created and updated.
 */

// ---------------------------------------------------------------------------------------------
// Records and annotations

/** A JSON value as Dataverse sends and accepts it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * The annotations Dataverse adds to a record: `@odata.etag`, and with `annotations` requested,
 * `<column>@OData.Community.Display.V1.FormattedValue`, `<lookup>@Microsoft.Dynamics.CRM.lookuplogicalname`, ….
 */
export interface ODataAnnotations {
  '@odata.etag'?: string;
  '@odata.context'?: string;
  [annotation: `${string}@${string}`]: unknown;
}

/**
 * What a schema must look like: every entity set maps to {@link EntityTypes}. Written as a mapped
 * constraint rather than `SchemaMap` so that a generated `interface Schema { … }` (which has no index
 * signature) satisfies it as well as a type alias does.
 */
export type SchemaConstraint<S> = { [E in keyof S]: EntityTypes<object, object, object> };

/** The read type of entity set `E` in schema `S`. */
export type ReadOf<S, E extends keyof S> = S[E] extends EntityTypes<infer R, object, object> ? R : never;
/** The create type of entity set `E` in schema `S`. */
export type CreateOf<S, E extends keyof S> = S[E] extends EntityTypes<object, infer C, object> ? C : never;
/** The update type of entity set `E` in schema `S`. */
export type UpdateOf<S, E extends keyof S> = S[E] extends EntityTypes<object, object, infer U> ? U : never;

/** Column names of a read type. */
export type ColumnOf<R> = keyof R & string;

/**
 * A record narrowed to the selected columns `K` (all columns when nothing was selected), plus the
 * annotations Dataverse adds.
 */
export type Selected<R, K extends ColumnOf<R>> = Pick<R, K> & ODataAnnotations;

// ---------------------------------------------------------------------------------------------
// Keys

/** A value in an alternate key: strings are quoted and escaped, GUIDs (lookups such as `_parentid_value`), numbers, booleans and null are not. */
export type KeyValue = string | number | boolean | null;

/**
 * Which record: its primary key GUID (`'00000000-0000-0000-0000-000000000001'`), or an alternate key
 * as an object (`{ accountnumber: 'A1' }`, several columns for a composite key). Values may not contain
 * `/ < > * % & : \ ? +` (Dataverse forbids them in key values, https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record);
 * such keys are rejected before anything is sent.
 */
export type EntityKey<R = Record<string, unknown>> = string | { readonly [P in ColumnOf<R>]?: KeyValue };

// ---------------------------------------------------------------------------------------------
// Per-call options

/** Options every method takes. */
export interface OperationOptions {
  /** Cancels the call, including any wait before a retry. */
  abortSignal?: AbortSignal;
  /** Overrides the client's `timeoutInMs` for this call (the whole call, retry waits included). At most 2147483647 (about 24.8 days). */
  timeoutInMs?: number;
  /**
   * Overrides the client's `maxResponseBytes` for this call: the largest response body accepted, raw
   * and decompressed, in bytes (1 to 1073741824). Past it the call fails with `response_too_large`.
   * Default: the client's (128 MiB unless configured).
   */
  maxResponseBytes?: number;
  /** Extra request headers for this call (e.g. `MSCRM.BypassCustomPluginExecution: true`, `Consistency: Strong`). */
  headers?: Record<string, string>;
  /** Act on behalf of another user: sends `CallerObjectId: <Entra object id>` (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api). The caller needs `prvActOnBehalfOfAnotherUser`. */
  impersonate?: { callerObjectId: string };
  /**
   * Skip custom synchronous plug-ins (`MSCRM.BypassCustomPluginExecution: true`). Needs the
   * `prvBypassCustomPlugins` privilege (https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic). Default: false.
   */
  bypassCustomPluginExecution?: boolean;
  /** Skip custom business logic (`MSCRM.BypassBusinessLogicExecution`): `'CustomSync'`, `'CustomAsync'`, or both. Needs `prvBypassCustomBusinessLogic`. Default: none. */
  bypassBusinessLogicExecution?: BusinessLogicBypass | readonly BusinessLogicBypass[];
  /** Skip these plug-in steps only (`MSCRM.BypassBusinessLogicExecutionStepIds`, step GUIDs; Dataverse allows 3 by default). */
  bypassBusinessLogicExecutionStepIds?: readonly string[];
  /**
   * `MSCRM.SuppressDuplicateDetection`: `false` runs duplicate detection on this write (a duplicate is a
   * 412, code `0x80040333`), `true` skips it (Dataverse's default). Default: not sent.
   */
  suppressDuplicateDetection?: boolean;
  /** Add the solution components this call creates or changes to this solution (`MSCRM.SolutionUniqueName`). */
  solutionUniqueName?: string;
  /**
   * Your id for this call, sent as `x-ms-client-request-id` (as Microsoft's own SDKs do) and carried on
   * any error as `clientRequestId`, so logs on both sides can be matched. Default: not sent.
   */
  correlationId?: string;
  /**
   * Elastic tables: scope a read or delete to one logical partition (`?partitionId=`). Writes take
   * `partitionid` in the record or in the key instead; on them this option is refused.
   */
  partitionId?: string;
  /**
   * Elastic tables: the session token to read with (`MSCRM.SessionToken`). Default: the client sends
   * the `x-ms-session-token` of its latest write on every read by itself.
   */
  sessionToken?: string;
}

/** What `bypassBusinessLogicExecution` may skip: custom synchronous or asynchronous logic. */
export type BusinessLogicBypass = 'CustomSync' | 'CustomAsync';

/**
 * Which annotations to ask for (`Prefer: odata.include-annotations`): `true` or `'*'` for all, or a list
 * such as `['OData.Community.Display.V1.FormattedValue']`.
 */
export type AnnotationsOption = boolean | string | readonly string[];

/**
 * An `$expand` whose navigation property names `X` are known, so the result type can carry them:
 * a name, several names, or odata-query's object form (`{ primarycontactid: { select: ['fullname'] } }`).
 */
export type ExpandOf<X extends string> = X | readonly X[] | { readonly [P in X]?: ExpandOptions | true };

/** The expanded navigation properties `X` of a result: typed from the read type when it has them. */
export type Expanded<R, X extends string> = [X] extends [never] ? unknown : { [P in X]?: P extends keyof R ? R[P] : unknown };

/** An `$expand` clause: a navigation property name, several, or odata-query's nested object form (`{ primarycontactid: { select: ['fullname'] } }`). */
export type ExpandQuery = string | readonly string[] | Record<string, ExpandOptions | true> | ReadonlyArray<string | Record<string, ExpandOptions | true>>;

/** Options of one expanded navigation property (odata-query's object syntax). */
export interface ExpandOptions {
  select?: readonly string[];
  filter?: FilterQuery<Record<string, unknown>>;
  orderBy?: OrderByQuery<Record<string, unknown>>;
  top?: number;
  expand?: ExpandQuery;
}

/*
 * Filters are typed column by column in ./filters.ts (values by Edm type, query functions, any/all).
 */
export type { ColumnCondition, ColumnKind, ColumnOperators, FilterKind, FilterLiteral, FilterObjectOf, FilterOperators, FilterQuery, FilterValueOf, GuidLiteral, ModelOf, RawLiteral } from './filters';

/** `$orderby`: a column, `[column, 'asc' | 'desc']`, or several. Raw strings are passed through. */
export type OrderByQuery<R> = ColumnOf<R> | `${ColumnOf<R>} ${'asc' | 'desc'}` | readonly [ColumnOf<R>, 'asc' | 'desc'] | ReadonlyArray<ColumnOf<R> | `${ColumnOf<R>} ${'asc' | 'desc'}` | readonly [ColumnOf<R>, 'asc' | 'desc']>;

/** Query options of {@link DynamicsClient.retrieve}. */
export interface RetrieveOptions<R, K extends ColumnOf<R>, X extends string = never> extends OperationOptions {
  /** Columns to return (`$select`); narrows the result type. Default: all columns (slow on wide tables: select what you need). */
  select?: readonly K[];
  /** Navigation properties to expand (`$expand`); they are added to the result type. */
  expand?: ExpandOf<X>;
  annotations?: AnnotationsOption;
}

/** Query of {@link DynamicsClient.list}: odata-query's object syntax plus paging and annotations. */
export interface ListQuery<R, K extends ColumnOf<R>, X extends string = never, M = unknown, S = unknown> extends OperationOptions {
  /** Columns to return (`$select`); narrows the row type. Default: all columns. */
  select?: readonly K[];
  /** `$filter`, typed by column (`M`: the table's generated model, `S`: the schema; see {@link FilterQuery}). */
  filter?: FilterQuery<R, M, S>;
  orderBy?: OrderByQuery<R>;
  /**
   * At most this many rows in total. Sent as `$top` when one page can hold them; otherwise (with
   * `maxPageSize`, or above 5000) the client pages and stops after `top` rows itself, because Dataverse
   * answers `$top` with a single page and no nextLink (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
   */
  top?: number;
  /** Navigation properties to expand (`$expand`); they are added to the row type. */
  expand?: ExpandOf<X>;
  /** `$count=true`: each page carries `count` (capped at 5000 by Dataverse, https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows). */
  count?: boolean;
  /** Rows per page (`Prefer: odata.maxpagesize`), 1–5000. Default: the service's (5000). */
  maxPageSize?: number;
  annotations?: AnnotationsOption;
}

/** Settings of {@link PagedAsyncIterableIterator.byPage}. */
export interface PageSettings {
  /** Rows per page, 1–5000. Default: the query's `maxPageSize`, else the service's (5000). */
  maxPageSize?: number;
  /** Resume from a page's `continuationToken` (the service's `@odata.nextLink`, used unmodified). */
  continuationToken?: string;
}

/** One page of results: an array of records, with the token that fetches the next page. */
export type ContinuablePage<T> = T[] & {
  /** The `@odata.nextLink` of this page; undefined on the last page. */
  continuationToken?: string;
  /** `@odata.count` when `count: true` was asked (capped at 5000 by Dataverse). */
  count?: number;
  /** `@Microsoft.Dynamics.CRM.totalrecordcount`, when sent. */
  totalRecordCount?: number;
  /** `@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded`, when sent. */
  totalRecordCountLimitExceeded?: boolean;
};

/**
 * An async iterable of records that can also be walked page by page (the Azure SDK's
 * `PagedAsyncIterableIterator`). Only one page is held in memory at a time.
 */
export interface PagedAsyncIterableIterator<T, PageT = ContinuablePage<T>> {
  next(): Promise<IteratorResult<T>>;
  [Symbol.asyncIterator](): PagedAsyncIterableIterator<T, PageT>;
  byPage(settings?: PageSettings): AsyncIterableIterator<PageT>;
}

/** Options of {@link DynamicsClient.create}. */
export interface CreateOptions<R, K extends ColumnOf<R>> extends OperationOptions {
  /** Return the created record (`Prefer: return=representation`, 201) instead of its id. Default: false. */
  returnRepresentation?: boolean;
  /** Columns to return with `returnRepresentation`. */
  select?: readonly K[];
  /** Run duplicate detection (`MSCRM.SuppressDuplicateDetection: false`). Default: false (Dataverse's default). */
  detectDuplicates?: boolean;
}

/** Options of {@link DynamicsClient.update}. */
export interface UpdateOptions<R, K extends ColumnOf<R>> extends OperationOptions {
  /** Optimistic concurrency: the `@odata.etag` read earlier; a changed record gives `PreconditionFailedError`. Default: `*` (any version, but the record must exist). */
  ifMatch?: string;
  returnRepresentation?: boolean;
  select?: readonly K[];
  detectDuplicates?: boolean;
}

/** What {@link DynamicsClient.upsert} may do (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api). */
export type UpsertMode = 'upsert' | 'createOnly' | 'updateOnly';

/** Options of {@link DynamicsClient.upsert}. */
export interface UpsertOptions<R, K extends ColumnOf<R>> extends OperationOptions {
  /**
   * `'upsert'` (default) creates or updates; `'createOnly'` (`If-None-Match: *`) fails with
   * `PreconditionFailedError` if the record exists; `'updateOnly'` (`If-Match: *`) fails with
   * `NotFoundError` if it does not.
   */
  mode?: UpsertMode;
  returnRepresentation?: boolean;
  select?: readonly K[];
}

/** Options of {@link DynamicsClient.associate}. */
export interface AssociateOptions extends OperationOptions {
  /** The navigation property is single-valued (a lookup): `PUT …/$ref` instead of `POST`. Default: false. */
  singleValued?: boolean;
}

/** Options of {@link DynamicsClient.delete}. */
export interface DeleteOptions extends OperationOptions {
  /** Delete only if the record still has this `@odata.etag`. */
  ifMatch?: string;
}

/** A bound operation's target: the record (or with no key, the entity set) it is bound to. */
export interface BoundTarget {
  entitySet: string;
  key?: EntityKey;
}

/** Options of {@link DynamicsClient.callAction} and {@link DynamicsClient.callFunction}. */
export interface OperationCallOptions extends OperationOptions {
  /** Call the action/function bound to a record or entity set; the name is then qualified with `Microsoft.Dynamics.CRM.` unless it contains a dot. */
  bound?: BoundTarget;
}

/**
 * A value for a function parameter, written as an OData literal in a parameter alias
 * (`Fn(p=@p1)?@p1=<literal>`, https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-functions, "Passing parameters to a function"):
 *
 * - strings are quoted with `'` doubled (`O'Brien` → `'O''Brien'`);
 * - numbers, booleans and `null` as is; a `Date` as an ISO 8601 `Edm.DateTimeOffset`;
 * - `{ type: 'guid', value }` unquoted (`Edm.Guid`), `{ type: 'raw', value }` verbatim (enum members such
 *   as `Microsoft.Dynamics.CRM.EntityFilters'Entity'`);
 * - arrays and other objects as JSON (collections, entity references `{ '@odata.id': 'accounts(…)' }`).
 */
export type FunctionParameterValue =
  | string
  | number
  | boolean
  | null
  | Date
  | { type: 'guid' | 'raw' | 'duration' | 'decimal'; value: string }
  | readonly unknown[]
  | { readonly [key: string]: unknown };


// ---------------------------------------------------------------------------------------------
// $batch

/*
 * The operations of {@link DynamicsClient.batch} are odata's `$batch` shapes, declared once in
 * src/odata/batch/types.ts: `BatchOperation` (one request), `BatchChangeSet` (a transaction) and
 * `BatchItem` (either).
 */
export type { BatchChangeSet, BatchItem, BatchOperation } from '../odata/batch/types';

/** Codes of batch results that never ran or were undone. */
export const BatchErrorCode = {
  /** The part was in a change set that failed: it was rolled back (or never applied). */
  rolledBack: 'batch_rolled_back',
  /** The batch stopped at an earlier failure before this part (see `continueOnError`), or the request carrying it was refused as a whole. */
  notExecuted: 'batch_not_executed',
  /**
   * Nothing says whether this part ran: the answer was cut short before it, had fewer parts than were
   * sent for no stated reason, its part could not be read, or the request carrying it (after an
   * earlier request of the same call) failed as a whole. It may have been carried out: check before
   * re-sending a write.
   */
  outcomeUnknown: 'batch_outcome_unknown',
} as const;

/** The result of one batch operation, in the order given (operations of a change set in place, one each). */
export interface BatchResult {
  /** HTTP status of this part; for a part that never ran, 0. */
  status: number;
  headers: Record<string, string>;
  /** The parsed JSON body, the raw text when it was not JSON, or undefined. */
  body?: unknown;
  /** The id from `OData-EntityId` when the part created or upserted a record. */
  entityId?: string;
  /**
   * Set when the part failed (status ≥ 400, with the service's error; `body` is then that error body,
   * redacted), was rolled back with its change set (code `batch_rolled_back`), never ran because the
   * batch stopped earlier (code `batch_not_executed`), has an unknown outcome (code
   * `batch_outcome_unknown`, status 0), or succeeded but its answer could not be read completely
   * (code `malformed_response`, with the part's 2xx status: do not re-send it).
   */
  error?: DynamicsError;
}

/** Options of {@link DynamicsClient.batch}. */
export interface BatchOptions extends OperationOptions {
  /** Run every part even when one fails (`Prefer: odata.continue-on-error`). Default: false: the service stops at the first failure and the remaining parts report `batch_not_executed`. */
  continueOnError?: boolean;
  /**
   * Put all writes into one change set: all succeed or all roll back. GETs are sent outside it, before the
   * change set if they come before the first write, after it otherwise. Default: false (each write is
   * applied on its own). At most 1000 operations, since a change set cannot be split.
   */
  atomic?: boolean;
}

// ---------------------------------------------------------------------------------------------
// request()

/** Options of {@link DynamicsClient.request}. */
export interface RawRequestOptions extends OperationOptions {
  /** Query parameters, encoded and appended to the path. */
  params?: Record<string, string | number | boolean | undefined>;
  /** How to read the body. Default: `'json'` (falls back to text for non-JSON responses). */
  responseType?: 'json' | 'text' | 'arraybuffer';
  /** Preferences to compose into one `Prefer` header (e.g. `['return=representation']`). */
  prefer?: readonly string[];
}

/** The result of {@link DynamicsClient.request}. */
export interface RawResponse<T = unknown> {
  status: number;
  /** Response headers, lower-cased. */
  headers: Record<string, string>;
  data: T;
}

/** HTTP methods {@link DynamicsClient.request} accepts (and `$batch` operations use): the library's one method type. */
export type { HttpMethod } from '../net/method';

// ---------------------------------------------------------------------------------------------
// Client options

/** A schema `validate: true` checks records against: any zod schema (the generator emits `AccountSchema`, …). */
export interface RecordSchema {
  safeParse(data: unknown): { success: true } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
  /** zod's `.partial()`: used for updates, where every column is optional. */
  partial?(): RecordSchema;
}
