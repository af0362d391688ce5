/**
 * `POST $batch`: runs each operation as a request of its own, change sets atomically (a failure rolls
 * the change set back and is answered alone), `$n` Content-ID references, and
 * `Prefer: odata.continue-on-error` (dp/webapi/execute-batch-operations-using-web-api.md). The
 * multipart framing is in `../batch.ts`.
 */
import { randomUUID } from 'node:crypto';
import { clip } from '../../../net/excerpt';
import { MAX_BATCH_URL_CHARS } from '../../limits';
import { parseBatch, writeBatchResponse, type BatchRequestPart, type BatchResponseItem, type BatchResponsePart } from '../batch';
import type { ApiRequest, ApiResponse, Handler, RequestContext } from '../context';
import { DataverseHttpError, dvErrors } from '../errors';
import { AnnotationFilter, parsePrefer } from '../prefer';
import { errorResponse } from '../shared/responses';

/** Runs one batch operation as its own request, resolving `$n` references first. */
function runPart(ctx: RequestContext, part: BatchRequestPart, contentIds: Map<string, string>): ApiResponse {
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
    const m = /^(https?:\/\/[^/]+)?\/?(?:api\/data\/(v\d+\.\d+)\/)?([^?]*)(?:\?(.*))?$/i.exec(url);
    if (!m) throw dvErrors.badRequest(`The batch operation URL '${clip(part.url, 200)}' is not valid.`);
    // An absolute URL must address this environment: Dataverse does not forward an operation to another host.
    if (m[1] !== undefined && !sameOrigin(m[1], ctx.env.environmentUrl)) throw dvErrors.notThisService(clip(url, 200), `${ctx.base}/`);
    const full = m[1] !== undefined ? url : `${ctx.base}/${m[3] ?? ''}${m[4] !== undefined ? `?${m[4]}` : ''}`;
    if (full.length > MAX_BATCH_URL_CHARS) throw dvErrors.urlTooLong(full.length, MAX_BATCH_URL_CHARS);
    const headers: Record<string, string> = { ...part.headers };
    const req: ApiRequest = {
      method: part.method,
      version: m[2] ?? ctx.req.version,
      path: m[3] ?? '',
      query: m[4] ?? '',
      headers,
      body: part.body,
      caller: ctx.req.caller,
    };
    const inner: RequestContext = {
      env: ctx.env,
      req,
      user: ctx.user,
      ...(ctx.onBehalfOf ? { onBehalfOf: ctx.onBehalfOf } : {}),
      prefs: parsePrefer(headers['prefer']),
      annotations: new AnnotationFilter(undefined),
      now: new Date(),
      base: `${ctx.env.environmentUrl}/api/data/${req.version}`,
      contentIds,
    };
    if (req.path.startsWith('$batch')) throw dvErrors.badRequest('A batch request cannot contain another batch request.');
    return withReqId(ctx.env.run(inner));
  } catch (err) {
    if (err instanceof DataverseHttpError) return withReqId(errorResponse(err));
    throw err;
  }
}

/** Whether `origin` (`https://host:port`) is the environment's: scheme and host compared without case, default ports made explicit. */
function sameOrigin(origin: string, environmentUrl: string): boolean {
  try {
    return new URL(origin).origin === new URL(environmentUrl).origin;
  } catch {
    return false;
  }
}

function batch(ctx: RequestContext): ApiResponse {
  const { store } = ctx.env;
  const items = parseBatch(ctx.req.body, ctx.req.headers['content-type']);
  const continueOnError = ctx.prefs.has('odata.continue-on-error');
  /** Content-IDs of parts already run: a reference to any other is a forward reference (400). */
  const contentIds = new Map<string, string>();
  const boundary = `batchresponse_${randomUUID()}`;
  const out: BatchResponseItem[] = [];
  let failedStatus: number | undefined;
  /** Dataverse runs the parts one after another, each at the cost of a single request: the work adds up. */
  const work = { operations: 0, bulkRecords: 0 };

  const run = (part: BatchRequestPart): BatchResponsePart => {
    const res = runPart(ctx, part, contentIds);
    work.operations += res.work?.operations ?? 1;
    work.bulkRecords += res.work?.bulkRecords ?? 0;
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
    const tx = store.begin();
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
  return { status: failedStatus ?? 200, headers, body: writeBatchResponse(boundary, out), work };
}

/** `$batch`. */
export const batchHandler: Handler = {
  name: 'batch',
  routes: () => ({ batch: { POST: (_t, ctx) => batch(ctx) } }),
};
