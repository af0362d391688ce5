import { DynamicsError, ErrorCode, NotFoundError, PreconditionFailedError, ValidationError } from '../errors';
import { bodyText, isJsonContentType, parseJsonBody, plainResponseHeaders, statusError } from '../http/errors';
import { createPipeline, type Pipeline } from '../http/pipeline';
import { headerValue, type HttpRequest, type HttpResponse } from '../http/types';
import { invalidArgument } from '../odata/fail';
import { entityPath as odataEntityPath, normalizeGuid, parseEntityId, type RecordKey } from '../odata/keys';
import { buildQuery, composePrefer, MAX_PAGE_SIZE, type QueryOptions } from '../odata/query';
import { checkNextLink, parseCollectionPage } from '../odata/collection';
import { decodeBatchResponse, encodeBatch, matchBatchResponses, MAX_BATCH_OPERATIONS, splitOperations, type BatchOperationSlot, type BatchPartResponse } from '../odata/batch';
import { functionCall, operationPath, type FunctionParameterValue } from './functions';
import { DEFAULT_CLIENT_OPTIONS, resolveClientOptions, type DynamicsClientOptions, type ResolvedClientConfig } from './options';
import type { UntypedSchema } from './schema';
import { BatchErrorCode } from './types';
import type {
  ColumnOf,
  ContinuablePage,
  CreateOf,
  CreateOptions,
  DeleteOptions,
  EntityKey,
  Expanded,
  ExpandOf,
  FilterQuery,
  ListQuery,
  OperationCallOptions,
  OperationOptions,
  PagedAsyncIterableIterator,
  PageSettings,
  RawRequestOptions,
  RawResponse,
  ReadOf,
  RecordSchema,
  RetrieveOptions,
  Selected,
  UpdateOf,
  UpdateOptions,
  UpsertOptions,
  AssociateOptions,
  BatchChangeSet,
  BatchItem,
  BatchOperation,
  BatchOptions,
  BatchResult,
  HttpMethod,
  SchemaConstraint,
} from './types';

/** Entity-set names of a schema. */
export type EntitySetOf<S> = keyof S & string;

/** Headers every request carries (compose-http-requests-handle-errors.md). */
const COMMON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: 'application/json',
  'OData-MaxVersion': '4.0',
  'OData-Version': '4.0',
});

/** Reads also send `If-None-Match: null`: a cached representation must never come back as 304. */
const READ_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...COMMON_HEADERS, 'If-None-Match': 'null' });

const WRITE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...COMMON_HEADERS, 'Content-Type': 'application/json; charset=utf-8' });

/** Query-option names of {@link ListQuery} / {@link RetrieveOptions} that go to odata (the rest are per-call options). */
const PER_CALL_KEYS = new Set(['abortSignal', 'timeoutInMs', 'headers', 'impersonate']);

