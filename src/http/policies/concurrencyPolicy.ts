import { timerDelay } from '../../net/timers';
import { TransportError, type HttpRequest, type HttpResponse, type PipelinePolicy, type SendRequest } from '../types';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
  cancelled: boolean;
}

/**
 * A counting semaphore whose limit can change while requests are in flight. Waiters are served in
 * order; a waiter whose call was aborted or timed out gives up its place.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly queue: Waiter[] = [];
  private head = 0;

  constructor(private limitValue: number) {}

  get limit(): number {
    return this.limitValue;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Changes the limit; raising it lets queued requests start at once. */
  setLimit(limit: number): void {
    this.limitValue = Math.max(1, Math.floor(limit));
    this.drain();
  }

  /** Takes a slot if one is free (the hot path, no promise). */
  tryAcquire(): boolean {
    if (this.active < this.limitValue && this.head === this.queue.length) {
      this.active++;
      return true;
    }
    return false;
  }

  /** Waits for a slot, giving up when the call is aborted or its deadline passes. */
  acquire(request: Pick<HttpRequest, 'abortSignal' | 'deadline'>): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    const signal = request.abortSignal;
    if (signal?.aborted) return Promise.reject(new TransportError('aborted', 'the request was aborted while queued'));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        cancelled: false,
        resolve: () => {
          cleanup();
          resolve();
        },
        reject: (error) => {
          waiter.cancelled = true;
          cleanup();
          reject(error);
        },
      };
      const onAbort = () => waiter.reject(new TransportError('aborted', 'the request was aborted while queued'));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (request.deadline !== Infinity) {
        timer = setTimeout(
          () => waiter.reject(new TransportError('timeout', 'timeoutInMs ran out while waiting for a free connection slot')),
          // Clamped: node fires a delay above 2^31-1 ms at once.
          timerDelay(request.deadline - Date.now()),
        );
      }
      this.queue.push(waiter);
    });
  }

  release(): void {
    this.active--;
    this.drain();
  }

  private drain(): void {
    while (this.active < this.limitValue && this.head < this.queue.length) {
      const waiter = this.queue[this.head++];
      if (waiter.cancelled) continue;
      this.active++;
      waiter.resolve();
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Limits requests in flight. By default the limit follows the `x-ms-dop-hint` header the service sends
 * (send-parallel-requests.md: "use it as the degree of parallelism"); a fixed `maxConcurrency` overrides it.
 */
export function concurrencyPolicy(limiter: ConcurrencyLimiter, followDopHint: boolean): PipelinePolicy {
  let lastHint: string | undefined;
  return {
    name: 'concurrency',
    async sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse> {
      if (!limiter.tryAcquire()) await limiter.acquire(request);
      try {
        const response = await next(request);
        if (followDopHint) {
          const hint = response.headers['x-ms-dop-hint'];
          if (typeof hint === 'string' && hint !== lastHint) {
            lastHint = hint;
            const n = Number(hint);
            if (Number.isInteger(n) && n > 0 && n <= 1000) limiter.setLimit(n);
          }
        }
        return response;
      } finally {
        limiter.release();
      }
    },
  };
}
