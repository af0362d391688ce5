/**
 * One HTTP exchange over node's `http`/`https`, the way every network path of the library needs it:
 * an overall deadline (not a socket idle timeout, which a server trickling one byte a second would
 * never trip), the caller's AbortSignal, a bounded body, decompression off the event loop, and every
 * way the exchange can end settled exactly once. The Web API transport (src/http, under axios), the
 * token endpoint's network client (src/auth) and the generator's downloads (src/codegen) all send
 * through it.
 */
import type * as http from 'node:http';
import { DEFAULT_MAX_RESPONSE_BYTES, inflate, readBody } from './body';
import { TransportError } from './errors';
import { timerDelay } from './timers';

/** node's `http.request` or `https.request`. */
export type RequestFunction = (options: http.RequestOptions) => http.ClientRequest;

/** One exchange for {@link sendRaw}. */
export interface RawRequest {
  method: string;
  /** Host, port and path come from here; the path goes on the wire as given. */
  hostname: string;
  port?: number;
  path: string;
  headers: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent: http.Agent | false;
  /** `Date.now()` after which the exchange fails with `timeout`, however far it got; `Infinity` for none. */
  deadline: number;
  abortSignal?: AbortSignal;
  /** Limit of the body, raw and decompressed. Default {@link DEFAULT_MAX_RESPONSE_BYTES}. */
  maxResponseBytes?: number;
  /** Extra options for the agent (a proxy tunnel's CONNECT timeout), or TLS options for `agent: false`. */
  extra?: Record<string, unknown>;
  /** Progress of the raw body, as bytes arrive. */
  onData?: (receivedBytes: number, declaredBytes: number | undefined) => void;
}

/** What {@link sendRaw} resolves with: any status, the body decompressed. */
export interface RawResponse {
  status: number;
  statusMessage: string;
  /** As node parsed them: lower-cased names. */
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends one request and reads the whole response.
 *
 * @throws TransportError `network`, `timeout`, `aborted`, `invalid` (node refused a header or the
 *   path before sending), `too_large` or `undecodable`. Never anything else.
 */
export function sendRaw(send: RequestFunction, request: RawRequest): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => exchange(send, request, resolve, reject));
}

/**
 * {@link sendRaw} with callbacks: exactly one of `resolve` and `reject` is called, once. For a caller
 * that settles a promise of its own with the answer (the axios adapter), one promise fewer per request.
 */
export function exchange(send: RequestFunction, request: RawRequest, resolve: (response: RawResponse) => void, reject: (error: TransportError) => void): void {
  const maxBytes = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const signal = request.abortSignal;
  if (signal?.aborted) {
    reject(new TransportError('aborted', 'the request was aborted'));
    return;
  }
  const remaining = request.deadline - Date.now();
  if (remaining <= 0) {
    reject(new TransportError('timeout', 'the deadline passed before the request was sent', 'ETIMEDOUT'));
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let req: http.ClientRequest | undefined;
  const settle = (error: TransportError | undefined, response?: RawResponse) => {
    if (settled) return;
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (error !== undefined) {
      req?.destroy();
      reject(error);
    } else {
      resolve(response as RawResponse);
    }
  };
  const onAbort = () => settle(new TransportError('aborted', 'the request was aborted'));

  const timeout = request.deadline === Infinity ? 0 : remaining;
  try {
    req = send({
      agent: request.agent,
      hostname: request.hostname,
      port: request.port,
      path: request.path,
      method: request.method,
      headers: request.headers,
      ...(request.extra ?? {}),
    });
  } catch (error) {
    // node validates the path and header values synchronously (ERR_UNESCAPED_CHARACTERS, ERR_INVALID_CHAR).
    const e = error as NodeJS.ErrnoException;
    settle(new TransportError('invalid', e.message, e.code));
    return;
  }
  req.on('error', (error: NodeJS.ErrnoException) => settle(new TransportError('network', error.message, error.code)));
  req.on('response', (res) => {
    const declared = Number(res.headers['content-length']);
    const declaredBytes = Number.isFinite(declared) ? declared : undefined;
    const onData = request.onData;
    const finish = (raw: Buffer): void => {
      if (settled) return;
      const encoding = res.headers['content-encoding'];
      const done = (body: Buffer) => settle(undefined, { status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body });
      // The common case (no Content-Encoding) settles in this tick: no promise layer per request.
      if (encoding === undefined || raw.length === 0) {
        done(raw);
        return;
      }
      inflate(raw, Array.isArray(encoding) ? encoding.join(',') : encoding, maxBytes).then(done, (error: unknown) =>
        settle(error instanceof TransportError ? error : new TransportError('undecodable', error instanceof Error ? error.message : String(error))),
      );
    };
    readBody(res, maxBytes, onData === undefined ? undefined : (n) => onData(n, declaredBytes), finish, (error) => settle(error));
  });
  if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
  if (timeout > 0) {
    // setTimeout's limit is 2^31-1 ms (./timers.ts); anything longer is as good as no deadline here.
    timer = setTimeout(() => settle(new TransportError('timeout', `no complete response within ${timeout} ms`, 'ETIMEDOUT')), timerDelay(timeout));
  }
  req.end(request.body ?? undefined);
}
