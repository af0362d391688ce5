import { ErrorCode } from './codes';

/** The body Dataverse sends with a failed request: `{ "error": { "code": "0x…", "message": "…" } }`. */
export interface ServiceErrorBody {
  error: {
    code: string;
    message: string;
    [annotation: string]: unknown;
  };
}

/** What {@link DynamicsError} is built from. */
export interface DynamicsErrorOptions {
  /** A stable code: Dataverse's hex code (`0x80040217`) when the service sent one, otherwise one of {@link ErrorCode}. */
  code: string;
  /** HTTP status, when there was a response. */
  status?: number;
  /** The service's parsed error body, when there was one. */
  body?: unknown;
  /** `x-ms-service-request-id` / `REQ_ID` / `request-id` header of the response. */
  requestId?: string;
  /** How long the service asked us to wait (from `Retry-After`), in milliseconds. */
  retryAfterInMs?: number;
  /** HTTP method and URL (path and query only, never headers) of the request that failed. */
  request?: { method: string; url: string };
  /** The caller's correlation id for the call (`x-ms-client-request-id`), when one was sent. */
  clientRequestId?: string;
  /** Response headers, lower-cased, with nothing secret in them. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error type thrown by dynamics-odata. Subclasses exist only where a caller acts
 * differently: {@link AuthenticationError}, {@link ThrottledError}, {@link PreconditionFailedError},
 * {@link NotFoundError}, {@link NetworkError}, {@link TimeoutError}, {@link ConfigurationError}.
 *
 * It also exposes `response.status`, `response.data` and `response.headers`, so code written
 * against an `AxiosError` (as with `@edirect/dynamics`) keeps working.
 *
 * It never holds a token, a secret, a password or an `Authorization` header.
 */
export class DynamicsError extends Error {
  override name = 'DynamicsError';
  readonly code: string;
  readonly status?: number;
  readonly body?: unknown;
  readonly requestId?: string;
  readonly retryAfterInMs?: number;
  readonly request?: { method: string; url: string };
  /**
   * The correlation id the call was sent with (`x-ms-client-request-id`, the `correlationId` option or
   * that header given directly), so a failure can be matched with the caller's logs. Set by the client
   * when the error leaves it.
   */
  clientRequestId?: string;

  constructor(message: string, options: DynamicsErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
    this.body = options.body;
    this.requestId = options.requestId;
    this.retryAfterInMs = options.retryAfterInMs;
    this.request = options.request;
    if (options.clientRequestId !== undefined) this.clientRequestId = options.clientRequestId;
    // `response` is a non-enumerable compatibility view so that logs of the error stay short.
    Object.defineProperty(this, 'response', {
      enumerable: false,
      value:
        options.status === undefined
          ? undefined
          : { status: options.status, data: options.body, headers: options.headers ?? {} },
    });
  }

  /** AxiosError-compatible view: `{ status, data, headers }`, or undefined when no response arrived. */
  declare readonly response?: { status: number; data: unknown; headers: Record<string, string> };

  /** The Dataverse error body's message, when the service sent one. */
  get serviceMessage(): string | undefined {
    const b = this.body as Partial<ServiceErrorBody> | undefined;
    return typeof b?.error?.message === 'string' ? b.error.message : undefined;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      code: this.code,
      status: this.status,
      requestId: this.requestId,
      retryAfterInMs: this.retryAfterInMs,
      request: this.request,
      ...(this.clientRequestId !== undefined ? { clientRequestId: this.clientRequestId } : {}),
      body: this.body,
    };
  }
}

/**
 * What an error built to refine `err` (a more specific subclass, a clearer message) carries over from
 * it: status, body, request id, request, correlation id, and `err` itself as the cause. Internal: the
 * client's operations use it when they re-type a service error.
 */
export function carriedOver(err: DynamicsError): Omit<DynamicsErrorOptions, 'code'> {
  return {
    ...(err.status !== undefined ? { status: err.status } : {}),
    body: err.body,
    ...(err.requestId !== undefined ? { requestId: err.requestId } : {}),
    ...(err.request !== undefined ? { request: err.request } : {}),
    ...(err.clientRequestId !== undefined ? { clientRequestId: err.clientRequestId } : {}),
    cause: err,
  };
}

/** Type guard for {@link DynamicsError} and its subclasses. */
export function isDynamicsError(value: unknown): value is DynamicsError {
  return value instanceof DynamicsError;
}

export { ErrorCode };
