import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataverseService } from './dataverse/contract';
import { EntraService } from './entra/service';
import { FaultRegistry, writeFaultResponse, type FaultContext, type RouteKind } from './faults';
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

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The emulator's request handler: reads the whole body, applies an injected fault if one matches,
 * then routes `/api/data/…` to the Dataverse service and everything else to Entra ID (or 404).
 * Requests that arrive before the services exist wait for them.
 */
export function createRequestHandler(ready: Promise<ServerParts>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(ready, req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ error: { code: '0x80040216', message: `Emulator failure: ${err instanceof Error ? err.message : String(err)}` } });
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(ready: Promise<ServerParts>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
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
      writeFaultResponse(res, fault, kind, { ...parts.faultContext, correlationId: Array.isArray(correlation) ? correlation[0] : correlation });
      return;
    }
  }
  if (kind === 'api') {
    await parts.dataverse.handle(req, res, body, url);
    return;
  }
  if (await parts.entra.handle(req, res, body, url)) return;
  const text = JSON.stringify({ error: { code: '0x8006088a', message: `Resource not found for the segment '${url.pathname}'.` } });
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
