import type { TokenProvider } from '../auth/types';
import { DynamicsError } from '../errors';
import type { Logger } from '../logger';
import { foreignText } from '../net/excerpt';
import { describeRequest, requestLine, responseError, transportErrorToDynamicsError } from './errors';
import { bearerTokenPolicy, TokenCycler } from './policies/bearerTokenPolicy';
import { ConcurrencyLimiter, concurrencyPolicy } from './policies/concurrencyPolicy';
import { fleetPolicy } from './policies/fleetPolicy';
import type { FleetThrottle } from './fleet/types';
import { retryPolicy } from './policies/retryPolicy';
import { ThrottleGate, throttlePolicy } from './policies/throttlePolicy';
import { createTransport, type Transport } from './transport';
import { parseRetryAfter } from '../net/retryAfter';
import { TransportError, type HttpRequest, type HttpResponse, type PipelinePolicy, type SendRequest } from './types';

/** Everything {@link createPipeline} needs, already validated and defaulted by the client. */
export interface PipelineOptions {
  /** `https://org.crm.dynamics.com`, no trailing slash. */
  origin: string;
  ca?: string | Buffer | Array<string | Buffer>;
  tokenProvider: TokenProvider;
  logger: Logger;
  maxRetries: number;
  maxRetryAfterInMs: number;
  /** Fixed limit; undefined to follow `x-ms-dop-hint`. */
  maxConcurrency?: number;
  /** Limit before the first `x-ms-dop-hint` arrives. */
  initialConcurrency: number;
  /** Environment for proxy settings. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** A limiter shared by the fleet (`redisThrottle`), asked before each request goes on the wire. Default: none. */
  throttle?: FleetThrottle;
}

/** The assembled pipeline. */
export interface Pipeline {
  /**
   * Sends a request through every policy. Resolves with any response, error statuses included
   * (use {@link Pipeline.fail} to turn one into a DynamicsError); rejects only with a DynamicsError
   * (network failure, timeout, abort, token failure).
   */
  send(request: HttpRequest): Promise<HttpResponse>;
  /** The DynamicsError for a failed response of `request`. */
  fail(response: HttpResponse, request: HttpRequest): DynamicsError;
  readonly limiter: ConcurrencyLimiter;
  readonly gate: ThrottleGate;
  readonly transport: Transport;
  close(): void;
}

/**
 * Builds the pipeline, outermost first: retry (429/503 with Retry-After, safe retries of 502/504 and
 * resets) → concurrency limit (x-ms-dop-hint) → client-wide throttle pause → bearer token (one refresh
 * and re-send after a 401) → fleet limiter (only with the `throttle` option) → transport (axios over
 * one keep-alive agent). Retry waits happen outside the
 * concurrency limit so a waiting request holds no slot.
 */
export function createPipeline(options: PipelineOptions): Pipeline {
  const gate = new ThrottleGate();
  const limiter = new ConcurrencyLimiter(options.maxConcurrency ?? options.initialConcurrency);
  const transport = createTransport({ origin: options.origin, ca: options.ca, env: options.env });
  const tokens = new TokenCycler(options.tokenProvider, options.logger);
  const policies: PipelinePolicy[] = [
    retryPolicy(gate, { maxRetries: options.maxRetries, maxRetryAfterInMs: options.maxRetryAfterInMs, logger: options.logger, parseRetryAfter }),
    concurrencyPolicy(limiter, options.maxConcurrency === undefined),
    throttlePolicy(gate),
    bearerTokenPolicy(tokens),
    // Innermost, after the token: every request the service counts passes it once, and its scope is the token's caller.
    ...(options.throttle !== undefined ? [fleetPolicy(options.throttle, { origin: options.origin, logger: options.logger })] : []),
  ];
  const chain = composePolicies(policies, (request) => transport.send(request));

  return {
    limiter,
    gate,
    transport,
    send(request: HttpRequest): Promise<HttpResponse> {
      let sent: Promise<HttpResponse>;
      try {
        sent = chain(request);
      } catch (error) {
        // Policies return promises; one that throws instead is handled like one that rejects.
        sent = Promise.reject(error);
      }
      return sent.catch((error: unknown) => {
        if (error instanceof TransportError) throw transportErrorToDynamicsError(error, request);
        if (error instanceof DynamicsError) throw error;
        // Nothing else should reach here; if it does, keep only its message (it may hold a config object).
        throw new DynamicsError(`${requestLine(request)}: ${foreignText(error instanceof Error ? error.message : String(error))}`, {
          code: 'internal_error',
          request: describeRequest(request),
        });
      });
    },
    fail(response: HttpResponse, request: HttpRequest): DynamicsError {
      return responseError(response, request);
    },
    close() {
      transport.close();
    },
  };
}

/** Chains policies so that each one's `next` is the one after it; computed once, not per request. */
export function composePolicies(policies: readonly PipelinePolicy[], transport: SendRequest): SendRequest {
  let next = transport;
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i];
    const inner = next;
    next = (request) => policy.sendRequest(request, inner);
  }
  return next;
}
