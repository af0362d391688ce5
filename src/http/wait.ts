import { timerDelay } from '../net/timers';
import { TransportError, type HttpRequest } from './types';

/**
 * Waits `ms` milliseconds unless the call's AbortSignal fires or its deadline passes first, so that
 * neither a retry wait nor a throttling pause can outlive the caller's patience.
 *
 * @throws TransportError `aborted` or `timeout`.
 */
export function waitFor(ms: number, request: Pick<HttpRequest, 'abortSignal' | 'deadline'>, what: string, retryAfterInMs?: number): Promise<void> {
  const signal = request.abortSignal;
  if (signal?.aborted) return Promise.reject(new TransportError('aborted', `the request was aborted before ${what}`));
  const remaining = request.deadline - Date.now();
  const timedOut = ms >= remaining;
  const delay = timedOut ? Math.max(0, remaining) : ms;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new TransportError('aborted', `the request was aborted during ${what}`, undefined, retryAfterInMs));
    };
    // Clamped: node fires a delay above 2^31-1 ms at once, which would turn a long wait into none.
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      if (timedOut) reject(new TransportError('timeout', `timeoutInMs ran out during ${what}`, undefined, retryAfterInMs));
      else resolve();
    }, timerDelay(delay));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
