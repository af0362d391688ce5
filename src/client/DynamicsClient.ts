import { PipelineContext } from './context';
import * as aggregateOperations from './operations/aggregate';
import * as batchOperations from './operations/batch';
import * as fetchXmlOperations from './operations/fetchxml';
import * as list from './operations/list';
import * as operations from './operations/operations';
import * as raw from './operations/raw';
import * as records from './operations/records';
import * as relationships from './operations/relationships';
import * as bulk from './operations/bulk';
import * as changeTracking from './operations/changes';
import * as files from './operations/files';
import type { BulkOptions, ChangesIterator, ChangesOptions, CreateMultipleOptions, DownloadedFile, DownloadFileOptions, FileSource, UploadFileOptions } from './workloadTypes';
import type { AggregateOptions, AggregateQuery, AggregateRow, AggregateSpecOf, GroupByPath } from './operations/aggregate';
import type { FetchXmlOptions } from './operations/fetchxml';
import { resolveClientOptions, type DynamicsClientOptions } from './options';
import type { UntypedSchema } from './schema';
import type { FetchRowOf, FetchXmlSource } from '../odata/fetchxml';
import type {
  AssociateOptions,
  BatchItem,
  BatchOptions,
  BatchResult,
  ColumnOf,
  CreateOf,
  CreateOptions,
  DeleteOptions,
  EntityKey,
  Expanded,
  FilterQuery,
  FunctionParameterValue,
  HttpMethod,
  ListQuery,
  ModelOf,
  ODataAnnotations,
  OperationCallOptions,
  OperationOptions,
  PagedAsyncIterableIterator,
  RawRequestOptions,
  RawResponse,
  ReadOf,
  RetrieveOptions,
  SchemaConstraint,
  Selected,
  UpdateOf,
  UpdateOptions,
  UpsertOptions,
} from './types';

/** Entity-set names of a schema. */
export type EntitySetOf<S> = keyof S & string;

/** The logical name of entity set `E`'s table, from its generated model (any string without one). */
export type LogicalNameOfSet<S, E extends keyof S> = S[E] extends { model: { logicalName: infer L extends string } } ? L : string;

/**
 * The typed client for the Dataverse / Dynamics 365 Web API.
 *
 * Every call goes through one pipeline: bearer token (one refresh and re-send after a 401) → retries
 * (429/503 after `Retry-After`, for writes too, with a client-wide pause after a 429; 502/504/resets
 * only when re-sending cannot duplicate a write) → a concurrency limit following the service's
 * `x-ms-dop-hint` → axios over one keep-alive agent. Failures are {@link DynamicsError}s.
 *
 * **Retry-safe creates.** A POST create is never re-sent after an ambiguous failure (a 502, a reset,
 * a timeout: the record may already exist). To make a create safe to retry, choose the id yourself
 * and use `upsert(entitySet, id, record, { mode: 'createOnly' })`: it is a PATCH with
 * `If-None-Match: *`, so a re-send can never make a second record; if the first attempt did land,
 * the re-send's "already exists" is reported as success.
 *
 * Each method hands over to one module per capability (src/client/operations/); the configuration
 * and the pipeline live in a private {@link PipelineContext}, so no rendering of a client
 * (`util.inspect`, `JSON.stringify`) reaches its token provider.
 *
 * @example
 * ```ts
 * const client = new DynamicsClient<Schema>({ url: 'https://contoso.crm.dynamics.com', auth: { clientId, clientSecret, tenantId } });
 * const id = await client.create('accounts', { name: 'Contoso' });
 * const account = await client.retrieve('accounts', id, { select: ['name'] });
 * for await (const row of client.list('accounts', { select: ['name'], filter: { statecode: 0 } })) console.log(row.name);
 * ```
 */
export class DynamicsClient<S extends SchemaConstraint<S> = UntypedSchema> {
  /** The environment URL, `https://contoso.crm.dynamics.com`. */
  readonly url: string;
  /** The Web API root, `https://contoso.crm.dynamics.com/api/data/v9.2/`. */
  readonly apiUrl: string;
  readonly #context: PipelineContext;

