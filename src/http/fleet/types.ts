/**
 * The contract between the request pipeline and a fleet-wide limiter: what the pipeline asks before
 * each request goes on the wire, and what it reports once the answer is in. {@link redisThrottle} is
 * the implementation this package ships; another store can implement the same three methods.
 */

/** What the pipeline asks for before sending one request. */
export interface FleetAcquireRequest {
  /**
   * Who shares the limits: a hash of the environment host and the caller's identity (the token's
   * tenant and object id). Every process computing the same scope shares one pause, one set of slots
   * and one budget. Never a token.
   */
  readonly scope: string;
  /**
   * Fires when the caller stops waiting (its own AbortSignal, or its `timeoutInMs`): the limiter must
   * then reject promptly and give the place up.
   */
  readonly abortSignal: AbortSignal;
}

/** Permission to send one request, handed back through {@link FleetThrottle.settle}. Opaque to the pipeline. */
export interface FleetTicket {
  /** The scope the ticket was granted in. */
  readonly scope: string;
}

/** What the answer to a request told about the service's limits. Every field is optional. */
export interface FleetOutcome {
  /** The HTTP status; absent when no answer came (a reset, a timeout). */
  status?: number;
  /** A 429's `Retry-After`, in milliseconds: every process holds new requests that long. */
  retryAfterInMs?: number;
  /** `x-ms-dop-hint`: the degree of parallelism the service recommends. */
  dopHint?: number;
  /** `x-ms-ratelimit-burst-remaining-xrm-requests`: requests left in the service's window. */
  burstRemaining?: number;
  /** `x-ms-ratelimit-time-remaining-xrm-requests`: seconds of execution time left in the window. */
  timeRemainingInSeconds?: number;
}

/**
 * A limiter shared by every process that talks to one environment as one caller, passed as
 * `new DynamicsClient({ …, throttle })`. The pipeline calls {@link FleetThrottle.acquire} right
 * before each request goes on the wire (retries and the re-send after a 401 included), and
 * {@link FleetThrottle.settle} exactly once per granted ticket when the answer is in.
 *
 * A limiter that fails (rejects for another reason than the abort signal) never fails the request:
 * the pipeline logs once and sends it under the client's own limits.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { DynamicsClient, redisThrottle } from 'dynamics-odata';
 * const throttle = redisThrottle({ redis: new Redis(process.env.DYNAMICS_REDIS_URL!) });
 * const client = new DynamicsClient({ url, auth, throttle });
 * ```
 */
export interface FleetThrottle {
  /**
   * Resolves when the request may go: no fleet-wide pause is on, a slot of the fleet's concurrency is
   * free, and the budget allows it. Rejects only when `abortSignal` fires.
   */
  acquire(request: FleetAcquireRequest): Promise<FleetTicket>;
  /** Gives the ticket's slot back and reports what the answer said. Never throws; a second call for one ticket does nothing. */
  settle(ticket: FleetTicket, outcome: FleetOutcome): void;
  /** Stops the limiter's timers and gives back the slots this process holds. Requests made afterwards pass unlimited. */
  close(): Promise<void>;
}

/** True for an object shaped as a {@link FleetThrottle} (acquire, settle and close are functions): how options are checked. */
export function isFleetThrottle(value: unknown): value is FleetThrottle {
  return value !== null && typeof value === 'object' && ['acquire', 'settle', 'close'].every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}
