/**
 * The retry rules of the library, shared by the Web API pipeline (src/http) and the token endpoint's
 * network client (src/auth): what is worth a re-send, what a re-send could duplicate, and how long to
 * wait. Each caller keeps its own loop (the Web API's also pauses the whole client after a 429); the
 * decisions are made here, once.
 */

/** Backoff when the server gives no `Retry-After`: 0.5 s, 1 s, 2 s, … capped at 30 s, with jitter. */
export const BACKOFF_BASE_IN_MS = 500;
export const BACKOFF_CAP_IN_MS = 30_000;
/** Jitter added to a `Retry-After` wait: up to 10% of it, at most 1 s. */
const RETRY_AFTER_JITTER_RATIO = 0.1;
const RETRY_AFTER_JITTER_CAP_IN_MS = 1_000;

/**
 * Errors that mean the request never left, so a re-send cannot duplicate anything whatever the
 * method. A proxy tunnel that could not be opened (`ERR_TUNNEL_FAILED`, see ./proxy.ts) is one:
 * nothing reaches the server before the proxy accepts `CONNECT`.
 */
export const UNSENT_ERRNOS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_TUNNEL_FAILED']);

/** Errors a re-send cannot change: the proxy refused the tunnel with a 4xx (407 without credentials, 403 by policy). */
export const FINAL_ERRNOS: ReadonlySet<string> = new Set(['ERR_TUNNEL_REFUSED']);

/** The statuses that mean "not processed, come back later": 429 and 503 (api-limits.md; RFC 9110 §15.6.4). */
export function isThrottleStatus(status: number): boolean {
  return status === 429 || status === 503;
}

/** Options of {@link retryDecisionForStatus}. */
export interface StatusRetryRules {
  /** Whether re-sending after an ambiguous failure cannot duplicate a write. */
  retrySafe: boolean;
  /**
   * Whether a 500 is transient. False for the Web API: a 500 from Dataverse is a real error (a
   * plug-in, duplicate detection). True for the token endpoint only (see src/auth/networkClient.ts).
   */
  retryInternalServerError?: boolean;
}

/** What to do with an answer or a failure. */
export type RetryDecision =
  /** Not worth a re-send: hand the answer (or the failure) to the caller. */
  | { retry: false }
  /**
   * Re-send. `ambiguous` when the first attempt may have been applied (a 502/504, a reset): the
   * caller records it, so that an "already exists"/"not found" after a re-send can be read right.
   */
  | { retry: true; ambiguous: boolean; throttled: boolean };

const NO: RetryDecision = { retry: false };

/**
 * Whether an HTTP answer is worth a re-send: 429 and 503 always (the request was not processed);
 * 502 and 504 (and 500 with `retryInternalServerError`) only when the request is retry-safe, since
 * the first attempt may have been applied.
 */
export function retryDecisionForStatus(status: number, rules: StatusRetryRules): RetryDecision {
  if (isThrottleStatus(status)) return { retry: true, ambiguous: false, throttled: true };
  const transient = status === 502 || status === 504 || (status === 500 && rules.retryInternalServerError === true);
  if (transient && rules.retrySafe) return { retry: true, ambiguous: true, throttled: false };
  return NO;
}

/**
 * Whether a failure without an answer is worth a re-send: failures where nothing was sent
 * ({@link UNSENT_ERRNOS}) always; resets and timeouts only when the request is retry-safe; a refused
 * proxy tunnel never.
 */
export function retryDecisionForFailure(errno: string | undefined, rules: Pick<StatusRetryRules, 'retrySafe'>): RetryDecision {
  if (errno !== undefined && FINAL_ERRNOS.has(errno)) return NO;
  const unsent = errno !== undefined && UNSENT_ERRNOS.has(errno);
  if (!unsent && !rules.retrySafe) return NO;
  return { retry: true, ambiguous: !unsent, throttled: false };
}

/**
 * Exponential backoff with jitter for attempt `attempt` (0 for the first re-send): `base * 2^attempt`
 * capped at `cap`, then scaled by a random factor in [0.5, 1) so that clients that failed together
 * do not come back together ("equal jitter").
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, baseInMs: number = BACKOFF_BASE_IN_MS, capInMs: number = BACKOFF_CAP_IN_MS): number {
  return Math.min(capInMs, baseInMs * 2 ** attempt) * (0.5 + random() * 0.5);
}

/** A `Retry-After` wait plus jitter of up to 10% (at most 1 s), so that the clients told to wait do not return in one burst. */
export function retryAfterDelay(retryAfterInMs: number, random: () => number = Math.random): number {
  return retryAfterInMs + Math.floor(random() * Math.min(RETRY_AFTER_JITTER_CAP_IN_MS, retryAfterInMs * RETRY_AFTER_JITTER_RATIO));
}
