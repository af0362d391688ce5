/**
 * The bulk messages: CreateMultiple, UpdateMultiple, UpsertMultiple and DeleteMultiple
 * (https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations), actions bound to the
 * entity set. The records are cut into chunks (by count and by encoded size), the first chunk is sent
 * alone (it tells whether the table supports the message, and the service's dop hint), then the rest
 * run in parallel; the pipeline's concurrency limiter keeps them within `x-ms-dop-hint`.
 *
 * Retry safety, chunk by chunk:
 * - UpdateMultiple, UpsertMultiple and DeleteMultiple are re-sent after a lost answer (a reset, a
 *   timeout, a 502): applying them twice leaves the same rows.
 * - CreateMultiple is re-sent only with client-chosen ids (`clientIds`): a re-send that finds its
 *   records already there is refused as a duplicate, which is then read as success. Without them a
 *   chunk whose answer was lost is reported `unknown`, never re-sent.
 */
import { randomUUID } from 'node:crypto';
import { BulkOperationError, DynamicsError, ErrorCode, type BulkChunkReport, type BulkRecordFailure } from '../../errors';
import { serializeJson } from '../../net/json';
import { chunkTargets, MAX_BULK_PAYLOAD_BYTES, parseBulkFailures } from '../../odata/bulk';
import { invalidArgument } from '../../odata/fail';
import { entityPath, isGuid } from '../../odata/keys';
import { checkRecord } from '../arguments';
import type { CallOutcome, ClientContext } from '../context';
import { readJsonObject } from '../response';
import { BatchErrorCode, type BatchOperation } from '../types';
import type { BulkOptions, CreateMultipleOptions } from '../workloadTypes';
import { batch } from './batch';

type Message = 'CreateMultiple' | 'UpdateMultiple' | 'UpsertMultiple' | 'DeleteMultiple';
type AnyRecord = Record<string, unknown>;

const DEFAULT_CHUNK_STANDARD = 1000;
const DEFAULT_CHUNK_ELASTIC = 100;
const DEFAULT_CONCURRENCY = 16;
/** A change set holds at most 1,000 operations: the batch fallback's chunk limit. */
const MAX_BATCH_CHUNK = 1000;
/** Ask elastic tables for the per-record failures of a partial success. */
const ERROR_DETAILS_PREFER = 'odata.include-annotations="Microsoft.PowerApps.CDS.ErrorDetails.*"';

/** Everything the run of one bulk call needs, resolved and validated once. */
interface Plan {
  message: Message;
  entitySet: string;
  records: readonly object[];
  typeName: string;
  primaryKey?: string;
  elastic: boolean;
  chunkSize: number;
  maxBytes: number;
  concurrency: number;
  /** CreateMultiple with `clientIds`: the id of each record, chosen before anything is sent. */
  presetIds?: string[];
  options: BulkOptions;
}

interface ChunkResult {
  status: BulkChunkReport['status'];
  ids?: string[];
  error?: DynamicsError;
  failedRecords?: BulkRecordFailure[];
  notSupported?: boolean;
}

/** `POST <entitySet>/Microsoft.Dynamics.CRM.CreateMultiple`: the new ids, in input order. */
export async function createMultiple(ctx: ClientContext, entitySet: string, records: readonly object[], options?: CreateMultipleOptions): Promise<string[]> {
  const plan = resolvePlan(ctx, 'CreateMultiple', entitySet, records, options);
  if (options?.clientIds !== undefined && typeof options.clientIds !== 'boolean') throw invalidArgument('options.clientIds', 'true or false', options.clientIds);
  if (options?.clientIds === true) {
    const key = plan.primaryKey;
    if (key === undefined) throw invalidArgument('options.primaryKey', `the primary key column of '${entitySet}' for clientIds (or the client's model option)`);
    plan.presetIds = records.map((r, i) => {
      const given = (r as AnyRecord)[key];
      if (given === undefined || given === null) return randomUUID();
      if (!isGuid(given)) throw invalidArgument(`records[${i}].${key}`, 'a GUID', given);
      return given.toLowerCase();
    });
  }
  const ids = await run(ctx, plan);
  return ids as string[];
}

