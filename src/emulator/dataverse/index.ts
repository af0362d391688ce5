/**
 * The Dataverse Web API half of the emulator: everything under `/api/data/v9.x/`. The server hands
 * each request here after reading its body; this module checks the bearer token, applies service
 * protection and artificial latency, counts the request, and answers through {@link DataverseRouter}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadModel } from '../../csdl';
import { stableGuid } from '../ids';
import { DEFAULT_OPTION_SETS } from '../schema/default-optionsets';
import type { ApiResponse } from './context';
import type { CreateDataverseService, DataverseService } from './contract';
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

/** Largest request body accepted before answering 413 (Dataverse's own limit is not documented; 128 MiB). */
export const MAX_REQUEST_BYTES = 128 * 1024 * 1024;

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

  const write = (res: ServerResponse, r: ApiResponse, common: Record<string, string>) => {
    if (res.headersSent || res.destroyed) return;
    const body = Buffer.from(r.body, 'utf8');
    res.writeHead(r.status, { ...common, ...r.headers, 'Content-Length': String(body.length) });
    res.end(body);
  };

  const service: DataverseService = {
    async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL) {
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
        const key = routeKey(method, rawPath);
        context.counters.apiRequestsTotal += 1;
        context.counters.apiRequests[key] = (context.counters.apiRequests[key] ?? 0) + 1;

        const check = context.checkAuthorization(req.headers.authorization);
        if (!check.ok) {
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
          context.counters.throttled += 1;
          write(res, errorResponse(admission.error), { ...common, 'x-ms-ratelimit-burst-remaining-xrm-requests': '0' });
          return;
        }
        common['x-ms-ratelimit-burst-remaining-xrm-requests'] = String(admission.remaining);
        try {
          if (latencyInMs > 0) await new Promise((r) => setTimeout(r, latencyInMs));
          const m = VERSION_RE.exec(rawPath);
          let response: ApiResponse;
          if (!m) {
            const segment = rawPath.replace(/^\/api\/data\/?/, '').split('/')[0] ?? '';
            response = errorResponse(dvErrors.segmentNotFound(segment));
          } else if (body.length > MAX_REQUEST_BYTES) {
            response = errorResponse(dvErrors.payloadTooLarge(MAX_REQUEST_BYTES));
          } else {
            response = api.execute({
              method,
              version: m[1] as string,
              path: m[2] ?? '',
              query: rawQuery,
              headers: lowerHeaders(req),
              body: body.toString('utf8'),
              caller: {
                oid: token.oid,
                systemUserId: systemUserIdFor(token.oid),
                ...(token.upn !== undefined ? { upn: token.upn } : {}),
                kind: token.kind,
              },
            });
          }
          write(res, response, common);
        } finally {
          admission.release();
        }
      } catch (err) {
        write(res, errorResponse(unexpectedError(err)), common);
      }
    },
    store,
    setServiceProtection(budget) {
      protection.set(budget);
    },
    setLatency(ms) {
      latencyInMs = ms;
    },
    async close() {
      store.flush();
    },
  };
  return service;
};
