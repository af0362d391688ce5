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
import { checkRecord, entityPath, odataPart } from '../arguments';
import type { ClientContext } from '../context';
import { entityIdOf, readJson } from '../response';
import type { ColumnOf, CreateOptions, DeleteOptions, EntityKey, RetrieveOptions, UpdateOptions, UpsertOptions } from '../types';

type AnyRecord = Record<string, unknown>;

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
  });
  return representation ? readJson(result) : entityIdOf(result);
}

/** `GET <entitySet>(<key>)`. See `DynamicsClient.retrieve`. */
export async function retrieve<R, K extends ColumnOf<R>, X extends string>(ctx: ClientContext, entitySet: string, key: EntityKey<object>, options?: RetrieveOptions<R, K, X>): Promise<unknown> {
  const path = entityPath(entitySet, key);
  const { queryString, preferences } = buildQuery(odataPart(options) as QueryOptions, 'options');
  const result = await ctx.call({ method: 'GET', url: ctx.apiRoot + path + queryString, options, headers: { Prefer: composePrefer(preferences) } });
  return readJson(result);
}

/** `PATCH <entitySet>(<key>)` with `If-Match` (never creates). See `DynamicsClient.update`. */
export async function update(ctx: ClientContext, entitySet: string, key: EntityKey<object>, changes: object, options?: UpdateOptions<AnyRecord, string>): Promise<unknown> {
  const path = entityPath(entitySet, key);
  checkRecord(changes, 'changes');
  ctx.validateRecord(entitySet, changes, true);
  if (options?.ifMatch !== undefined && (typeof options.ifMatch !== 'string' || options.ifMatch === '')) {
    throw invalidArgument('options.ifMatch', 'an @odata.etag value such as W/"12345", or "*"', options.ifMatch);
  }
  const representation = options?.returnRepresentation === true;
  const result = await ctx.call({
    method: 'PATCH',
    url: ctx.apiRoot + path + representationQuery(options),
    body: changes,
    bodyArgument: 'changes',
    options,
    headers: {
      'If-Match': options?.ifMatch ?? '*',
      Prefer: representation ? 'return=representation' : undefined,
      'MSCRM.SuppressDuplicateDetection': options?.detectDuplicates === true ? 'false' : undefined,
    },
  });
  return representation ? readJson(result) : undefined;
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
  });
  if (!outcome.ok) {
    // A createOnly re-sent after an ambiguous failure that finds "already exists": with a GUID key,
    // the record can only be the one our first attempt created.
    if (mode === 'createOnly' && !representation && typeof key === 'string' && outcome.ambiguous && outcome.error instanceof PreconditionFailedError) {
      return normalizeGuid(key);
    }
    throw outcome.error;
  }
  if (representation) return readJson(outcome);
  const header = headerValue(outcome.response.headers, 'odata-entityid');
  if (header !== undefined) {
    const id = parseEntityId(header);
    if (typeof id === 'string') return id;
  }
  return typeof key === 'string' ? normalizeGuid(key) : undefined;
}

/** `DELETE <entitySet>(<key>)`, with `If-Match` when given. See `DynamicsClient.delete`. */
export async function deleteRecord(ctx: ClientContext, entitySet: string, key: EntityKey<object>, options?: DeleteOptions): Promise<void> {
  const path = entityPath(entitySet, key);
  const outcome = await ctx.send({ method: 'DELETE', url: ctx.apiRoot + path, options, headers: { 'If-Match': options?.ifMatch } });
  // A re-send after an ambiguous failure that finds the record gone: our first attempt deleted it.
  // Only when unconditional: with `ifMatch` the caller asked for one version, and a 404 cannot say which was deleted.
  if (!outcome.ok && !(outcome.ambiguous && outcome.error instanceof NotFoundError && options?.ifMatch === undefined)) throw outcome.error;
}
