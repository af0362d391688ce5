/** Why no usable response arrived. */
export type TransportFailureKind =
  /** The connection failed (reset, refused, DNS, TLS, a proxy tunnel). */
  | 'network'
  /** The call's deadline passed. */
  | 'timeout'
  /** The caller's AbortSignal fired. */
  | 'aborted'
  /** node refused the request line or a header before anything was sent. */
  | 'invalid'
  /** The response body (raw or decompressed) passed the configured limit. */
  | 'too_large'
  /** The response body could not be decoded (a broken gzip/deflate/br stream, an unknown encoding). */
  | 'undecodable';

/**
 * A request that got no usable response. Carries no request options and no headers, so nothing
 * secret can leak through it; the layer above turns it into a `DynamicsError`.
 */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    readonly kind: TransportFailureKind,
    message: string,
    /** node's error code (`ECONNRESET`, `ECONNREFUSED`, …) when there was one. */
    readonly errno?: string,
    /** How long the service asked to wait, when the failure came from a throttling wait. */
    readonly retryAfterInMs?: number,
  ) {
    super(message);
  }
}
