import type { Logger } from '../../logger';
import { parseRetryAfter } from '../../net/retryAfter';
import { timerDelay } from '../../net/timers';
import { scopeCache } from '../fleet/identity';
import { parseBurstRemaining, parseDopHint, parseTimeRemaining } from '../fleet/rateHeaders';
import type { FleetOutcome, FleetThrottle, FleetTicket } from '../fleet/types';
import { TransportError, headerValue, type HttpRequest, type HttpResponse, type PipelinePolicy, type SendRequest } from '../types';

/** Settings of {@link fleetPolicy}. */
export interface FleetPolicyOptions {
  /** The client's origin, `https://contoso.crm.dynamics.com`: its host is part of the scope. */
  origin: string;
  logger: Logger;
}

/**
 * Asks the fleet-wide limiter before each request goes on the wire, and tells it what the answer
 * said (429 `Retry-After`, `x-ms-dop-hint`, the rate-limit headers). It sits innermost, after the
 * bearer token, so that every request the service counts (a retry, the re-send after a 401) is
 * counted once, and so that the scope can be read from the token's claims.
 *
 * The limiter cannot fail a request: if it rejects for any reason but the caller's abort or
 * deadline, the policy logs once and sends the request under the client's own limits.
 */
export function fleetPolicy(throttle: FleetThrottle, options: FleetPolicyOptions): PipelinePolicy {
  const scopeOf = scopeCache(new URL(options.origin).host);
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string, meta?: Record<string, unknown>) => {
    if (warned.has(key)) return;
    warned.add(key);
    options.logger.warn(message, meta);
  };

  return {
    name: 'fleet',
    async sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      const { scope, identified } = scopeOf(request.headers.Authorization);
      if (!identified) warnOnce('unidentified', 'fleet throttle: the access token carries no oid/appid claim; requests are limited per environment host only');
      const ticket = await acquire(throttle, scope, request, (error) =>
        warnOnce('failed', 'fleet throttle failed; requests go out under this client’s own limits', { error: error instanceof Error ? error.name : typeof error }),
      );
      let response: HttpResponse;
      try {
        response = await next(request);
      } catch (error) {
        if (ticket !== undefined) settle(throttle, ticket, {});
        throw error;
      }
      if (ticket !== undefined) settle(throttle, ticket, observe(response));
      return response;
    },
  };
}

/** What an answer says about the service's limits. */
export function observe(response: HttpResponse): FleetOutcome {
  const h = response.headers;
  const outcome: FleetOutcome = { status: response.status };
  if (response.status === 429) {
    const retryAfter = parseRetryAfter(headerValue(h, 'retry-after'), Date.now());
    if (retryAfter !== undefined && retryAfter > 0) outcome.retryAfterInMs = retryAfter;
  }
  const dop = parseDopHint(h['x-ms-dop-hint']);
  if (dop !== undefined) outcome.dopHint = dop;
  const burst = parseBurstRemaining(h['x-ms-ratelimit-burst-remaining-xrm-requests']);
  if (burst !== undefined) outcome.burstRemaining = burst;
  const time = parseTimeRemaining(h['x-ms-ratelimit-time-remaining-xrm-requests']);
  if (time !== undefined) outcome.timeRemainingInSeconds = time;
  return outcome;
}

/**
 * A ticket from the limiter, or undefined when the limiter failed (the request then goes without).
 *
 * @throws TransportError `aborted` or `timeout` when the caller's signal or deadline ends the wait.
 */
async function acquire(throttle: FleetThrottle, scope: string, request: HttpRequest, onFailure: (error: unknown) => void): Promise<FleetTicket | undefined> {
  const callerSignal = request.abortSignal;
  if (callerSignal?.aborted) throw new TransportError('aborted', 'the request was aborted before the fleet limiter let it go');
  if (Date.now() >= request.deadline) throw new TransportError('timeout', 'timeoutInMs ran out before the fleet limiter let the request go');
  const giveUp = new AbortController();
  const onAbort = () => giveUp.abort();
  callerSignal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer =
    request.deadline === Infinity
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          giveUp.abort();
        }, timerDelay(request.deadline - Date.now()));
  try {
    return await throttle.acquire({ scope, abortSignal: giveUp.signal });
  } catch (error) {
    if (callerSignal?.aborted) throw new TransportError('aborted', 'the request was aborted while waiting for the fleet limiter');
    if (timedOut) throw new TransportError('timeout', 'timeoutInMs ran out while waiting for the fleet limiter');
    onFailure(error);
    return undefined;
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onAbort);
  }
}

function settle(throttle: FleetThrottle, ticket: FleetTicket, outcome: FleetOutcome): void {
  try {
    throttle.settle(ticket, outcome);
  } catch {
    // A limiter's bookkeeping never fails the request it was told about.
  }
}