/** How a call is sent; built by the public methods. */
interface CallSpec {
  method: HttpMethod;
  /** Absolute URL on the client's origin. */
  url: string;
  body?: unknown;
  options?: OperationOptions;
  /** Method-specific headers (If-Match, Prefer, …), applied before the caller's own. */
  headers?: Record<string, string | undefined>;
  /** Overrides the method-based retry safety (a `$batch` of GETs is safe). */
  retrySafe?: boolean;
  /** Error statuses that are still a usable answer (a stopped `$batch`). */
  acceptStatus?: (status: number, headers: HttpResponse['headers']) => boolean;
}

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
  private readonly config: ResolvedClientConfig;
  private readonly pipeline: Pipeline;

  /** @throws ConfigurationError naming each invalid option. */
  constructor(options: DynamicsClientOptions<S>) {
    this.config = resolveClientOptions(options);
    this.url = this.config.origin;
    this.apiUrl = this.config.apiRoot;
    this.pipeline = createPipeline({
      origin: this.config.origin,
      ca: this.config.ca,
      tokenProvider: this.config.tokenProvider,
      logger: this.config.logger,
      maxRetries: this.config.maxRetries,
      maxRetryAfterInMs: this.config.maxRetryAfterInMs,
      maxConcurrency: this.config.maxConcurrency,
      initialConcurrency: DEFAULT_CLIENT_OPTIONS.initialConcurrency,
    });
  }

  // -------------------------------------------------------------------------------------------
  // CRUD

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
  async create(entitySet: string, record: object, options?: CreateOptions<Record<string, unknown>, string>): Promise<unknown> {
    const path = entityPath(entitySet);
    checkRecord(record, 'record');
    this.validateRecord(entitySet, record, false);
    const representation = options?.returnRepresentation === true;
    const query = representation && options?.select !== undefined ? buildQuery({ select: options.select }, 'options').queryString : '';
    const response = await this.call({
      method: 'POST',
      url: this.apiUrl + path + query,
      body: record,
      options,
      headers: {
        Prefer: representation ? 'return=representation' : undefined,
        'MSCRM.SuppressDuplicateDetection': options?.detectDuplicates === true ? 'false' : undefined,
      },
    });
    if (representation) return this.json(response.response, response.request);
    return this.entityIdOf(response.response, response.request);
  }

  /**
   * Reads one record by its id or an alternate key (`GET <entitySet>(<key>)`).
   *
   * @throws NotFoundError when there is no such record.
   * @example const { name } = await client.retrieve('accounts', { accountnumber: 'A1' }, { select: ['name'] });
   */
  async retrieve<E extends EntitySetOf<S>, K extends ColumnOf<ReadOf<S, E>> = ColumnOf<ReadOf<S, E>>, X extends string = never>(
    entitySet: E,
    key: EntityKey<ReadOf<S, E>>,
    options?: RetrieveOptions<ReadOf<S, E>, K, X>,
  ): Promise<Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>> {
    const path = entityPath(entitySet, key);
    const { queryString, preferences } = buildQuery(odataPart(options) as QueryOptions, 'options');
    const response = await this.call({
      method: 'GET',
      url: this.apiUrl + path + queryString,
      options,
      headers: { Prefer: composePrefer(preferences) },
    });
    return this.json(response.response, response.request) as Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>;
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
  async update(entitySet: string, key: EntityKey, changes: object, options?: UpdateOptions<Record<string, unknown>, string>): Promise<unknown> {
    const path = entityPath(entitySet, key);
    checkRecord(changes, 'changes');
    this.validateRecord(entitySet, changes, true);
    if (options?.ifMatch !== undefined && (typeof options.ifMatch !== 'string' || options.ifMatch === '')) {
      throw invalidArgument('options.ifMatch', 'an @odata.etag value such as W/"12345", or "*"', options.ifMatch);
    }
    const representation = options?.returnRepresentation === true;
    const query = representation && options?.select !== undefined ? buildQuery({ select: options.select }, 'options').queryString : '';
    const response = await this.call({
      method: 'PATCH',
      url: this.apiUrl + path + query,
      body: changes,
      options,
      headers: {
        'If-Match': options?.ifMatch ?? '*',
        Prefer: representation ? 'return=representation' : undefined,
        'MSCRM.SuppressDuplicateDetection': options?.detectDuplicates === true ? 'false' : undefined,
      },
    });
    return representation ? this.json(response.response, response.request) : undefined;
  }

  /**
   * Creates or updates the record with this key (`PATCH <entitySet>(<key>)`, perform-conditional-operations-using-web-api.md).
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
  async upsert(entitySet: string, key: EntityKey, record: object, options?: UpsertOptions<Record<string, unknown>, string>): Promise<unknown> {
    const path = entityPath(entitySet, key);
    checkRecord(record, 'record');
    const mode = options?.mode ?? 'upsert';
    if (mode !== 'upsert' && mode !== 'createOnly' && mode !== 'updateOnly') {
      throw invalidArgument('options.mode', "'upsert', 'createOnly' or 'updateOnly'", mode);
    }
    this.validateRecord(entitySet, record, mode !== 'createOnly');
    const representation = options?.returnRepresentation === true;
    const query = representation && options?.select !== undefined ? buildQuery({ select: options.select }, 'options').queryString : '';
    let result: { response: HttpResponse; request: HttpRequest };
    try {
      result = await this.call({
        method: 'PATCH',
        url: this.apiUrl + path + query,
        body: record,
        options,
        headers: {
          'If-None-Match': mode === 'createOnly' ? '*' : undefined,
          'If-Match': mode === 'updateOnly' ? '*' : undefined,
          Prefer: representation ? 'return=representation' : undefined,
        },
      });
    } catch (error) {
      // A createOnly re-sent after an ambiguous failure that finds "already exists": with a GUID key,
      // the record can only be the one our first attempt created.
      if (mode === 'createOnly' && !representation && typeof key === 'string' && error instanceof PreconditionFailedError && ambiguous(error)) {
        return normalizeGuid(key);
      }
      throw error;
    }
    if (representation) return this.json(result.response, result.request);
    const header = headerValue(result.response.headers, 'odata-entityid');
    if (header !== undefined) {
      const id = parseEntityId(header);
      if (typeof id === 'string') return id;
    }
    return typeof key === 'string' ? normalizeGuid(key) : undefined;
  }

  /**
   * Deletes a record (`DELETE <entitySet>(<key>)`), only if it still has `ifMatch` when given.
   * A re-send after an ambiguous failure that finds the record gone counts as success.
   *
   * @throws NotFoundError when there is no such record.
   */
  async delete<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, options?: DeleteOptions): Promise<void> {
    const path = entityPath(entitySet, key);
    try {
      await this.call({ method: 'DELETE', url: this.apiUrl + path, options, headers: { 'If-Match': options?.ifMatch } });
    } catch (error) {
      if (error instanceof NotFoundError && ambiguous(error) && options?.ifMatch === undefined) return;
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Queries

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
    query?: ListQuery<ReadOf<S, E>, K, X>,
  ): PagedAsyncIterableIterator<Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>> {
    type Row = Selected<ReadOf<S, E>, K> & Expanded<ReadOf<S, E>, X>;
    const path = entityPath(entitySet);
    // Built now so that a bad query throws at the call, not at the first iteration.
    const odata = odataPart(query) ?? {};
    const top = query?.top;
    // Dataverse answers `$top` with one page and no nextLink, and `$top` does not mix with a page size
    // (query/page-results.md): `$top` goes to the server only when one page can hold it; otherwise the
    // client pages and stops after `top` rows itself.
    const serverTop = top !== undefined && query?.maxPageSize === undefined && top <= MAX_PAGE_SIZE;
    if (top !== undefined && !serverTop) delete odata.top;
    const { queryString, preferences } = buildQuery(odata as QueryOptions, 'query');
    if (top !== undefined && !serverTop) {
      buildQuery({ top }, 'query');
      if (top > 0) preferences.maxPageSize = Math.min(preferences.maxPageSize ?? MAX_PAGE_SIZE, top);
    }
    const firstUrl = this.apiUrl + path + queryString;
    const client = this;

    async function* pages(settings: PageSettings = {}): AsyncIterableIterator<ContinuablePage<Row>> {
      if (settings === null || typeof settings !== 'object') throw invalidArgument('settings', '{ maxPageSize?, continuationToken? }', settings);
      const prefer = composePrefer({ ...preferences, ...(settings.maxPageSize === undefined ? {} : { maxPageSize: settings.maxPageSize }) });
      let url: string | undefined = firstUrl;
      // `top` counts from the first page; a resumed walk cannot know how many rows came before.
      let remaining = top === 0 ? undefined : top;
      if (top === 0 && !serverTop) url = undefined;
      if (settings.continuationToken !== undefined) {
        url = client.checkContinuation(settings.continuationToken, 'settings.continuationToken');
        remaining = undefined;
      }
      // The next page is requested while the caller works on the current one (two pages in memory at
      // most); when the caller stops early, that request is cancelled.
      const stop = new AbortController();
      const signal = query?.abortSignal === undefined ? stop.signal : AbortSignal.any([stop.signal, query.abortSignal]);
      const fetchPage = (pageUrl: string) => client.call({ method: 'GET', url: pageUrl, options: { ...query, abortSignal: signal }, headers: { Prefer: prefer } });
      let pending = url === undefined ? undefined : fetchPage(url);
      try {
        while (pending !== undefined && url !== undefined) {
          const { response, request } = await pending;
          pending = undefined;
          const collection = parseCollectionPage<Row>(client.json(response, request));
          let rows = collection.value;
          let next = nextLinkOf(collection.nextLink, url, client.apiUrl);
          if (remaining !== undefined) {
            if (rows.length >= remaining) {
              rows = rows.slice(0, remaining);
              next = undefined;
            }
            remaining -= rows.length;
          }
          const page = rows as ContinuablePage<Row>;
          page.continuationToken = next;
          if (collection.count !== undefined) page.count = collection.count;
          if (collection.totalRecordCount !== undefined) page.totalRecordCount = collection.totalRecordCount;
          if (collection.totalRecordCountLimitExceeded !== undefined) page.totalRecordCountLimitExceeded = collection.totalRecordCountLimitExceeded;
          url = next;
          if (next !== undefined) {
            pending = fetchPage(next);
            // If the caller stops here, nobody awaits it: its failure must not become an unhandled rejection.
            pending.catch(() => undefined);
          }
          yield page;
        }
      } finally {
        if (pending !== undefined) stop.abort();
      }
    }

    async function* rows(): AsyncIterableIterator<Row> {
      for await (const page of pages()) yield* page;
    }

    const iterator = rows();
    const paged: PagedAsyncIterableIterator<Row> = {
      next: () => iterator.next(),
      [Symbol.asyncIterator]: () => paged,
      byPage: (settings?: PageSettings) => pages(settings),
    };
    return paged;
  }

  /**
   * Counts the rows matching `filter` (`GET <entitySet>/$count`, which answers `text/plain`).
   * Dataverse caps this count at 5000 (count-rows.md); for larger tables use the
   * `RetrieveTotalRecordCount` function (a snapshot) or walk `list()`.
   */
  async count<E extends EntitySetOf<S>>(entitySet: E, filter?: FilterQuery<ReadOf<S, E>>, options?: OperationOptions): Promise<number> {
    const path = entityPath(entitySet);
    const query = filter === undefined ? '' : buildQuery({ filter: filter as QueryOptions['filter'] }, 'filter').queryString;
    const { response, request } = await this.call({ method: 'GET', url: `${this.apiUrl}${path}/$count${query}`, options });
    const text = bodyText(response.body).trim();
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < 0) {
      throw new DynamicsError(`GET ${request.url}: expected a count, got ${JSON.stringify(text.slice(0, 80))}`, {
        code: ErrorCode.malformedResponse,
        status: response.status,
        request: { method: request.method, url: request.url },
      });
    }
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Relationships

  /**
   * Links two records through a navigation property (`POST <entitySet>(<key>)/<nav>/$ref`, or `PUT` for a
   * single-valued one with `singleValued: true`; associate-disassociate-entities-using-web-api.md).
   */
  async associate<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, navigationProperty: string, target: { entitySet: string; key: EntityKey }, options?: AssociateOptions): Promise<void> {
    const source = entityPath(entitySet, key);
    checkNavigation(navigationProperty);
    if (target === null || typeof target !== 'object') throw invalidArgument('target', '{ entitySet, key }', target);
    const targetPath = entityPath(target.entitySet, target.key);
    await this.call({
      method: options?.singleValued ? 'PUT' : 'POST',
      url: `${this.apiUrl}${source}/${navigationProperty}/$ref`,
      body: { '@odata.id': this.apiUrl + targetPath },
      options,
    });
  }

  /**
   * Removes a link: for a collection-valued navigation property name the `target`
   * (`DELETE <entitySet>(<key>)/<nav>(<targetId>)/$ref`); for a single-valued one omit it
   * (`DELETE <entitySet>(<key>)/<nav>/$ref`).
   */
  async disassociate<E extends EntitySetOf<S>>(entitySet: E, key: EntityKey<ReadOf<S, E>>, navigationProperty: string, target?: { entitySet: string; key: EntityKey }, options?: OperationOptions): Promise<void> {
    const source = entityPath(entitySet, key);
    checkNavigation(navigationProperty);
    let url: string;
    if (target === undefined) {
      url = `${this.apiUrl}${source}/${navigationProperty}/$ref`;
    } else {
      if (target === null || typeof target !== 'object') throw invalidArgument('target', '{ entitySet, key }', target);
      // The by-key form needs the target's key segment; the $id form works for any key.
      const targetPath = entityPath(target.entitySet, target.key);
      url = `${this.apiUrl}${source}/${navigationProperty}/$ref?$id=${encodeURIComponent(this.apiUrl + targetPath)}`;
    }
    await this.call({ method: 'DELETE', url, options });
  }

  // -------------------------------------------------------------------------------------------
  // Actions and functions

  /**
   * Calls an action (`POST <name>`, or bound: `POST <entitySet>(<key>)/Microsoft.Dynamics.CRM.<name>`)
   * with `params` as the JSON body. Resolves with the response body, or undefined for 204.
   * Actions are never re-sent after an ambiguous failure.
   */
  async callAction<T = unknown>(name: string, params?: Readonly<Record<string, unknown>>, options?: OperationCallOptions): Promise<T> {
    const path = operationPath(name, options?.bound);
    if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
      throw invalidArgument('params', 'an object of parameter values', params);
    }
    const { response, request } = await this.call({ method: 'POST', url: this.apiUrl + path, body: params ?? {}, options });
    return (response.status === 204 ? undefined : this.json(response, request)) as T;
  }

  /**
   * Calls a function (`GET <name>(p=@p1)?@p1=…`), every parameter passed as an alias with its value
   * written as an OData literal (see {@link FunctionParameterValue}). `client.callFunction('WhoAmI')` works.
   */
  async callFunction<T = unknown>(name: string, params?: Readonly<Record<string, FunctionParameterValue>>, options?: OperationCallOptions): Promise<T> {
    const path = functionCall(operationPath(name, options?.bound), params);
    const { response, request } = await this.call({ method: 'GET', url: this.apiUrl + path, options });
    return (response.status === 204 ? undefined : this.json(response, request)) as T;
  }

  // -------------------------------------------------------------------------------------------
  // $batch

  /**
   * Sends operations in `$batch` requests (execute-batch-operations-using-web-api.md) and resolves with one
   * result per operation, in the order given (the operations of a change set in place): its status, body,
   * `entityId` for creates, and a DynamicsError when it failed. A failed operation does not reject the
   * promise; a failure of the whole batch (bad request, network, auth) does.
   *
   * - Change sets (`{ changeSet: [...] }`, or `atomic: true` for all writes) are one transaction: when one
   *   part fails, the failing part reports the service's error and the others report `batch_rolled_back`.
   * - Inside a change set `Content-ID`s let later parts refer to earlier ones (`$1`, `"x@odata.bind": "$1"`).
   * - Dataverse takes at most 1000 operations per batch: more are split across several `$batch` requests,
   *   sent one after another (a change set is never split). Without `continueOnError` a failure stops the
   *   rest, including later requests: those parts report `batch_not_executed`.
   * - Re-sent after 429/503; re-sent after an ambiguous failure only when it holds nothing but GETs.
   */
  async batch(operations: readonly BatchItem[], options?: BatchOptions): Promise<BatchResult[]> {
    if (!Array.isArray(operations) || operations.length === 0) throw invalidArgument('operations', 'a non-empty array of operations and change sets', operations);
    const continueOnError = options?.continueOnError === true;
    // `order[i]` is the position in the caller's (flattened) list of the i-th operation as sent.
    const { items, order } = options?.atomic === true ? groupAtomic(operations) : { items: operations, order: undefined };
    const total = countOperations(items);
    if (options?.atomic === true && total > MAX_BATCH_OPERATIONS) {
      throw invalidArgument('operations', `at most ${MAX_BATCH_OPERATIONS} operations with atomic: true (one change set cannot be split across requests)`, `${total} operations`);
    }
    const groups = splitOperations(items);
    const sent: BatchResult[] = [];
    let stopped = false;
    for (const group of groups) {
      if (stopped) {
        for (let i = countOperations(group); i > 0; i--) sent.push(notExecuted());
        continue;
      }
      const encoded = encodeBatch(group, { apiRootUrl: this.apiUrl, continueOnError });
      const readOnly = encoded.operations.every((slot) => slot.method === 'GET');
      const { response, request } = await this.call({
        method: 'POST',
        url: `${this.apiUrl}$batch`,
        body: encoded.body,
        options,
        headers: encoded.headers,
        retrySafe: readOnly,
        // Without continue-on-error the service answers the first failure's status with a multipart body.
        acceptStatus: (status, headers) => status < 500 && headerValue(headers, 'content-type')?.toLowerCase().startsWith('multipart/mixed') === true,
      });
      const parts = decodeBatchResponse(response.body, headerValue(response.headers, 'content-type'));
      const results = batchResults(group, encoded.operations, parts, request);
      for (const result of results) {
        sent.push(result);
        if (result.error !== undefined && !continueOnError) stopped = true;
      }
    }
    if (order === undefined) return sent;
    const out: BatchResult[] = new Array<BatchResult>(sent.length);
    sent.forEach((result, i) => {
      out[order[i]] = result;
    });
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Escape hatch

  /**
   * Sends any request through the same pipeline (token, retries, throttling, errors). `path` is relative
   * to the API root (`accounts?$top=1`; a leading `/api/data/…` is taken from the environment URL), or an
   * absolute URL **on the same origin as `url`**: the bearer token is never sent anywhere else.
   *
   * @throws DynamicsError for a status ≥ 400, with `response` (`status`, `data`, `headers`) as an AxiosError would have.
   */
  async request<T = unknown>(method: HttpMethod, path: string, body?: unknown, options?: RawRequestOptions): Promise<RawResponse<T>> {
    const m = typeof method === 'string' ? (method.toUpperCase() as HttpMethod) : method;
    if (!['GET', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(m)) throw invalidArgument('method', 'one of GET, POST, PATCH, PUT, DELETE', method);
    let url = this.resolvePath(path);
    if (options?.params !== undefined) url = appendParams(url, options.params);
    const responseType = options?.responseType ?? 'json';
    if (!['json', 'text', 'arraybuffer'].includes(responseType)) throw invalidArgument('options.responseType', "'json', 'text' or 'arraybuffer'", responseType);
    const prefer = options?.prefer === undefined ? undefined : composePrefer({ extra: options.prefer });
    const { response, request } = await this.call({ method: m, url, body, options, headers: { Prefer: prefer } });
    let data: unknown;
    if (responseType === 'arraybuffer') data = response.body;
    else if (responseType === 'text') data = bodyText(response.body);
    else if (response.body.length === 0) data = undefined;
    else if (isJsonContentType(response.headers)) data = parseJsonBody(response, request);
    else data = bodyText(response.body);
    return { status: response.status, headers: plainResponseHeaders(response.headers), data: data as T };
  }

  /** Ends the client's keep-alive connections. Calls made afterwards open new ones. */
  close(): void {
    this.pipeline.close();
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  /** Sends one call and throws the DynamicsError for a status ≥ 400. */
  private async call(spec: CallSpec): Promise<{ response: HttpResponse; request: HttpRequest }> {
    const request = this.prepare(spec);
    const response = await this.pipeline.send(request);
    if (response.status >= 400 && !(spec.acceptStatus?.(response.status, response.headers) ?? false)) {
      const error = this.pipeline.fail(response, request);
      if ((request.ambiguousRetries ?? 0) > 0) markAmbiguous(error);
      throw error;
    }
    return { response, request };
  }

  private prepare(spec: CallSpec): HttpRequest {
    const options = spec.options;
    const isRead = spec.method === 'GET';
    const headers: Record<string, string> = { ...(spec.body === undefined ? (isRead ? READ_HEADERS : COMMON_HEADERS) : WRITE_HEADERS) };
    if (spec.headers !== undefined) {
      for (const name of Object.keys(spec.headers)) {
        const value = spec.headers[name];
        if (value !== undefined) headers[name] = value;
      }
    }
    let timeoutInMs = this.config.timeoutInMs;
    if (options !== undefined) {
      if (options.headers !== undefined) mergeCallerHeaders(headers, options.headers);
      if (options.impersonate !== undefined) {
        const id = options.impersonate?.callerObjectId;
        headers.CallerObjectId = normalizeGuid(id, 'options.impersonate.callerObjectId');
      }
      if (options.timeoutInMs !== undefined) {
        if (typeof options.timeoutInMs !== 'number' || !(options.timeoutInMs > 0)) throw invalidArgument('options.timeoutInMs', 'a number of milliseconds > 0', options.timeoutInMs);
        timeoutInMs = options.timeoutInMs;
      }
      if (options.abortSignal !== undefined && !(options.abortSignal instanceof AbortSignal)) throw invalidArgument('options.abortSignal', 'an AbortSignal', options.abortSignal);
    }
    let body: string | Buffer | undefined;
    if (spec.body !== undefined) {
      if (typeof spec.body === 'string' || Buffer.isBuffer(spec.body)) body = spec.body;
      else body = JSON.stringify(spec.body);
    }
    const method = spec.method;
    return {
      method,
      url: spec.url,
      headers,
      body,
      abortSignal: options?.abortSignal,
      deadline: Date.now() + timeoutInMs,
      retrySafe: spec.retrySafe ?? (method === 'GET' || method === 'PUT' || method === 'DELETE' || (method === 'PATCH' && (hasHeader(headers, 'if-match') || hasHeader(headers, 'if-none-match')))),
    };
  }

  private json(response: HttpResponse, request: HttpRequest): unknown {
    return parseJsonBody(response, request);
  }

  private entityIdOf(response: HttpResponse, request: HttpRequest): string {
    const header = headerValue(response.headers, 'odata-entityid');
    if (header === undefined) {
      throw new DynamicsError(`${request.method} ${request.url}: the ${response.status} response has no OData-EntityId header`, {
        code: ErrorCode.malformedResponse,
        status: response.status,
        request: { method: request.method, url: request.url },
      });
    }
    const id = parseEntityId(header);
    if (typeof id !== 'string') {
      throw new DynamicsError(`${request.method} ${request.url}: OData-EntityId names no record id: ${header.slice(0, 200)}`, {
        code: ErrorCode.malformedResponse,
        status: response.status,
        request: { method: request.method, url: request.url },
      });
    }
    return id;
  }

  private validateRecord(entitySet: string, record: object, partial: boolean): void {
    if (!this.config.validate) return;
    const schema: RecordSchema | undefined = this.config.schemas[entitySet];
    if (schema === undefined) return;
    const checker = partial && typeof schema.partial === 'function' ? schema.partial() : schema;
    const result = checker.safeParse(record);
    if (!result.success) {
      throw new ValidationError(
        entitySet,
        result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
      );
    }
  }

  /** A `continuationToken` is an `@odata.nextLink` of this environment, used unmodified. */
  private checkContinuation(token: unknown, argument: string): string {
    if (typeof token !== 'string' || !token.startsWith(`${this.url}/`)) {
      throw invalidArgument(argument, `an @odata.nextLink from this environment (starting with ${this.url}/)`, token);
    }
    return token;
  }

  private resolvePath(path: unknown): string {
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', 'a path relative to the API root such as "accounts", or an absolute URL on the same origin', path);
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
      let origin: string;
      try {
        origin = new URL(path).origin;
      } catch {
        throw invalidArgument('path', 'a valid URL', path);
      }
      if (origin !== this.url) {
        throw invalidArgument('path', `a URL on ${this.url} (the bearer token is never sent to another origin)`, path);
      }
      return encodeLoosely(path, 'path');
    }
    if (path.startsWith('//')) throw invalidArgument('path', 'a path relative to the API root (a "//host" URL would leave the origin)', path);
    if (path.startsWith('/api/')) return this.url + encodeLoosely(path, 'path');
    return this.apiUrl + encodeLoosely(path.replace(/^\/+/, ''), 'path');
  }
}

// ---------------------------------------------------------------------------------------------
// $batch helpers

function isChangeSet(item: BatchItem): item is BatchChangeSet {
  return typeof item === 'object' && item !== null && 'changeSet' in item;
}

function countOperations(items: readonly BatchItem[]): number {
  let n = 0;
  for (const item of items) n += isChangeSet(item) ? (Array.isArray(item.changeSet) ? item.changeSet.length : 0) : 1;
  return n;
}

/**
 * `atomic: true`: every write into one change set, placed where the first write was; GETs keep their
 * order around it. Returns the items and, per operation as sent, its index in the caller's list.
 */
function groupAtomic(operations: readonly BatchItem[]): { items: BatchItem[]; order: number[] } {
  const before: BatchOperation[] = [];
  const after: BatchOperation[] = [];
  const writes: BatchOperation[] = [];
  const beforeIdx: number[] = [];
  const afterIdx: number[] = [];
  const writeIdx: number[] = [];
  let index = 0;
  operations.forEach((item, i) => {
    const ops = isChangeSet(item) ? item.changeSet : [item];
    if (!Array.isArray(ops)) throw invalidArgument(`operations[${i}].changeSet`, 'an array of operations', ops);
    for (const op of ops) {
      if (op !== null && typeof op === 'object' && op.method === 'GET') {
        if (writes.length === 0) {
          before.push(op);
          beforeIdx.push(index);
        } else {
          after.push(op);
          afterIdx.push(index);
        }
      } else {
        writes.push(op);
        writeIdx.push(index);
      }
      index++;
    }
  });
  const items: BatchItem[] = [...before, ...(writes.length > 0 ? [{ changeSet: writes }] : []), ...after];
  return { items, order: [...beforeIdx, ...writeIdx, ...afterIdx] };
}

function notExecuted(): BatchResult {
  return {
    status: 0,
    headers: {},
    error: new DynamicsError('Not executed: the batch stopped at an earlier failure (pass continueOnError to run every part).', { code: BatchErrorCode.notExecuted }),
  };
}

function partResult(part: BatchPartResponse, op: BatchOperation, batchRequest: HttpRequest): BatchResult {
  const result: BatchResult = { status: part.status, headers: part.headers, body: part.body };
  const entityId = part.headers['odata-entityid'];
  if (entityId !== undefined) {
    try {
      const id = parseEntityId(entityId);
      if (typeof id === 'string') result.entityId = id;
    } catch {
      // A part without a usable entity id still reports its status and body.
    }
  }
  if (part.status >= 400) {
    result.error = statusError(part.status, part.headers, part.body, { method: op.method, url: partUrl(op, batchRequest) });
  }
  return result;
}

function partUrl(op: BatchOperation, batchRequest: HttpRequest): string {
  return /^https?:/i.test(op.url) ? op.url : batchRequest.url.replace(/\$batch$/, '') + op.url;
}

/**
 * One result per operation of one `$batch`, from odata's {@link matchBatchResponses}: a failed change
 * set reports the service's error on the operation it names and `batch_rolled_back` on the others;
 * operations after a stop report `batch_not_executed`.
 */
function batchResults(group: readonly BatchItem[], slots: readonly BatchOperationSlot[], parts: BatchPartResponse[], batchRequest: HttpRequest): BatchResult[] {
  const ops: BatchOperation[] = [];
  for (const item of group) {
    if (isChangeSet(item)) ops.push(...item.changeSet);
    else ops.push(item);
  }
  return matchBatchResponses(slots, parts).map((match, i) => {
    const op = ops[i];
    if (match.outcome === 'notExecuted' || match.response === undefined) return notExecuted();
    if (match.outcome !== 'rolledBack') return partResult(match.response, op, batchRequest);
    const cause = statusError(match.response.status, match.response.headers, match.response.body, { method: op.method, url: partUrl(op, batchRequest) });
    return {
      status: match.response.status,
      headers: {},
      error: new DynamicsError(`Rolled back: another operation of the same change set failed (${cause.message})`, {
        code: BatchErrorCode.rolledBack,
        status: match.response.status,
        request: { method: op.method, url: partUrl(op, batchRequest) },
        cause,
      }),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** odata's entityPath over our typed keys (an optional column in a typed key is simply absent). */
function entityPath(entitySet: string, key?: EntityKey<object>): string {
  return odataEntityPath(entitySet, key as RecordKey | undefined);
}

/** Marks an error as the answer to a re-send after an ambiguous failure (the first attempt may have been applied). */
const AMBIGUOUS = Symbol('ambiguousRetry');

function markAmbiguous(error: DynamicsError): void {
  Object.defineProperty(error, AMBIGUOUS, { value: true, enumerable: false });
}

function ambiguous(error: DynamicsError): boolean {
  return (error as unknown as Record<symbol, unknown>)[AMBIGUOUS] === true;
}

/** The odata part of a query object: everything but the per-call options; `annotations: false` means none. */
function odataPart(query: object | undefined): Record<string, unknown> | undefined {
  if (query === undefined || query === null) return undefined;
  if (typeof query !== 'object') throw invalidArgument('query', 'an object of query options', query);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(query)) {
    if (PER_CALL_KEYS.has(key)) continue;
    const value = (query as Record<string, unknown>)[key];
    if (key === 'annotations' && value === false) continue;
    out[key] = value;
  }
  return out;
}

function checkRecord(record: unknown, argument: string): void {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalidArgument(argument, 'a record object', record);
}

function checkNavigation(name: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw invalidArgument('navigationProperty', 'a navigation property name such as "contact_customer_accounts"', name);
  }
}

function hasHeader(headers: Record<string, string>, lowerName: string): boolean {
  for (const name of Object.keys(headers)) if (name.toLowerCase() === lowerName) return true;
  return false;
}

/** Caller headers win over ours, whatever their case; values with CR/LF are refused (header injection). */
function mergeCallerHeaders(headers: Record<string, string>, extra: Record<string, string>): void {
  if (extra === null || typeof extra !== 'object') throw invalidArgument('options.headers', 'an object of header names to string values', extra);
  for (const name of Object.keys(extra)) {
    const value = extra[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || /[\r\n\0]/.test(value) || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
      throw invalidArgument(`options.headers.${name}`, 'a string value without line breaks', value);
    }
    const lower = name.toLowerCase();
    if (lower === 'authorization') throw invalidArgument('options.headers.Authorization', 'no Authorization header (the client sets the bearer token)', '…');
    for (const existing of Object.keys(headers)) if (existing.toLowerCase() === lower && existing !== name) delete headers[existing];
    headers[name] = value;
  }
}

/**
 * Percent-encodes what cannot go on the wire (spaces, quotes, non-ASCII, a `%` not starting an escape)
 * and leaves the rest, so a path that is already encoded passes through unchanged.
 */
function encodeLoosely(text: string, argument: string): string {
  try {
    return text.replace(/%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]|["<>\\^`{|}]/gu, (c) => encodeURIComponent(c));
  } catch {
    throw invalidArgument(argument, 'well-formed Unicode text', text);
  }
}

function appendParams(url: string, params: Record<string, string | number | boolean | undefined>): string {
  if (params === null || typeof params !== 'object') throw invalidArgument('options.params', 'an object of query parameters', params);
  const parts: string[] = [];
  for (const name of Object.keys(params)) {
    const value = params[name];
    if (value === undefined) continue;
    // `$` and `@` stay literal in names: OData system options and parameter aliases.
    parts.push(`${encodeURIComponent(name).replace(/%24/g, '$').replace(/%40/g, '@')}=${encodeURIComponent(String(value))}`);
  }
  if (parts.length === 0) return url;
  return `${url}${url.includes('?') ? '&' : '?'}${parts.join('&')}`;
}

/**
 * The next page's URL, unmodified (a relative link is resolved against the page's URL), checked by
 * `checkNextLink` to stay under the API root so the bearer token goes nowhere else. A link back to
 * the same page would loop forever, so it is refused too.
 */
function nextLinkOf(link: string | undefined, current: string, apiRoot: string): string | undefined {
  if (link === undefined) return undefined;
  const absolute = checkNextLink(/^https?:\/\//i.test(link) ? link : new URL(link, current).href, apiRoot);
  if (absolute === current) {
    throw new DynamicsError(`GET ${current}: @odata.nextLink points to the same page; stopping instead of looping`, {
      code: ErrorCode.malformedResponse,
      request: { method: 'GET', url: current },
    });
  }
  return absolute;
}
