import type { Logger } from '../../logger';
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

/** Backoff when the service gives no `Retry-After`: 0.5 s, 1 s, 2 s, … capped at 30 s, with jitter. */
const BACKOFF_BASE_IN_MS = 500;
const BACKOFF_CAP_IN_MS = 30_000;
/** Jitter added to a `Retry-After` wait: up to 10% of it, at most 1 s. */
const RETRY_AFTER_JITTER_RATIO = 0.1;
const RETRY_AFTER_JITTER_CAP_IN_MS = 1_000;

/**
 * Errors that mean the request never left: safe to re-send whatever its method. A proxy tunnel that
 * could not be opened (`ERR_TUNNEL_FAILED`, see http/proxy.ts) is one: nothing reaches the service before
 * the proxy accepts `CONNECT`.
 */
const UNSENT_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_TUNNEL_FAILED']);
/** Errors a re-send cannot change: the proxy refused the tunnel with a 4xx (407 without credentials, 403 by policy). */
const FINAL_ERRNOS = new Set(['ERR_TUNNEL_REFUSED']);

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
  const backoff = (attempt: number) => Math.min(BACKOFF_CAP_IN_MS, BACKOFF_BASE_IN_MS * 2 ** attempt) * (0.5 + random() * 0.5);

  return {
    name: 'retry',
    async sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      for (let attempt = 0; ; attempt++) {
        request.attempts = attempt + 1;
        let response: HttpResponse | undefined;
        let failure: TransportError | undefined;
        try {
          response = await next(request);
        } catch (error) {
          if (!(error instanceof TransportError)) throw error;
          failure = error;
        }

        let delay: number;
        let ambiguous = false;
        let reason: string;
        if (response !== undefined) {
          const status = response.status;
          const throttled = status === 429 || status === 503;
          if (!throttled && !((status === 502 || status === 504) && request.retrySafe)) return response;
          if (attempt >= options.maxRetries) return response;
          const retryAfter = throttled ? options.parseRetryAfter(headerValue(response.headers, 'retry-after'), Date.now()) : undefined;
          if (retryAfter !== undefined) {
            if (retryAfter > options.maxRetryAfterInMs) {
              options.logger.warn('not retrying: Retry-After is longer than maxRetryAfterInMs', { method: request.method, url: request.url, status, retryAfterInMs: retryAfter });
              return response;
            }
            delay = retryAfter + Math.floor(random() * Math.min(RETRY_AFTER_JITTER_CAP_IN_MS, retryAfter * RETRY_AFTER_JITTER_RATIO));
          } else {
            delay = backoff(attempt);
          }
          if (status === 429) gate.pause(retryAfter ?? delay);
          ambiguous = !throttled;
          reason = `HTTP ${status}`;
        } else {
          const error = failure as TransportError;
          if (error.kind !== 'network' || (error.errno !== undefined && FINAL_ERRNOS.has(error.errno))) throw error;
          const unsent = error.errno !== undefined && UNSENT_ERRNOS.has(error.errno);
          if ((!unsent && !request.retrySafe) || attempt >= options.maxRetries) throw error;
          delay = backoff(attempt);
          ambiguous = !unsent;
          reason = error.errno ?? error.message;
        }

        if (Date.now() + delay >= request.deadline) {
          // Waiting would outlive the call: give the caller the last answer now rather than later.
          if (response !== undefined) return response;
          throw failure as TransportError;
        }
        options.logger.info('retrying request', { method: request.method, url: request.url, reason, attempt: attempt + 1, delayInMs: Math.round(delay) });
        await waitFor(delay, request, `the wait before retry ${attempt + 1} (${reason})`);
        if (ambiguous) request.ambiguousRetries = (request.ambiguousRetries ?? 0) + 1;
      }
    },
  };
}
