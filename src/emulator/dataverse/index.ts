/**
 * The Dataverse Web API half of the emulator: everything under `/api/data/v9.x/`. The server hands
 * each request here with its body unread; this module checks the bearer token and service protection
 * from the head, then reads the body against {@link MAX_REQUEST_BYTES}, applies artificial latency,
 * counts the request, and answers through {@link DataverseRouter}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadModel } from '../../csdl';
import { stableGuid } from '../ids';
import { DEFAULT_OPTION_SETS } from '../schema/default-optionsets';
import type { ApiResponse } from './context';
import { MAX_REQUEST_BYTES, MAX_TIMER_MS, MAX_URL_CHARS } from '../limits';
import type { CreateDataverseService, DataverseService, RequestBody } from './contract';
import { dvErrors } from './errors';
import { systemUserIdFor } from './impersonation';
import { MetadataApi } from './metadata';
import { DataverseRouter } from './router';
import { buildSchema } from './schema';
import { seed } from './seed';
import { errorResponse, unexpectedError } from './shared/responses';
import { DataStore } from './store';
import { ServiceProtection } from './throttle';

export type { CreateDataverseService, DataverseService, DataverseContext, DataverseOptions } from './contract';

export { MAX_REQUEST_BYTES } from '../limits';

const VERSION_RE = /^\/api\/data\/(v9\.[012])(?:\/(.*))?$/;

function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Counter key: method and the first path segment without its key or parameters (`GET /accounts`, `POST /$batch`). */
function routeKey(method: string, rawPath: string): string {
  const m = VERSION_RE.exec(rawPath);
  const rest = m ? (m[2] ?? '') : rawPath;
  let first = rest.split('/')[0] ?? '';
  try {
    first = decodeURIComponent(first);
  } catch {
    // keep it raw
  }
  const paren = first.indexOf('(');
  return `${method} /${paren >= 0 ? first.slice(0, paren) : first}`;
}

/**
 * The page HTTP.sys (in front of IIS, and so of Dataverse) answers a URL longer than it accepts with.
 * Dataverse documents the limit (32,768 characters) but not the answer; this is the server's own.
 */
function urlTooLongPage(): string {
  return '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n<HTML><HEAD><TITLE>Request URL Too Long</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n<BODY><h2>Request URL Too Long</h2>\r\n<hr><p>HTTP Error 414. The request URL is too long.</p>\r\n</BODY></HTML>\r\n';
}

/**
 * Creates the Dataverse Web API service from the given `$metadata`: every entity set in it is live.
 * Loads `dataFile` (if it exists) and seeds `seed` accounts and contacts when the accounts table is empty.
 */