  /** @throws ConfigurationError naming each invalid option. */
  constructor(options: DynamicsClientOptions<S>) {
    this.#context = new PipelineContext(resolveClientOptions(options));
    this.url = this.#context.origin;
    this.apiUrl = this.#context.apiRoot;
  }

  // -------------------------------------------------------------------------------------------
  // Records (./operations/records.ts)

  /**
   * Creates a record (`POST <entitySet>`). Resolves with its id (from the `OData-EntityId` header), or
   * with the created record when `returnRepresentation` is true (`Prefer: return=representation`).
   *
   * Never re-sent after an ambiguous failure (see the class notes for retry-safe creates).
   *
   * @example const id = await client.create('accounts', { name: 'Contoso', 'primarycontactid@odata.bind': `/contacts(${contactId})` });
   */
  create<E extends EntitySetOf<S>>(entitySet: E, record: CreateOf<S, E>, options?: CreateOptions<ReadOf<S, E>, ColumnOf<ReadOf<S, E>>> & { returnRepresentation?: false }): Promise<string>;
  create<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>>(
    entitySet: E,
    record: CreateOf<S, E>,
    options: CreateOptions<ReadOf<S, E>, K> & { returnRepresentation: true },
  ): Promise<Selected<ReadOf<S, E>, K>>;
  create(entitySet: string, record: object, options?: CreateOptions<Record<string, unknown>, string>): Promise<unknown> {
    return records.create(this.#context, entitySet, record, options);
  }

  /**
   * Reads one record by its id or an alternate key (`GET <entitySet>(<key>)`).
   *
   * @throws NotFoundError when there is no such record.
   * @example const { name } = await client.retrieve('accounts', { accountnumber: 'A1' }, { select: ['name'] });
   */
  retrieve<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>, X extends string = never>(
    entitySet: E,
    key: EntityKey<ReadOf<S, E>>,
    options?: RetrieveOptions<ReadOf<S, E>, K, X>,
  ): Promise<Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>> {
    return records.retrieve(this.#context, entitySet, key, options) as Promise<Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>>;
  }

  /**
   * Updates an existing record (`PATCH` with `If-Match: *`, or the etag given): never creates one.
   * Safe to re-send after an ambiguous failure.
   *
   * @throws NotFoundError when the record does not exist; PreconditionFailedError when `ifMatch` no longer matches.
   */
  update<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, changes: UpdateOf<S, E>, options?: UpdateOptions<ReadOf<S, E>, ColumnOf<ReadOf<S, E>>> & { returnRepresentation?: false }): Promise<void>;
  update<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>>(
    entitySet: E,
    key: EntityKey<ReadOf<S, E>>,
    changes: UpdateOf<S, E>,
    options: UpdateOptions<ReadOf<S, E>, K> & { returnRepresentation: true },
  ): Promise<Selected<ReadOf<S, E>, K>>;
  update(entitySet: string, key: EntityKey, changes: object, options?: UpdateOptions<Record<string, unknown>, string>): Promise<unknown> {
    return records.update(this.#context, entitySet, key, changes, options);
  }

  /**
   * Creates or updates the record with this key (`PATCH <entitySet>(<key>)`,
   * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api).
   * `mode: 'createOnly'` sends `If-None-Match: *` (never updates), `'updateOnly'` sends `If-Match: *`
   * (never creates). Resolves with the record's id when the service sends `OData-EntityId`, or the record
   * with `returnRepresentation`.
   *
   * With a client-generated GUID and `mode: 'createOnly'` this is the retry-safe create: it is re-sent after
   * ambiguous failures, and when a re-send finds the record already there (the first attempt landed) it
   * resolves as a success.
   *
   * @throws PreconditionFailedError for `createOnly` when the record exists; NotFoundError for `updateOnly` when it does not.
   */
  upsert<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, record: UpdateOf<S, E>, options?: UpsertOptions<ReadOf<S, E>, ColumnOf<ReadOf<S, E>>> & { returnRepresentation?: false }): Promise<string | undefined>;
  upsert<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>>(
    entitySet: E,
    key: EntityKey<ReadOf<S, E>>,
    record: UpdateOf<S, E>,
    options: UpsertOptions<ReadOf<S, E>, K> & { returnRepresentation: true },
  ): Promise<Selected<ReadOf<S, E>, K>>;
  upsert(entitySet: string, key: EntityKey, record: object, options?: UpsertOptions<Record<string, unknown>, string>): Promise<unknown> {
    return records.upsert(this.#context, entitySet, key, record, options);
  }

  /**
   * Deletes a record (`DELETE <entitySet>(<key>)`), only if it still has `ifMatch` when given.
   * A re-send after an ambiguous failure that finds the record gone counts as success.
   *
   * @throws NotFoundError when there is no such record.
   */
  delete<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, options?: DeleteOptions): Promise<void> {
    return records.deleteRecord(this.#context, entitySet, key, options);
  }

  // -------------------------------------------------------------------------------------------
  // Collections (./operations/list.ts)

  /**
   * Lists records, following `@odata.nextLink` unmodified until the last page: iterate records with
   * `for await`, or pages with `.byPage({ maxPageSize, continuationToken })`. Only one page is held in
   * memory at a time, however many rows there are. Nothing is sent until you iterate.
   *
   * @example
   * ```ts
   * for await (const page of client.list('accounts', { select: ['name'], maxPageSize: 500 }).byPage()) save(page, page.continuationToken);
   * ```
   */
  list<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>, X extends string = never>(
    entitySet: E,
    query?: ListQuery<ReadOf<S, E>, K, X, ModelOf<S, E>, S>,
  ): PagedAsyncIterableIterator<Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>> {
    return list.list(this.#context, entitySet, query);
  }

  /**
   * Counts the rows matching `filter` (`GET <entitySet>/$count`, which answers `text/plain`).
   * Dataverse caps this count at 5000
   * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows); for larger
   * tables use the `RetrieveTotalRecordCount` function (a snapshot) or walk `list()`.
   */
  count<E extends EntitySetOf<S>>(entitySet: E, filter?: FilterQuery<ReadOf<S, E>, ModelOf<S, E>, S>, options?: OperationOptions): Promise<number> {
    return list.count(this.#context, entitySet, filter, options);
  }

  // -------------------------------------------------------------------------------------------
  // FetchXML (./operations/fetchxml.ts)

  /**
   * Runs a FetchXML query (text, or built with `fetchXml<Schema>()`, which types the rows),
   * following the paging cookie until the last page: iterate rows with `for await`, or pages with
   * `.byPage({ maxPageSize, continuationToken })`. At most two pages are in memory however many there
   * are; nothing is sent until you iterate. A query too long for a URL goes inside `$batch` by itself.
   * FetchXML leaves null columns out of its rows and names a linked table's columns `alias.column`
   * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data).
   *
   * @throws DynamicsError when the service refuses the query; for the aggregate limit (50,000 rows) and
   *   the link-entity limit (15) the message says what to do.
   * @example
   * ```ts
   * const fx = fetchXml<Schema>();
   * const q = fx('account').select('name').link('contact', { from: 'parentcustomerid', to: 'accountid', alias: 'c' }, (c) => c.select('fullname'));
   * for await (const row of client.fetchXml('accounts', q)) console.log(row.name, row['c.fullname']);
   * ```
   */
  fetchXml<E extends EntitySetOf<S>, Q extends FetchXmlSource & { readonly entity: LogicalNameOfSet<S, E> }>(entitySet: E, fetch: Q, options?: FetchXmlOptions): PagedAsyncIterableIterator<FetchRowOf<S, Q>>;
  fetchXml<T extends object = Record<string, unknown>>(entitySet: EntitySetOf<S>, fetch: string, options?: FetchXmlOptions): PagedAsyncIterableIterator<T & ODataAnnotations>;
  fetchXml(entitySet: string, fetch: string | FetchXmlSource, options?: FetchXmlOptions): PagedAsyncIterableIterator<unknown> {
    return fetchXmlOperations.fetchXml(this.#context, entitySet, fetch, options);
  }

  // -------------------------------------------------------------------------------------------
  // Aggregation (./operations/aggregate.ts)

  /**
   * Groups and aggregates rows with `$apply`
   * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data): `filter`,
   * `groupBy` (columns, or `navigation/column`, which comes back as `{table}_{column}`) and `aggregate`
   * (`sum`, `average`, `min`, `max`, `count`) by alias. Resolves with every group row, typed. Dataverse
   * aggregates at most 50,000 rows at once.
   *
   * @example
   * ```ts
   * const rows = await client.aggregate('accounts', { groupBy: ['statuscode', 'primarycontactid/fullname'], aggregate: { total: { sum: 'revenue' }, n: { count: true } } });
   * rows[0].contact_fullname; rows[0].total;
   * ```
   */
  aggregate<E extends EntitySetOf<S>, G extends GroupByPath<ReadOf<S, E>, ModelOf<S, E>, S> = never, A extends Readonly<Record<string, AggregateSpecOf<ReadOf<S, E>>>> = Record<never, never>>(
    entitySet: E,
    query: AggregateQuery<ReadOf<S, E>, ModelOf<S, E>, S, G, A>,
    options?: AggregateOptions,
  ): Promise<Array<AggregateRow<ReadOf<S, E>, ModelOf<S, E>, S, G, A>>> {
    return aggregateOperations.aggregate(this.#context, entitySet, query as AggregateQuery<unknown, unknown, unknown, string, unknown>, options);
  }

  // -------------------------------------------------------------------------------------------
  // Relationships (./operations/relationships.ts)

  /**
   * Links two records through a navigation property (`POST <entitySet>(<key>)/<nav>/$ref`, or `PUT` for a
   * single-valued one with `singleValued: true`;
   * https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
   */
  associate<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, navigationProperty: string, target: { entitySet: string; key: EntityKey }, options?: AssociateOptions): Promise<void> {
    return relationships.associate(this.#context, entitySet, key, navigationProperty, target, options);
  }

  /**
   * Removes a link: for a collection-valued navigation property name the `target`
   * (`DELETE <entitySet>(<key>)/<nav>(<targetId>)/$ref`); for a single-valued one omit it
   * (`DELETE <entitySet>(<key>)/<nav>/$ref`).
   */
  disassociate<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, navigationProperty: string, target?: { entitySet: string; key: EntityKey }, options?: OperationOptions): Promise<void> {
    return relationships.disassociate(this.#context, entitySet, key, navigationProperty, target, options);
  }

  // -------------------------------------------------------------------------------------------
  // Actions and functions (./operations/operations.ts)

  /**
   * Calls an action (`POST <name>`, or bound: `POST <entitySet>(<key>)/Microsoft.Dynamics.CRM.<name>`)
   * with `params` as the JSON body. Resolves with the response body, or undefined for 204.
   * Actions are never re-sent after an ambiguous failure.
   */
  callAction<T = unknown>(name: string, params?: Readonly<Record<string, unknown>>, options?: OperationCallOptions): Promise<T> {
    return operations.callAction<T>(this.#context, name, params, options);
  }

  /**
   * Calls a function (`GET <name>(p=@p1)?@p1=…`), every parameter passed as an alias with its value
   * written as an OData literal (see {@link FunctionParameterValue}). `client.callFunction('WhoAmI')` works.
   */
  callFunction<T = unknown>(name: string, params?: Readonly<Record<string, FunctionParameterValue>>, options?: OperationCallOptions): Promise<T> {
    return operations.callFunction<T>(this.#context, name, params, options);
  }

  // -------------------------------------------------------------------------------------------
  // $batch (./operations/batch.ts)

  /**
   * Sends operations in `$batch` requests
   * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api)
   * and resolves with one result per operation, in the order given (the operations of a change set in
   * place): its status, body, `entityId` for creates, and a DynamicsError when it failed. A failed
   * operation does not reject the promise; a failure of the whole batch (bad request, network, auth) does.
   *
   * - Change sets (`{ changeSet: [...] }`, or `atomic: true` for all writes) are one transaction: when one
   *   part fails, the failing part reports the service's error and the others report `batch_rolled_back`.
   * - Inside a change set `Content-ID`s let later parts refer to earlier ones (`$1`, `"x@odata.bind": "$1"`).
   * - Dataverse takes at most 1000 operations per batch: more are split across several `$batch` requests,
   *   sent one after another (a change set is never split). Without `continueOnError` a failure stops the
   *   rest, including later requests: those parts report `batch_not_executed`.
   * - A multipart answer is read whatever its status (a 500 part after a committed change set makes the
   *   whole answer 500): committed parts keep their results and ids, and a part that cannot be read is
   *   that part's `malformed_response`. An operation no part answered, unless the service said it
   *   stopped, reports `batch_outcome_unknown`: it may have run, so check before re-sending it. When a
   *   request after the first fails as a whole, its operations report that and the earlier results are
   *   still returned.
   * - Re-sent after 429/503 without a multipart body; re-sent after an ambiguous failure only when it
   *   holds nothing but GETs. An answer with a multipart body is never re-sent.
   */
  batch(operations: readonly BatchItem[], options?: BatchOptions): Promise<BatchResult[]> {
    return batchOperations.batch(this.#context, operations, options);
  }

  // -------------------------------------------------------------------------------------------
  // Bulk messages (./operations/bulk.ts), change tracking (./operations/changes.ts), files (./operations/files.ts)

  /**
   * Creates many records with `CreateMultiple`, in chunks (1,000 per request on standard tables, 100 on
   * elastic ones) sent in parallel within the service's `x-ms-dop-hint`. Resolves with the new ids in
   * input order. A chunk is re-sent after a lost answer only with `clientIds: true`; otherwise such a
   * chunk is reported `unknown`. Failures are a `BulkOperationError` that says which chunks landed.
   *
   * @example const ids = await client.createMultiple('accounts', rows, { clientIds: true, onProgress: (p) => log(p.recordsDone) });
   */
  createMultiple<E extends EntitySetOf<S>>(entitySet: E, records: readonly CreateOf<S, E>[], options?: CreateMultipleOptions): Promise<string[]> {
    return bulk.createMultiple(this.#context, entitySet, records as readonly object[], options);
  }

  /** Updates many records with `UpdateMultiple`; each carries its primary key (and `partitionid` on elastic tables). Chunks are safe to re-send. */
  updateMultiple<E extends EntitySetOf<S>>(entitySet: E, records: readonly UpdateOf<S, E>[], options?: BulkOptions): Promise<void> {
    return bulk.updateMultiple(this.#context, entitySet, records as readonly object[], options);
  }

  /**
   * Creates or updates many records with `UpsertMultiple`: each names its row by primary key or by
   * `'@odata.id': "accounts(accountnumber='A1')"` (an alternate key). Chunks are safe to re-send.
   */
  upsertMultiple<E extends EntitySetOf<S>>(entitySet: E, records: readonly (UpdateOf<S, E> & { '@odata.id'?: string })[], options?: BulkOptions): Promise<void> {
    return bulk.upsertMultiple(this.#context, entitySet, records as readonly object[], options);
  }

  /**
   * Deletes many rows of an elastic table with `DeleteMultiple` (ids, or records with the key and
   * `partitionid`). On a standard table it is refused before sending: use `delete`, `batch` or BulkDelete.
   */
  deleteMultiple<E extends EntitySetOf<S>>(entitySet: E, records: ReadonlyArray<string | UpdateOf<S, E>>, options?: BulkOptions): Promise<void> {
    return bulk.deleteMultiple(this.#context, entitySet, records as ReadonlyArray<string | object>, options);
  }

  /**
   * What changed in a table since `deltaToken` (or, without one, all of it): an async iterable of
   * `{ kind: 'upsert', record }` and `{ kind: 'delete', id }`, or pages with `byPage()`. When iteration
   * ends, `deltaToken` on the iterator (and on the last page) is the token to store for next time.
   *
   * @throws DeltaTokenExpiredError when the token is too old: run a full sync.
   * @example
   * ```ts
   * const sync = client.changes('accounts', { select: ['name'], deltaToken: saved });
   * for await (const change of sync) apply(change);
   * saved = sync.deltaToken;
   * ```
   */
  changes<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>>(entitySet: E, options?: ChangesOptions<K>): ChangesIterator<Selected<ReadOf<S, E>, K>> {
    return changeTracking.changes<Selected<ReadOf<S, E>, K>>(this.#context, entitySet, options);
  }
  /**
   * How many changes a sync from `deltaToken` would give (`GET <set>/$count?$deltatoken=…`), without
   * reading them: to decide between a delta sync and a full one, or to size a progress bar. An
   * expired token is a {@link DeltaTokenExpiredError}.
   *
   * @example
   * if ((await client.countChanges('accounts', saved)) > 0) for await (const change of client.changes('accounts', { deltaToken: saved })) …
   */
  countChanges<E extends EntitySetOf<S>>(entitySet: E, deltaToken: string, options?: OperationOptions): Promise<number> {
    return changeTracking.countChanges(this.#context, entitySet, deltaToken, options);
  }


  /**
   * Uploads a file or image into a column: a Buffer, a Readable, or a file path (read a chunk at a
   * time). One PATCH up to `singleRequestLimitInBytes` (16 MiB), the chunked protocol above it.
   *
   * @throws FileColumnError when the service refuses the file (too large, not an image it takes).
   * @example await client.uploadFile('accounts', id, 'sample_file', '/tmp/report.pdf', { mimeType: 'application/pdf' });
   */
  uploadFile<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, column: string, source: FileSource, options?: UploadFileOptions): Promise<void> {
    return files.uploadFile(this.#context, entitySet, key, column, source, options);
  }

  /**
   * Downloads a file or image column in `Range` chunks, as a stream (or to `path`); `size: 'full'`
   * fetches an image's full-size version. Resolves null when the column holds nothing.
   */
  downloadFile<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, column: string, options?: DownloadFileOptions): Promise<DownloadedFile | null> {
    return files.downloadFile(this.#context, entitySet, key, column, options);
  }

  /** Removes the file or image of a column (`DELETE <record>/<column>`). */
  deleteFile<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, column: string, options?: OperationOptions): Promise<void> {
    return files.deleteFile(this.#context, entitySet, key, column, options);
  }

  // -------------------------------------------------------------------------------------------
  // Escape hatch (./operations/raw.ts)

  /**
   * Sends any request through the same pipeline (token, retries, throttling, errors). `path` is relative
   * to the API root (`accounts?$top=1`; a leading `/api/data/…` is taken from the environment URL), or an
   * absolute URL **on the same origin as `url`** (without userinfo): the bearer token is never sent anywhere else.
   *
   * @throws DynamicsError for a status ≥ 400, with `response` (`status`, `data`, `headers`) as an AxiosError
   *   would have; `malformed_response` for a redirect (never followed) or any status outside 2xx.
   */
  request<T = unknown>(method: HttpMethod, path: string, body?: unknown, options?: RawRequestOptions): Promise<RawResponse<T>> {
    return raw.request<T>(this.#context, method, path, body, options);
  }

  /** Ends the client's keep-alive connections. Calls made afterwards open new ones. */
  close(): void {
    this.#context.close();
  }
}
