import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataverseService } from './dataverse/contract';
import { EntraError, entraErrorBody } from './entra/errors';
import { EntraService } from './entra/service';
import { FaultRegistry, writeFaultResponse, type FaultContext, type RouteKind } from './faults';
import { MAX_FORM_BYTES } from './limits';
import { IncomingBody } from './requestBody';
import type { EmulatorCounters } from './types';

/** What the request handler dispatches to; filled in once the server listens (the port is then known). */
export interface ServerParts {
  origin: string;
  entra: EntraService;
  dataverse: DataverseService;
  faults: FaultRegistry;
  counters: EmulatorCounters;
  faultContext: FaultContext;
}

function routeKind(pathname: string): RouteKind {
  if (/^\/api\/data(\/|$)/i.test(pathname)) return 'api';
  if (EntraService.isTokenPath(pathname)) return 'token';
  return 'other';
}

/**
 * The emulator's request handler: applies an injected fault if one matches, then routes `/api/data/…`
 * to the Dataverse service (which reads the body only once the request passed its checks) and
 * everything else to Entra ID (bodies up to {@link MAX_FORM_BYTES}) or a 404. Requests that arrive
 * before the services exist wait for them, their bodies unread.
 */
export function createRequestHandler(ready: Promise<ServerParts>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const body = new IncomingBody(req, res);
    void handle(ready, req, res, body).catch((err: unknown) => {
      body.abandon();
      if (res.destroyed || req.socket.destroyed) return;
      if (!res.headersSent) {
        const text = JSON.stringify({ error: { code: '0x80040216', message: `Emulator failure: ${err instanceof Error ? err.message : String(err)}` } });
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(ready: Promise<ServerParts>, req: IncomingMessage, res: ServerResponse, body: IncomingBody): Promise<void> {
  const parts = await ready;
  const url = new URL(req.url ?? '/', parts.origin);
  const method = req.method ?? 'GET';
  const kind = routeKind(url.pathname);
  const fault = parts.faults.take(kind, method, url.pathname);
  if (fault) {
    if ('delayInMs' in fault) {
      await sleep(fault.delayInMs);
    } else {
      parts.counters.faultedRequests += 1;
      if ('reset' in fault) {
        // A dropped connection: the client sees `socket hang up` / ECONNRESET. (A TLS socket cannot
        // send a TCP RST through the public API; resetAndDestroy() only works on plain TCP handles.)
        req.socket.destroy();
        return;
      }
      const correlation = req.headers['client-request-id'];
      body.abandon();
      writeFaultResponse(res, fault, kind, { ...parts.faultContext, correlationId: Array.isArray(correlation) ? correlation[0] : correlation });
      return;
    }
  }
  if (kind === 'api') {
    await parts.dataverse.handle(req, res, url, body);
    return;
  }
  const form = await body.read(MAX_FORM_BYTES);
  if (!form.ok) {
    // Entra documents no size limit for its forms; AADSTS90004 (InvalidRequestFormat, "The request isn't
    // properly formatted", reference-error-codes) is its closest documented answer, with 413 as the status.
    const err = new EntraError(413, 'invalid_request', 90004, `The request isn't properly formatted: the body exceeds the maximum size of ${form.limit} bytes.`);
    const correlationId = req.headers['client-request-id'];
    const text = JSON.stringify(
      entraErrorBody(err, { origin: parts.origin, correlationId: (Array.isArray(correlationId) ? correlationId[0] : correlationId) ?? randomUUID(), traceId: randomUUID(), now: new Date() }),
    );
    res.writeHead(413, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (await parts.entra.handle(req, res, form.bytes, url)) return;
  const text = JSON.stringify({ error: { code: '0x8006088a', message: `Resource not found for the segment '${url.pathname}'.` } });
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