export const createDataverseService: CreateDataverseService = async (options, context) => {
  const model = loadModel(options.metadataXml);
  const schema = buildSchema(model);
  const store = new DataStore(schema, options.dataFile);
  store.load();
  if (options.seed > 0 && (!schema.sets.has('accounts') || store.count('accounts') === 0)) seed(store, schema, options.seed);
  // The embedded option sets apply to whichever of their columns the loaded $metadata has.
  const api = new DataverseRouter({
    schema,
    store,
    metadata: new MetadataApi(schema, DEFAULT_OPTION_SETS, stableGuid),
    metadataXml: options.metadataXml,
    environmentUrl: context.environmentUrl,
  });
  const protection = new ServiceProtection({ ...options.serviceProtection });
  let latencyInMs = options.latencyInMs;
  let { operationTimeInMs, bulkRecordTimeInMs } = options;

  const write = (res: ServerResponse, r: ApiResponse, common: Record<string, string>) => {
    if (res.headersSent || res.destroyed) return;
    const body = r.bytes ?? Buffer.from(r.body, 'utf8');
    res.writeHead(r.status, { ...common, ...r.headers, 'Content-Length': String(body.length) });
    res.end(body);
  };

  const service: DataverseService = {
    async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: RequestBody) {
      const requestId = randomUUID();
      const common: Record<string, string> = {
        REQ_ID: requestId,
        'x-ms-service-request-id': requestId,
        'x-ms-dop-hint': String(options.dopHint),
      };
      const method = (req.method ?? 'GET').toUpperCase();
      const raw = req.url ?? `${url.pathname}${url.search}`;
      const q = raw.indexOf('?');
      const rawPath = q < 0 ? raw : raw.slice(0, q);
      const rawQuery = q < 0 ? '' : raw.slice(q + 1);
      try {
        // The front end refuses an over-long URL before Dataverse (or its token check) sees the request.
        if (context.environmentUrl.length + raw.length > MAX_URL_CHARS) {
          body.abandon();
          const page = urlTooLongPage();
          res.writeHead(414, { 'Content-Type': 'text/html; charset=us-ascii', 'Content-Length': String(Buffer.byteLength(page)) });
          res.end(page);
          return;
        }
        const key = routeKey(method, rawPath);
        context.counters.apiRequestsTotal += 1;
        context.counters.apiRequests[key] = (context.counters.apiRequests[key] ?? 0) + 1;

        // Decided from the head alone: an unauthenticated request is refused without reading its body.
        const check = context.checkAuthorization(req.headers.authorization);
        if (!check.ok) {
          body.abandon();
          // Dataverse answers 401 with an empty body and tells the client where to get a token.
          write(res, { status: 401, headers: { 'WWW-Authenticate': `Bearer authorization_uri=${context.authorizationUri}, resource_id=${context.environmentUrl}/` }, body: '' }, common);
          return;
        }
        const token = check.token;
        // Budgets are per authenticated user (dp/api-limits.md: "Each authenticated user is limited
        // independently"): the token's user, even when CallerObjectId/MSCRMCallerID impersonates someone
        // else. The docs do not say impersonation moves the budget, so it stays with the caller.
        const admission = protection.admit(token.oid, Date.now());
        if (!admission.ok) {
          body.abandon();
          context.counters.throttled += 1;
          write(res, errorResponse(admission.error), { ...common, ...admission.headers });
          return;
        }
        Object.assign(common, admission.headers);
        try {
          const read = await body.read(MAX_REQUEST_BYTES);
          if (!read.ok) {
            write(res, errorResponse(dvErrors.payloadTooLarge(read.limit)), common);
            return;
          }
          if (latencyInMs > 0) await new Promise((r) => setTimeout(r, latencyInMs));
          const m = VERSION_RE.exec(rawPath);
          let response: ApiResponse;
          if (!m) {
            const segment = rawPath.replace(/^\/api\/data\/?/, '').split('/')[0] ?? '';
            response = errorResponse(dvErrors.segmentNotFound(segment));
          } else {
            response = api.execute({
              method,
              version: m[1] as string,
              path: m[2] ?? '',
              query: rawQuery,
              headers: lowerHeaders(req),
              body: read.bytes.toString('utf8'),
              bytes: read.bytes,
              caller: {
                oid: token.oid,
                systemUserId: systemUserIdFor(token.oid),
                ...(token.upn !== undefined ? { upn: token.upn } : {}),
                kind: token.kind,
              },
            });
          }
          // Server time after the work, so that a slow $batch holds its connection (and its concurrency slot) as Dataverse's does.
          const work = response.work ?? { operations: 1, bulkRecords: 0 };
          const serverMs = Math.round(operationTimeInMs * work.operations + bulkRecordTimeInMs * work.bulkRecords);
          if (serverMs > 0) await new Promise((r) => setTimeout(r, Math.min(serverMs, MAX_TIMER_MS)));
          write(res, response, common);
        } finally {
          admission.release();
        }
      } catch (err) {
        body.abandon();
        write(res, errorResponse(unexpectedError(err)), common);
      }
    },
    store,
    setServiceProtection(budget) {
      protection.set(budget);
    },
    serviceProtectionUsage() {
      return protection.usage();
    },
    setLatency(ms) {
      latencyInMs = ms;
    },
    setOperationTime(operation, bulk) {
      operationTimeInMs = operation;
      bulkRecordTimeInMs = bulk;
    },
    async close() {
      store.flush();
    },
  };
  return service;
};
