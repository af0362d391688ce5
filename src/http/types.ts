/**
 * The request pipeline's own types. Nothing here mentions axios: the transport is the only place
 * that knows it, so no public type ever exposes it.
 */

import type { HttpMethod } from '../net/method';

export type { HttpMethod } from '../net/method';
export { TransportError, type TransportFailureKind } from '../net/errors';
export { headerValue } from '../net/headers';

/** One logical call travelling through the pipeline; policies may re-send it (retries). */
export interface HttpRequest {
  method: HttpMethod;
  /** Absolute URL on the client's origin, exactly as it goes on the wire (nextLinks unmodified). */
  url: string;
  /** Complete request headers, one object per call: policies (the bearer token) write into it. */
  headers: Record<string, string>;
  body?: string | Buffer;
  /** The caller's signal: cancels the transport and every wait (queue, throttle pause, retry). */
  abortSignal?: AbortSignal;
  /** `Date.now()` value after which the call fails with a timeout; `Infinity` for none. */
  deadline: number;
  /**
   * Whether re-sending after an ambiguous failure (502, 504, reset, timeout) cannot duplicate a write:
   * reads, PUT, DELETE, and PATCH with `If-Match`/`If-None-Match`.
   */
  retrySafe: boolean;
  /** Set by the retry policy: how many times the call was re-sent after an ambiguous failure (the first attempt may have been applied). */
  ambiguousRetries?: number;
  /** Set by the retry policy: how many attempts were made. */
  attempts?: number;
  /** Limit of the response body, raw and decompressed. Default: net's `DEFAULT_MAX_RESPONSE_BYTES`. */
  maxResponseBytes?: number;
  /**
   * Whether a response already reports what the service did, whatever its status, so that re-sending
   * could repeat work that was done: a `$batch` answered with a multipart body (a 503 part after a
   * committed change set makes the whole answer 503). Such a response is never re-sent.
   */
  isFinal?: (response: HttpResponse) => boolean;
}

/** A response as the transport read it: the body is raw bytes, decompressed. */
export interface HttpResponse {
  status: number;
  /** Lower-cased header names, as node reports them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
}

/** The next stage of the pipeline. */
export type SendRequest = (request: HttpRequest) => Promise<HttpResponse>;

/** A named stage of the pipeline, in the style of Azure's core-rest-pipeline. */
export interface PipelinePolicy {
  readonly name: string;
  sendRequest(request: HttpRequest, next: SendRequest): Promise<HttpResponse>;
}
