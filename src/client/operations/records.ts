/**
 * One record at a time: create, retrieve, update, upsert and delete
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api,
 * …/retrieve-entity-using-web-api, …/update-delete-entities-using-web-api).
 */
import { PreconditionFailedError, NotFoundError } from '../../errors';
import { headerValue } from '../../net/headers';
import { invalidArgument } from '../../odata/fail';
import { normalizeGuid, parseEntityId } from '../../odata/keys';
import { buildQuery, composePrefer, type QueryOptions } from '../../odata/query';
import { checkEtag, checkRecord, entityPath, odataPart } from '../arguments';
import type { ClientContext } from '../context';
import { entityIdOf, readJsonObject } from '../response';
import type { ColumnOf, CreateOptions, DeleteOptions, EntityKey, RetrieveOptions, UpdateOptions, UpsertOptions } from '../types';

type AnyRecord = Record<string, unknown>;

/*
 * The statuses each operation succeeds with
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api,
 * …/update-delete-entities-using-web-api). Anything else below 400, a redirect above all, is an error.
 */
const CREATED: readonly number[] = [200, 201, 204];
const READ: readonly number[] = [200];
const UPDATED: readonly number[] = [200, 204];
const DELETED: readonly number[] = [200, 204];

/** `?$select=…` for a write that returns the record (`returnRepresentation` with `select`), else nothing. */
function representationQuery(options: { returnRepresentation?: boolean; select?: readonly string[] } | undefined): string {
  return options?.returnRepresentation === true && options.select !== undefined ? buildQuery({ select: options.select }, 'options').queryString : '';
}

/** `POST <entitySet>`: the new record's id, or the record with `returnRepresentation`. See `DynamicsClient.create`. */
export async function create(ctx: ClientContext, entitySet: string, record: object, options?: CreateOptions<AnyRecord, string>): Promise<unknown> {
  const path = entityPath(entitySet);
  checkRecord(record, 'record');
  ctx.validateRecord(entitySet, record, false);
  const representation = options?.returnRepresentation === true;
  const result = await ctx.call({
    method: 'POST',
    url: ctx.apiRoot + path + representationQuery(options),
    body: record,
    bodyArgument: 'record',
    options,
    headers: {
      Prefer: representation ? 'return=representation' : undefined,
      'MSCRM.SuppressDuplicateDetection': options?.detectDuplicates === true ? 'false' : undefined,
    },
    // 204 with OData-EntityId; 201 with the record (return=representation). 200 is read the same way.
    expect: CREATED,
  });
  return representation ? readJsonObject(result, 'the created record') : entityIdOf(result);
}

/** `GET <entitySet>(<key>)`. See `DynamicsClient.retrieve`. */
export async function retrieve<R, K extends ColumnOf<R>, X extends string>(ctx: ClientContext, entitySet: string, key: EntityKey<object>, options?: RetrieveOptions<R, K, X>): Promise<unknown> {
  const path = entityPath(entitySet, key);
  const { queryString, preferences } = buildQuery(odataPart(options) as QueryOptions, 'options');
  const result = await ctx.call({ method: 'GET', url: ctx.apiRoot + path + queryString, options, headers: { Prefer: composePrefer(preferences) }, expect: READ });
  return readJsonObject(result, 'the record');
}

/** `PATCH <entitySet>(<key>)` with `If-Match` (never creates). See `DynamicsClient.update`. */
export async function update(ctx: ClientContext, entitySet: string, key: EntityKey<object>, changes: object, options?: UpdateOptions<AnyRecord, string>): Promise<unknown> {
  const path = entityPath(entitySet, key);
  checkRecord(changes, 'changes');
  ctx.validateRecord(entitySet, changes, true);
  const ifMatch = checkEtag(options?.ifMatch, 'options.ifMatch');
  const representation = options?.returnRepresentation === true;
  const result = await ctx.call({
    method: 'PATCH',
    url: ctx.apiRoot + path + representationQuery(options),
    body: changes,
    bodyArgument: 'changes',
    options,
    headers: {
      'If-Match': ifMatch ?? '*',
      Prefer: representation ? 'return=representation' : undefined,
      'MSCRM.SuppressDuplicateDetection': options?.detectDuplicates === true ? 'false' : undefined,
    },
    // 204; 200 with the record (return=representation).
    expect: UPDATED,
  });
  return representation ? readJsonObject(result, 'the updated record') : undefined;
}

/**
 * `PATCH <entitySet>(<key>)`, conditional by `mode`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api).
 * See `DynamicsClient.upsert`.
 */
export async function upsert(ctx: ClientContext, entitySet: string, key: EntityKey<object>, record: object, options?: UpsertOptions<AnyRecord, string>): Promise<unknown> {
  const path = entityPath(entitySet, key);
  checkRecord(record, 'record');
  const mode = options?.mode ?? 'upsert';
  if (mode !== 'upsert' && mode !== 'createOnly' && mode !== 'updateOnly') {
    throw invalidArgument('options.mode', "'upsert', 'createOnly' or 'updateOnly'", mode);
  }
  ctx.validateRecord(entitySet, record, mode !== 'createOnly');
  const representation = options?.returnRepresentation === true;
  const outcome = await ctx.send({
    method: 'PATCH',
    url: ctx.apiRoot + path + representationQuery(options),
    body: record,
    bodyArgument: 'record',
    options,
    headers: {
      'If-None-Match': mode === 'createOnly' ? '*' : undefined,
      'If-Match': mode === 'updateOnly' ? '*' : undefined,
      Prefer: representation ? 'return=representation' : undefined,
    },
    // 204 either way; with return=representation 201 when created, 200 when updated.
    expect: CREATED,
  });
  if (!outcome.ok) {
    // A createOnly re-sent after an ambiguous failure that finds "already exists": with a GUID key,
    // the record can only be the one our first attempt created.
    if (mode === 'createOnly' && !representation && typeof key === 'string' && outcome.ambiguous && outcome.error instanceof PreconditionFailedError) {
      return normalizeGuid(key);
    }
    throw outcome.error;
  }
  if (representation) return readJsonObject(outcome, 'the upserted record');
  const header = headerValue(outcome.response.headers, 'odata-entityid');
  if (header !== undefined) {
    // The write succeeded: a header we cannot read must not turn it into a failure someone re-sends.
    let id: unknown;
    try {
      id = parseEntityId(header);
    } catch {
      id = undefined;
    }
    if (typeof id === 'string') return id;
  }
  return typeof key === 'string' ? normalizeGuid(key) : undefined;
}

/** `DELETE <entitySet>(<key>)`, with `If-Match` when given. See `DynamicsClient.delete`. */
export async function deleteRecord(ctx: ClientContext, entitySet: string, key: EntityKey<object>, options?: DeleteOptions): Promise<void> {
  const path = entityPath(entitySet, key);
  const ifMatch = checkEtag(options?.ifMatch, 'options.ifMatch');
  const outcome = await ctx.send({ method: 'DELETE', url: ctx.apiRoot + path, options, headers: { 'If-Match': ifMatch }, expect: DELETED });
  // A re-send after an ambiguous failure that finds the record gone: our first attempt deleted it.
  // Only when unconditional: with `ifMatch` the caller asked for one version, and a 404 cannot say which was deleted.
  if (!outcome.ok && !(outcome.ambiguous && outcome.error instanceof NotFoundError && ifMatch === undefined)) throw outcome.error;
}