/** `UpdateMultiple`: every record carries its primary key (and `partitionid` on an elastic table). */
export async function updateMultiple(ctx: ClientContext, entitySet: string, records: readonly object[], options?: BulkOptions): Promise<void> {
  await run(ctx, resolvePlan(ctx, 'UpdateMultiple', entitySet, records, options));
}

/** `UpsertMultiple`: each record names its row by primary key or by `@odata.id` (`accounts(accountnumber='A1')`). */
export async function upsertMultiple(ctx: ClientContext, entitySet: string, records: readonly object[], options?: BulkOptions): Promise<void> {
  await run(ctx, resolvePlan(ctx, 'UpsertMultiple', entitySet, records, options));
}

/** `DeleteMultiple`: elastic tables only; each item is a GUID or a record with the key (and `partitionid`). */
export async function deleteMultiple(ctx: ClientContext, entitySet: string, keys: ReadonlyArray<string | object>, options?: BulkOptions): Promise<void> {
  if (!Array.isArray(keys)) throw invalidArgument('records', 'an array of ids or records with their key', keys);
  const pk = ctx.entityModel(entitySet)?.primaryKey;
  const records = keys.map((k, i) => {
    if (typeof k !== 'string') return k;
    if (!isGuid(k)) throw invalidArgument(`records[${i}]`, 'a GUID or a record with its primary key', k);
    if (pk === undefined) throw invalidArgument(`records[${i}]`, "a record with its primary key (a bare id needs the client's model option to know the key's name)", k);
    return { [pk]: k.toLowerCase() };
  });
  const plan = resolvePlan(ctx, 'DeleteMultiple', entitySet, records, options);
  if (!plan.elastic) {
    throw invalidArgument(
      'entitySet',
      `an elastic table for deleteMultiple: Dataverse implements DeleteMultiple on elastic tables only ("DeleteMultiple has not yet been implemented" elsewhere). ` +
        `Delete the rows of '${entitySet}' with delete() one at a time, in $batch change sets with batch(), or with the BulkDelete action; ` +
        `if '${entitySet}' is elastic, say so with { tableType: 'elastic' } or the client's model option`,
      entitySet,
    );
  }
  await run(ctx, plan);
}

function resolvePlan(ctx: ClientContext, message: Message, entitySet: string, records: readonly object[], options: BulkOptions | undefined): Plan {
  entityPath(entitySet);
  if (!Array.isArray(records)) throw invalidArgument('records', 'an array of records', records);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgument('options', 'an object of options', options);
  const o = options ?? {};
  const model = ctx.entityModel(entitySet);
  const logicalName = o.logicalName ?? model?.logicalName;
  if (logicalName === undefined) {
    throw invalidArgument(
      'options.logicalName',
      `the logical name of '${entitySet}' for @odata.type: pass { logicalName: '…' } or give the client the generated model (new DynamicsClient({ …, model }))`,
    );
  }
  if (typeof logicalName !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(logicalName)) throw invalidArgument('options.logicalName', 'a table logical name such as account', logicalName);
  if (o.tableType !== undefined && o.tableType !== 'standard' && o.tableType !== 'elastic') throw invalidArgument('options.tableType', "'standard' or 'elastic'", o.tableType);
  const elastic = (o.tableType ?? model?.tableType ?? 'standard') === 'elastic';
  const chunkSize = o.chunkSize ?? (elastic ? DEFAULT_CHUNK_ELASTIC : DEFAULT_CHUNK_STANDARD);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 100_000) throw invalidArgument('options.chunkSize', 'a whole number of records from 1 to 100000', chunkSize);
  const maxBytes = o.maxPayloadBytes ?? MAX_BULK_PAYLOAD_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 1024 || maxBytes > MAX_BULK_PAYLOAD_BYTES) {
    throw invalidArgument('options.maxPayloadBytes', `a whole number of bytes from 1024 to ${MAX_BULK_PAYLOAD_BYTES} (116.85 MB)`, maxBytes);
  }
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw invalidArgument('options.concurrency', 'a whole number from 1 to 256', concurrency);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalidArgument('options.onProgress', 'a function', o.onProgress);
  if (o.fallback !== undefined && o.fallback !== 'none' && o.fallback !== 'batch') throw invalidArgument('options.fallback', "'none' or 'batch'", o.fallback);
  const primaryKey = (o as CreateMultipleOptions).primaryKey ?? model?.primaryKey;
  return {
    message,
    entitySet,
    records,
    typeName: `Microsoft.Dynamics.CRM.${logicalName}`,
    ...(primaryKey !== undefined ? { primaryKey } : {}),
    elastic,
    chunkSize,
    maxBytes,
    concurrency,
    options: o,
  };
}

