import { waitFor } from '../wait';
import type { HttpRequest, HttpResponse, PipelinePolicy, SendRequest } from '../types';

/**
 * The client-wide pause after a 429. Service protection limits are per user (api-limits.md), so when
 * one request is told to wait, every request of this client would be refused too: they all wait for the
 * same moment instead of stampeding into more 429s (which make the service extend the wait).
 */
export class ThrottleGate {
  private until = 0;

  /** Epoch ms before which nothing is sent; 0 when open. */
  get pausedUntil(): number {
    return this.until;
  }

  pause(forMs: number): void {
    const until = Date.now() + forMs;
    if (until > this.until) this.until = until;
  }
}

/** Spread of the wake-up times after a shared pause, so the first requests after it do not land together. */
const SPREAD_IN_MS = 250;

/** Holds a request while the client-wide pause after a 429 lasts. Sits inside the concurrency limit. */
export function throttlePolicy(gate: ThrottleGate, random: () => number = Math.random): PipelinePolicy {
  async function paused(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
    let wait = gate.pausedUntil - Date.now();
    while (wait > 0) {
      await waitFor(wait + Math.floor(random() * SPREAD_IN_MS), request, 'the pause the service asked for (429 Retry-After)', wait);
      wait = gate.pausedUntil - Date.now();
    }
    return next(request);
  }
  return {
    name: 'throttle',
    sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      // The open gate (every request but those during a pause) costs no promise layer.
      if (gate.pausedUntil <= Date.now()) return next(request);
      return paused(request, next);
    },
  };
}
