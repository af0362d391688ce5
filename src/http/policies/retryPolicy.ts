import type { Logger } from '../../logger';
import { displayUrl } from '../../net/excerpt';
import { backoffDelay, retryAfterDelay, retryDecisionForFailure, retryDecisionForStatus } from '../../net/retry';
import { waitFor } from '../wait';
import { TransportError, headerValue, type HttpRequest, type HttpResponse, type PipelinePolicy, type SendRequest } from '../types';
import type { ThrottleGate } from './throttlePolicy';

/** Settings of {@link retryPolicy}; the client's written-down defaults are in `DEFAULT_CLIENT_OPTIONS`. */
export interface RetryPolicyOptions {
  /** Re-sends allowed per call, for every reason together. */
  maxRetries: number;
  /** A `Retry-After` longer than this is not waited for: the call fails with the 429/503 at once. */
  maxRetryAfterInMs: number;
  logger: Logger;
  /** Reads `Retry-After` (delta-seconds or an HTTP date) as milliseconds. */
  parseRetryAfter(value: string | undefined, now: number): number | undefined;
  /** Injected for tests. Default: `Math.random`. */
  random?: () => number;
}

/**
 * Retries what is safe to retry (ky's written-down model: which statuses, which methods, honour
 * `Retry-After`, cap it, add jitter):
 *
 * - **429 and 503**, for every method: the service did not process the request (api-limits.md). The
 *   wait is `Retry-After` (capped by `maxRetryAfterInMs`) plus jitter; a 429 also pauses the whole
 *   client through the {@link ThrottleGate}.
 * - **502, 504 and connection failures**, only when `request.retrySafe` (reads, PUT, DELETE, PATCH with
 *   `If-Match`/`If-None-Match`): the first attempt may have been applied, so a blind re-send of a create
 *   could duplicate it. Failures where nothing was sent (connection refused, DNS) are retried for all.
 * - Nothing else: 4xx answers are final, and a 500 from Dataverse is a real error (a plug-in, duplicate detection).
 *
 * Waits end early when the call is aborted, and a wait that would pass the deadline fails at once.
 */
export function retryPolicy(gate: ThrottleGate, options: RetryPolicyOptions): PipelinePolicy {
  const random = options.random ?? Math.random;

  /** The attempts after a first answer or failure that may be worth a re-send. */
  async function retrying(request: HttpRequest, next: SendRequest, firstResponse: HttpResponse | undefined, firstFailure: TransportError | undefined): Promise<HttpResponse> {
    let response = firstResponse;
    let failure = firstFailure;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        request.attempts = attempt + 1;
        response = undefined;
        failure = undefined;
        try {
          response = await next(request);
        } catch (error) {
          if (!(error instanceof TransportError)) throw error;
          failure = error;
        }
      }

      let delay: number;
      let ambiguous = false;
      let reason: string;
      if (response !== undefined) {
        const status = response.status;
        if (request.isFinal?.(response) === true) return response;
        const decision = retryDecisionForStatus(status, { retrySafe: request.retrySafe });
        if (!decision.retry || attempt >= options.maxRetries) return response;
        const retryAfter = decision.throttled ? options.parseRetryAfter(headerValue(response.headers, 'retry-after'), Date.now()) : undefined;
        if (retryAfter !== undefined) {
          if (retryAfter > options.maxRetryAfterInMs) {
            options.logger.warn('not retrying: Retry-After is longer than maxRetryAfterInMs', { method: request.method, url: displayUrl(request.url), status, retryAfterInMs: retryAfter });
            return response;
          }
          delay = retryAfterDelay(retryAfter, random);
        } else {
          delay = backoffDelay(attempt, random);
        }
        if (status === 429) gate.pause(retryAfter ?? delay);
        ambiguous = decision.ambiguous;
        reason = `HTTP ${status}`;
      } else {
        const error = failure as TransportError;
        if (error.kind !== 'network') throw error;
        const decision = retryDecisionForFailure(error.errno, { retrySafe: request.retrySafe });
        if (!decision.retry || attempt >= options.maxRetries) throw error;
        delay = backoffDelay(attempt, random);
        ambiguous = decision.ambiguous;
        reason = error.errno ?? error.message;
      }

      if (Date.now() + delay >= request.deadline) {
        // Waiting would outlive the call: give the caller the last answer now rather than later.
        if (response !== undefined) return response;
        throw failure as TransportError;
      }
      options.logger.info('retrying request', { method: request.method, url: displayUrl(request.url), reason, attempt: attempt + 1, delayInMs: Math.round(delay) });
      await waitFor(delay, request, `the wait before retry ${attempt + 1} (${reason})`);
      if (ambiguous) request.ambiguousRetries = (request.ambiguousRetries ?? 0) + 1;
    }
  }

  return {
    name: 'retry',
    sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      request.attempts = 1;
      let first: Promise<HttpResponse>;
      try {
        first = next(request);
      } catch (error) {
        // A policy inside that throws instead of rejecting is treated alike.
        first = Promise.reject(error);
      }
      // The first attempt costs one promise layer; the loop above only runs for an answer that a
      // re-send could change (429, 502, 503, 504) or a failure.
      return first.then(
        (response) => (mayRetry(response.status) ? retrying(request, next, response, undefined) : response),
        (error: unknown) => {
          if (!(error instanceof TransportError)) throw error;
          return retrying(request, next, undefined, error);
        },
      );
    },
  };
}

/** The statuses for which `retryDecisionForStatus` can say "re-send" (throttling, and 502/504 when retry-safe). */
function mayRetry(status: number): boolean {
  return status === 429 || status === 503 || status === 502 || status === 504;
}