/** The target to send for input record `i`: checked, validated, with `@odata.type` (and a client id). */
function prepare(ctx: ClientContext, plan: Plan, record: object, i: number): AnyRecord {
  checkRecord(record, `records[${i}]`);
  ctx.validateRecord(plan.entitySet, record, plan.message !== 'CreateMultiple');
  const target: AnyRecord = { ...(record as AnyRecord) };
  const type = target['@odata.type'];
  if (type !== undefined && (typeof type !== 'string' || type.replace(/^#/, '') !== plan.typeName)) {
    throw invalidArgument(`records[${i}]['@odata.type']`, `'${plan.typeName}' (or nothing: the client adds it)`, type);
  }
  target['@odata.type'] = plan.typeName;
  if (plan.presetIds !== undefined && plan.primaryKey !== undefined) target[plan.primaryKey] = plan.presetIds[i];
  return target;
}

/** Sends every chunk; resolves with the ids (CreateMultiple) or throws a {@link BulkOperationError}. */
async function run(ctx: ClientContext, plan: Plan): Promise<Array<string | undefined>> {
  const { records } = plan;
  const ids: Array<string | undefined> = new Array<string | undefined>(records.length);
  if (records.length === 0) return ids;
  // Pass 1: every record is prepared and measured before anything is sent, so a bad record anywhere
  // is refused while nothing has landed. Only the boundaries are kept; bodies are built when sent.
  const bounds: { start: number; end: number }[] = [];
  for (const c of chunkTargets(records, plan.chunkSize, plan.maxBytes, (r, i) => prepare(ctx, plan, r, i))) bounds.push({ start: c.start, end: c.end });
  const reports: BulkChunkReport[] = bounds.map((b, index) => ({ index, start: b.start, end: b.end, status: 'not_sent' }));
  const failedRecords: BulkRecordFailure[] = [];
  let firstError: DynamicsError | undefined;
  let useBatch = false;
  let stopped = false;
  let recordsDone = 0;
  let chunksDone = 0;
  const signal = plan.options.abortSignal;

  const send = async (index: number): Promise<void> => {
    const report = reports[index] as BulkChunkReport;
    if (stopped) return;
    if (signal?.aborted === true) {
      stopped = true;
      firstError ??= new DynamicsError(`${plan.message} on '${plan.entitySet}': aborted before chunk ${index} was sent`, { code: ErrorCode.aborted, cause: signal.reason });
      return;
    }
    report.status = 'unknown';
    const result = useBatch ? await sendAsBatch(ctx, plan, report) : await sendChunk(ctx, plan, report);
    report.status = result.status;
    if (result.ids) for (let i = 0; i < result.ids.length; i++) ids[report.start + i] = result.ids[i];
    if (result.failedRecords) failedRecords.push(...result.failedRecords);
    if (result.status === 'succeeded') {
      recordsDone += report.end - report.start;
      chunksDone += 1;
      plan.options.onProgress?.({ recordsDone, recordsTotal: records.length, chunksDone, chunksTotal: reports.length });
      return;
    }
    if (result.notSupported === true && index === 0 && plan.options.fallback === 'batch') {
      // The table lacks the message: the same records go through $batch change sets instead.
      useBatch = true;
      report.status = 'not_sent';
      await send(index);
      return;
    }
    if (result.status === 'partial') {
      recordsDone += report.end - report.start - (result.failedRecords?.length ?? 0);
      chunksDone += 1;
    }
    firstError ??= result.error;
    stopped = true;
  };

  // The first chunk alone: it learns whether the table supports the message before more are sent.
  await send(0);
  let next = 1;
  const worker = async (): Promise<void> => {
    while (!stopped && next < reports.length) await send(next++);
  };
  const limit = useBatch ? 1 : Math.min(plan.concurrency, reports.length - 1);
  await Promise.all(Array.from({ length: limit }, worker));

  if (reports.every((r) => r.status === 'succeeded')) return ids;
  throw bulkError(plan, reports, failedRecords, firstError, ids);
}

function bulkError(plan: Plan, reports: BulkChunkReport[], failedRecords: BulkRecordFailure[], cause: DynamicsError | undefined, ids: Array<string | undefined>): BulkOperationError {
  const bad = reports.find((r) => r.status === 'failed' || r.status === 'partial') ?? reports.find((r) => r.status === 'unknown');
  const landed = reports.filter((r) => r.status === 'succeeded');
  const notSent = reports.filter((r) => r.status === 'not_sent').length;
  const unknown = reports.filter((r) => r.status === 'unknown');
  const aborted = cause?.code === ErrorCode.aborted;
  const notSupported = cause !== undefined && isNotSupported(cause);
  const code = aborted ? ErrorCode.aborted : notSupported ? ErrorCode.bulkNotSupported : reports.some((r) => r.status === 'failed' || r.status === 'partial') ? ErrorCode.bulkChunkFailed : ErrorCode.bulkOutcomeUnknown;
  const range = (r: BulkChunkReport) => `records ${r.start}–${r.end - 1}`;
  const parts: string[] = [`${plan.message} on '${plan.entitySet}'`];
  if (notSupported) parts.push(`: the table does not support ${plan.message} (${cause?.serviceMessage ?? cause?.message}); pass { fallback: 'batch' } to send the records as $batch change sets instead`);
  else if (bad !== undefined) {
    const what = bad.status === 'unknown' ? 'has an unknown outcome (its answer was lost and re-sending it could duplicate rows; pass clientIds to make creates safe to re-send)' : bad.status === 'partial' ? `was applied in part (${failedRecords.length} record(s) refused)` : 'failed';
    parts.push(`: chunk ${bad.index} (${range(bad)}) ${what}: ${cause?.serviceMessage ?? cause?.message ?? 'no answer'}`);
  } else if (aborted) parts.push(': aborted');
  parts.push(`. ${landed.length} of ${reports.length} chunk(s) landed${landed.length > 0 && landed.length <= 10 ? ` (${landed.map((r) => r.index).join(', ')})` : ''}`);
  if (unknown.length > 0 && bad?.status !== 'unknown') parts.push(`, ${unknown.length} with an unknown outcome`);
  if (notSent > 0) parts.push(`, ${notSent} not sent`);
  parts.push('; err.pendingIndexes() lists the records to send again, err.unknownIndexes() those to check first.');
  return new BulkOperationError(parts.join(''), {
    code,
    message: plan.message,
    chunks: reports,
    failedRecords,
    ...(plan.message === 'CreateMultiple' ? { ids } : {}),
    ...(cause?.status !== undefined ? { status: cause.status } : {}),
    ...(cause?.body !== undefined ? { body: cause.body } : {}),
    ...(cause?.requestId !== undefined ? { requestId: cause.requestId } : {}),
    ...(cause?.clientRequestId !== undefined ? { clientRequestId: cause.clientRequestId } : {}),
    ...(cause !== undefined ? { cause } : {}),
  });
}

/**
 * Whether an error says the table lacks the bulk message. The wording is not documented for the Web
 * API; these are the SDK's ("The 'CreateMultiple' method does not support entities of type 'x'") and
 * the documented one of DeleteMultiple on a standard table, read tolerantly.
 */
function isNotSupported(error: DynamicsError): boolean {
  if (error.code === ErrorCode.bulkNotSupported) return true;
  const text = error.serviceMessage ?? '';
  return error.status !== undefined && error.status >= 400 && error.status < 500 && /does not support entities of type|has not yet been implemented|is not supported for (the )?entity/i.test(text);
}

/** A failure status whose request may have been carried out before the answer was lost. */
function isAmbiguousStatus(status: number | undefined): boolean {
  return status === 502 || status === 504;
}

function isDuplicate(error: DynamicsError | undefined): boolean {
  return error !== undefined && (error.code === '0x80040237' || error.code === '0x80060892' || (error.status === 412 && /duplicate|already exists/i.test(error.serviceMessage ?? '')));
}

/** Sends one chunk as a bulk message and says how it ended; never throws. */
async function sendChunk(ctx: ClientContext, plan: Plan, report: BulkChunkReport): Promise<ChunkResult> {
  const { message, records } = plan;
  const parts: string[] = [];
  // Validated in pass 1: not again here.
  for (let i = report.start; i < report.end; i++) parts.push(serializeJson(prepare(ctxNoValidate, plan, records[i] as object, i), `records[${i}]`));
  const retrySafe = message !== 'CreateMultiple' || plan.presetIds !== undefined;
  let outcome: CallOutcome;
  try {
    outcome = await ctx.send({
      method: 'POST',
      url: `${ctx.apiRoot}${plan.entitySet}/Microsoft.Dynamics.CRM.${message}`,
      body: `{"Targets":[${parts.join(',')}]}`,
      options: plan.options,
      headers: { Prefer: plan.elastic ? ERROR_DETAILS_PREFER : undefined },
      retrySafe,
      expect: message === 'CreateMultiple' ? [200] : [200, 204],
    });
  } catch (err) {
    // No answer at all (a reset, a timeout, an abort): the chunk may have been applied. A refused
    // argument (a bad per-call option) is refused before anything is sent: nothing was applied.
    const error = err instanceof DynamicsError ? err : new DynamicsError(String(err), { code: ErrorCode.network, cause: err });
    return { status: error.code === ErrorCode.invalidArgument ? 'failed' : 'unknown', error };
  }
  const count = report.end - report.start;
  if (outcome.ok) {
    if (message !== 'CreateMultiple') return { status: 'succeeded' };
    const body = readJsonObject(outcome, 'a CreateMultipleResponse');
    const got = body['Ids'];
    if (!Array.isArray(got) || got.length !== count || !got.every(isGuid)) {
      // It landed (200), but which ids it made cannot be read: report it as landed without ids, loudly.
      const error = new DynamicsError(`${message} on '${plan.entitySet}': the 200 answer to chunk ${report.index} does not list ${count} ids (Ids: ${Array.isArray(got) ? `${got.length} items` : typeof got})`, {
        code: ErrorCode.malformedResponse,
        status: outcome.response.status,
      });
      return plan.presetIds ? { status: 'succeeded', ids: plan.presetIds.slice(report.start, report.end) } : { status: 'unknown', error };
    }
    return { status: 'succeeded', ids: (got as string[]).map((id) => id.toLowerCase()) };
  }
  const error = outcome.error;
  // A re-sent chunk of client-chosen ids that finds them taken: the first attempt landed.
  if (outcome.ambiguous && message === 'CreateMultiple' && plan.presetIds !== undefined && isDuplicate(error) && !plan.elastic) {
    return { status: 'succeeded', ids: plan.presetIds.slice(report.start, report.end) };
  }
  if (outcome.ambiguous && message === 'DeleteMultiple' && error.status === 404) return { status: 'succeeded' };
  if (isNotSupported(error)) return { status: 'failed', error, notSupported: true };
  if (isAmbiguousStatus(error.status)) return { status: 'unknown', error };
  if (plan.elastic) {
    const failures = parseBulkFailures(error.body);
    if (failures !== undefined && failures.length > 0 && failures.length < count) {
      let refused = failures.filter((f) => f.requestIndex < count);
      if (outcome.ambiguous && message === 'CreateMultiple' && plan.presetIds !== undefined) refused = refused.filter((f) => f.status !== 412 && f.status !== 409);
      const failedRecords = refused.map((f) => ({ index: report.start + f.requestIndex, status: f.status, ...(f.id !== undefined ? { id: f.id } : {}) }));
      const refusedIndexes = new Set(failedRecords.map((f) => f.index - report.start));
      const idsOut = plan.presetIds ? plan.presetIds.slice(report.start, report.end).map((id, i) => (refusedIndexes.has(i) ? undefined : id)) : undefined;
      if (failedRecords.length === 0) return { status: 'succeeded', ...(idsOut ? { ids: idsOut as string[] } : {}) };
      return { status: 'partial', error, failedRecords, ...(idsOut ? { ids: idsOut as string[] } : {}) };
    }
  }
  return { status: 'failed', error };
}

/** The records of one chunk as one `$batch` change set: the fallback for a table without the message. */
async function sendAsBatch(ctx: ClientContext, plan: Plan, report: BulkChunkReport): Promise<ChunkResult> {
  if (report.end - report.start > MAX_BATCH_CHUNK) {
    const error = invalidArgument('options.chunkSize', `at most ${MAX_BATCH_CHUNK} with fallback: 'batch' (a change set holds at most 1000 operations)`, plan.chunkSize);
    return { status: 'failed', error };
  }
  const ops: BatchOperation[] = [];
  for (let i = report.start; i < report.end; i++) ops.push(batchOperation(plan, prepare(ctxNoValidate, plan, plan.records[i] as object, i), i));
  let results;
  try {
    results = await batch(ctx, [{ changeSet: ops }], plan.options);
  } catch (err) {
    const error = err instanceof DynamicsError ? err : new DynamicsError(String(err), { code: ErrorCode.network, cause: err });
    return { status: error.code === ErrorCode.invalidArgument ? 'failed' : 'unknown', error };
  }
  const failed = results.find((r) => r.error !== undefined && r.error.code !== BatchErrorCode.rolledBack);
  if (failed?.error) return { status: failed.error.code === BatchErrorCode.outcomeUnknown ? 'unknown' : 'failed', error: failed.error };
  if (plan.message !== 'CreateMultiple') return { status: 'succeeded' };
  const ids = results.map((r, i) => {
    if (typeof r.entityId === 'string') return r.entityId.toLowerCase();
    return plan.presetIds?.[report.start + i];
  });
  return { status: 'succeeded', ids: ids as string[] };
}

/** Records were validated in pass 1; sending prepares them again without a second validation. */
const ctxNoValidate = { validateRecord: () => undefined } as unknown as ClientContext;

/** One record as the operation its bulk message stands for. */
function batchOperation(plan: Plan, target: AnyRecord, i: number): BatchOperation {
  const body: AnyRecord = { ...target };
  delete body['@odata.type'];
  const ref = body['@odata.id'];
  delete body['@odata.id'];
  const pk = plan.primaryKey;
  const id = pk !== undefined ? body[pk] : undefined;
  const path = (): string => {
    // `@odata.id` as the caller wrote it for UpsertMultiple (`accounts(accountnumber='A1')`), relative to the API root.
    if (typeof ref === 'string') return ref.replace(/^https?:\/\/[^/]+/i, '').replace(/^\/?api\/data\/v\d+\.\d+\//i, '').replace(/^\//, '');
    if (typeof id !== 'string' || !isGuid(id)) throw invalidArgument(`records[${i}]`, `its primary key${pk !== undefined ? ` '${pk}'` : ''} or '@odata.id' (needed to send it through $batch)`, target);
    return `${plan.entitySet}(${id})`;
  };
  switch (plan.message) {
    case 'CreateMultiple':
      // With a client id: a create-only upsert, safe to re-send like the bulk message it replaces.
      if (plan.presetIds !== undefined && pk !== undefined) {
        delete body[pk];
        return { method: 'PATCH', url: path(), headers: { 'If-None-Match': '*' }, body };
      }
      return { method: 'POST', url: plan.entitySet, body };
    case 'UpdateMultiple': {
      const url = path();
      if (pk !== undefined) delete body[pk];
      return { method: 'PATCH', url, headers: { 'If-Match': '*' }, body };
    }
    case 'UpsertMultiple': {
      const url = path();
      if (pk !== undefined) delete body[pk];
      return { method: 'PATCH', url, body };
    }
    case 'DeleteMultiple':
      return { method: 'DELETE', url: path() };
  }
}

