import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { EntraError, entraErrorBody, entraErrors } from './entra/errors';
import { MAX_TIMER_MS, MAX_TIMER_SECONDS } from './limits';
import type { FaultKind, FaultRule } from './types';

/** Which service a request was headed for; decides the shape of a faulted response. */
export type RouteKind = 'token' | 'api' | 'other';

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

/** Context a faulted response needs to look like the real service's. */
export interface FaultContext {
  origin: string;
  environmentUrl: string;
  authorizationUri: string;
  correlationId?: string;
}

/**
 * The fault rules of one emulator. Rules are tried in the order they were added; the first that
 * matches and has uses left answers the request, so a test can queue "one 429, then one 503".
 */
export class FaultRegistry {
  private rules: ActiveRule[] = [];

  add(rule: FaultRule): () => void {
    const count = rule.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`FaultRule.count must be a positive integer, got ${String(rule.count)}`);
    validateFault(rule.fault);
    const active: ActiveRule = { rule, remaining: count };
    this.rules.push(active);
    return () => {
      this.rules = this.rules.filter((r) => r !== active);
    };
  }

  clear(): void {
    this.rules = [];
  }

  /** Takes one use of the first rule matching this request, if any. */
  take(kind: RouteKind, method: string, pathname: string): FaultKind | undefined {
    const found = this.rules.find((r) => r.remaining > 0 && matches(r.rule.route, kind, method, pathname));
    if (!found) return undefined;
    found.remaining -= 1;
    if (found.remaining === 0) this.rules = this.rules.filter((r) => r !== found);
    return found.rule.fault;
  }
}

function matches(route: FaultRule['route'], kind: RouteKind, method: string, pathname: string): boolean {
  if (route === 'token' || route === 'api') return route === kind;
  if (route.method !== undefined && route.method.toUpperCase() !== method.toUpperCase()) return false;
  route.path.lastIndex = 0;
  return route.path.test(pathname);
}

function validateFault(fault: FaultKind): void {
  if ('delayInMs' in fault) {
    // A timer cannot hold 2^31 ms or more (it would fire at once).
    if (typeof fault.delayInMs !== 'number' || !Number.isFinite(fault.delayInMs) || fault.delayInMs < 0 || fault.delayInMs > MAX_TIMER_MS) {
      throw new RangeError(`FaultRule.fault.delayInMs must be a number of milliseconds between 0 and ${MAX_TIMER_MS}, got ${String(fault.delayInMs)}`);
    }
    return;
  }
  if ('reset' in fault) return;
  if (![400, 401, 429, 500, 502, 503, 504].includes(fault.status)) {
    throw new RangeError(`FaultRule.fault.status must be one of 400, 401, 429, 500, 502, 503, 504, got ${String(fault.status)}`);
  }
  if (fault.status === 400 && (typeof fault.error !== 'string' || fault.error === '')) {
    throw new TypeError('FaultRule.fault.error must name the OAuth error (e.g. interaction_required) when status is 400');
  }
  if (
    'retryAfterSeconds' in fault &&
    fault.retryAfterSeconds !== undefined &&
    (!Number.isInteger(fault.retryAfterSeconds) || fault.retryAfterSeconds < 0 || fault.retryAfterSeconds > MAX_TIMER_SECONDS)
  ) {
    throw new RangeError(`FaultRule.fault.retryAfterSeconds must be an integer between 0 and ${MAX_TIMER_SECONDS}, got ${String(fault.retryAfterSeconds)}`);
  }
}

/** Default `Retry-After` of an injected 429: short, so tests that honour it stay fast. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** IIS / Application Request Routing's gateway pages, which front Dataverse and are not JSON. */
function gatewayPage(status: 502 | 504): string {
  const title =
    status === 502
      ? '502 - Web server received an invalid response while acting as a gateway or proxy server.'
      : '504 - Gateway Timeout: the upstream server did not respond in time.';
  return `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>${title}</title></head><body><div id="header"><h1>Server Error</h1></div>
<div id="content"><div class="content-container"><fieldset><h2>${title}</h2>
<h3>There is a problem with the page you are looking for, and it cannot be displayed.</h3></fieldset></div></div></body></html>
`;
}

/**
 * Writes the response of a status fault, shaped like the service the request was for: Entra's
 * `{error, error_description, error_codes…}` on token routes, Dataverse's `{"error":{code,message}}`
 * on the Web API (api-limits.md for 429), and an HTML gateway page for 502/504 either way.
 */
export function writeFaultResponse(res: ServerResponse, fault: Exclude<FaultKind, { reset: true } | { delayInMs: number }>, kind: RouteKind, ctx: FaultContext): void {
  const headers: Record<string, string> = { 'x-ms-service-request-id': randomUUID() };
  if (fault.status === 429) headers['Retry-After'] = String(fault.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
  if (fault.status === 503 && fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.status === 502 || fault.status === 504) {
    const html = gatewayPage(fault.status);
    res.writeHead(fault.status, { ...headers, 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(html) });
    res.end(html);
    return;
  }
  if (kind === 'token') {
    const err: EntraError =
      fault.status === 400
        ? new EntraError(400, fault.error, fault.aadsts ?? 50000, fault.description ?? `Injected ${fault.error} fault.`, fault.suberror)
        : fault.status === 401
        ? new EntraError(401, 'invalid_client', 7000215, 'Invalid client secret provided.')
        : fault.status === 429
          ? entraErrors.throttled()
          : entraErrors.serverError(fault.status);
    const body = JSON.stringify(
      entraErrorBody(err, { origin: ctx.origin, correlationId: ctx.correlationId ?? randomUUID(), traceId: randomUUID(), now: new Date() }),
    );
    res.writeHead(fault.status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (fault.status === 401) {
    // Dataverse answers an unauthenticated request with an empty body and the authority to use.
    res.writeHead(401, { ...headers, 'WWW-Authenticate': `Bearer authorization_uri=${ctx.authorizationUri}, resource_id=${ctx.environmentUrl}/`, 'Content-Length': 0 });
    res.end();
    return;
  }
  const error =
    fault.status === 400
      ? { code: '0x80040203', message: fault.description ?? fault.error }
      : fault.status === 429
      ? { code: '0x80072322', message: 'Number of requests exceeded the limit of 6000 over time window of 300 seconds.' }
      : fault.status === 500
        ? { code: '0x80040216', message: 'An unexpected error occurred.' }
        : // Dataverse leaves `code` empty when the failure is not a platform error (web-api-client-errors).
          { code: '', message: 'The service is temporarily unavailable. Please try again later.' };
  const body = JSON.stringify({ error });
  res.writeHead(fault.status, { ...headers, 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
