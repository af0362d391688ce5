import { DynamicsError, ErrorCode, TimeoutError } from '../errors';
import { requireCallDuration } from './durations';
import { DEFAULT_ACQUISITION_TIMEOUT_IN_MS } from './retryOptions';

/** Per-call options of {@link SingleFlight.run}: the `forceRefresh`, `abortSignal` and `timeoutInMs` of `getToken`. */
export interface FlightOptions {
  /** Start a new acquisition rather than join a normal one in flight (see {@link SingleFlight.run}). */
  forceRefresh?: boolean;
  /** Ends this caller's wait; the shared acquisition carries on for the others. */
  abortSignal?: AbortSignal;
  /** Ends this caller's wait after this many milliseconds; the shared acquisition carries on for the others. */
  timeoutInMs?: number;
}

/** What an acquisition is handed: its own signal and deadline, which no caller controls. */
export interface Acquisition {
  /** Aborted when the acquisition's deadline passes; never by a caller. */
  readonly signal: AbortSignal;
  /** `Date.now()` after which the acquisition has failed. */
  readonly deadline: number;
}

/** Options of a {@link SingleFlight}. */
export interface SingleFlightOptions {
  /** Deadline of each shared acquisition; past it every waiting caller gets a `TimeoutError`. Default: {@link DEFAULT_ACQUISITION_TIMEOUT_IN_MS}. */
  acquisitionTimeoutInMs?: number;
  /** The option to name in that error. Default: `acquisitionTimeoutInMs`. */
  optionName?: string;
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
 * - Each caller races the shared acquisition against its own `abortSignal` and `timeoutInMs`: they
 *   end that caller's wait only, whenever it started waiting, and never reach the acquisition.
 * - The acquisition has its own deadline (`acquisitionTimeoutInMs`) and its own AbortSignal, aborted
 *   at that deadline: past it every waiting caller gets a `TimeoutError` and the slot is free again.
 * - Once an acquisition settles it is forgotten: after a failure the next call starts afresh.
 *
 * Keeps nothing but the promises in flight, in private fields (their values are tokens).
 *
 * @example
 * ```ts
 * const flights = new SingleFlight<AccessToken>({ acquisitionTimeoutInMs: 120_000 });
 * const token = await flights.run((forced, { signal }) => fetchToken(forced, signal), { forceRefresh, abortSignal, timeoutInMs });
 * ```
 */
export class SingleFlight<T> {
  #normal?: Promise<T>;
  #forced?: Promise<T>;
  readonly #timeoutInMs: number;
  readonly #optionName: string;

  constructor(options: SingleFlightOptions = {}) {
    this.#timeoutInMs = options.acquisitionTimeoutInMs ?? DEFAULT_ACQUISITION_TIMEOUT_IN_MS;
    this.#optionName = options.optionName ?? 'acquisitionTimeoutInMs';
  }

  /**
   * Joins the acquisition in flight, or starts one with `start(forced, acquisition)`.
   *
   * @throws DynamicsError with code `aborted` when `abortSignal` is or becomes aborted before the
   *   result arrives, `TimeoutError` (code `timeout`) when `timeoutInMs` passes first (both for this
   *   caller only), `invalid_argument` for a `timeoutInMs` that is not 1 to 2^31 - 1 ms; a
   *   `TimeoutError` when the acquisition's own deadline passes; otherwise whatever `start` rejected with.
   */
  run(start: (forced: boolean, acquisition: Acquisition) => Promise<T>, options: FlightOptions = {}): Promise<T> {
    try {
      requireCallDuration(options.timeoutInMs, 'getToken options.timeoutInMs');
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.abortSignal?.aborted) return Promise.reject(abortError());
    let flight: Promise<T>;
    if (options.forceRefresh) {
      flight = this.#forced ??= this.#launch(start, true);
    } else {
      flight = this.#forced ?? (this.#normal ??= this.#launch(start, false));
    }
    return raceCaller(flight, options.abortSignal, options.timeoutInMs);
  }

  #launch(start: (forced: boolean, acquisition: Acquisition) => Promise<T>, forced: boolean): Promise<T> {
    const controller = new AbortController();
    const acquisition: Acquisition = { signal: controller.signal, deadline: Date.now() + this.#timeoutInMs };
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new TimeoutError(`The token request did not complete within ${this.#optionName} (${this.#timeoutInMs} ms); the next call starts a new one`, { code: ErrorCode.timeout });
        controller.abort(error);
        reject(error);
      }, this.#timeoutInMs);
      // The deadline alone must not keep a process alive that has nothing else to do.
      timer.unref?.();
    });
    let started: Promise<T>;
    try {
      started = start(forced, acquisition);
    } catch (error) {
      // A synchronous throw is shared like a rejection, and still clears the slot below.
      started = Promise.reject(error);
    }
    const tracked: Promise<T> = Promise.race([started, expired]).finally(() => {
      clearTimeout(timer);
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
  return raceCaller(promise, signal, undefined);
}

/**
 * Waits for `promise`, or rejects as soon as `signal` aborts ({@link abortError}) or `timeoutInMs`
 * passes (`TimeoutError`, code `timeout`), without cancelling `promise` (other callers may be
 * waiting for it). Removes its listener and timer once settled.
 */
export function raceCaller<T>(promise: Promise<T>, signal: AbortSignal | undefined, timeoutInMs: number | undefined): Promise<T> {
  if (!signal && timeoutInMs === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    };
    const onAbort = (): void => {
      done();
      reject(abortError());
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutInMs !== undefined) {
      timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`Waited ${timeoutInMs} ms (timeoutInMs) for the token without getting it; the token request goes on for other callers`, { code: ErrorCode.timeout }));
      }, timeoutInMs);
    }
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
