import { DynamicsError, ErrorCode } from '../errors';

/** Per-call options of {@link SingleFlight.run}: the `forceRefresh` and `abortSignal` of `getToken`. */
export interface FlightOptions {
  /** Start a new acquisition rather than join a normal one in flight (see {@link SingleFlight.run}). */
  forceRefresh?: boolean;
  /** Ends this caller's wait; the shared acquisition carries on for the others. */
  abortSignal?: AbortSignal;
}

/**
 * One token acquisition for all concurrent callers, as the Azure SDK's token cycler does
 * (`core-rest-pipeline/src/util/tokenCycler.ts`): a hundred requests that find no token make one
 * token request, not a hundred. Shared by {@link MsalTokenProvider} and {@link fromTokenCredential}.
 *
 * - Callers that arrive while an acquisition runs wait for it and get its result or its failure.
 * - A forced refresh (after a 401, for instance) never joins a normal acquisition, whose token may
 *   predate whatever made the caller force; it starts its own, and normal callers that arrive
 *   meanwhile join the forced one, which is the freshest.
 * - A caller's `abortSignal` rejects that caller's wait only; the acquisition goes on for the others.
 * - Once an acquisition settles it is forgotten: after a failure the next call starts afresh.
 *
 * Keeps nothing but the promises in flight, in private fields (their values are tokens).
 *
 * @example
 * ```ts
 * const flights = new SingleFlight<AccessToken>();
 * const token = await flights.run((forced) => fetchToken(forced), { forceRefresh, abortSignal });
 * ```
 */
export class SingleFlight<T> {
  #normal?: Promise<T>;
  #forced?: Promise<T>;

  /**
   * Joins the acquisition in flight, or starts one with `start(forced)`.
   *
   * @throws DynamicsError with code `aborted` when `abortSignal` is or becomes aborted before the
   *   result arrives (for this caller only); otherwise whatever `start` rejected with.
   */
  run(start: (forced: boolean) => Promise<T>, options: FlightOptions = {}): Promise<T> {
    if (options.abortSignal?.aborted) return Promise.reject(abortError());
    let flight: Promise<T>;
    if (options.forceRefresh) {
      flight = this.#forced ??= this.#launch(start, true);
    } else {
      flight = this.#forced ?? (this.#normal ??= this.#launch(start, false));
    }
    return raceAbort(flight, options.abortSignal);
  }

  #launch(start: (forced: boolean) => Promise<T>, forced: boolean): Promise<T> {
    let started: Promise<T>;
    try {
      started = start(forced);
    } catch (error) {
      // A synchronous throw is shared like a rejection, and still clears the slot below.
      started = Promise.reject(error);
    }
    const tracked: Promise<T> = started.finally(() => {
      if (forced) {
        if (this.#forced === tracked) this.#forced = undefined;
      } else if (this.#normal === tracked) this.#normal = undefined;
    });
    return tracked;
  }
}

/** The error an aborted token wait rejects with. */
export function abortError(): DynamicsError {
  return new DynamicsError('The token request was aborted', { code: ErrorCode.aborted });
}

/** @throws DynamicsError with code `aborted` when `signal` is aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError();
}

/**
 * Waits for `promise`, or rejects with {@link abortError} as soon as `signal` aborts, without
 * cancelling `promise` (other callers may be waiting for it).
 */
export function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
