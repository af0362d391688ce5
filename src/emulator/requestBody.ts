/**
 * A request body read on demand, against a limit: the emulator decides from the headers first (a
 * missing token, a throttled caller, a declared length over the limit) and reads the body only when
 * the request will be served. A refused body is never buffered: small ones are drained by node so the
 * connection stays usable, larger or unknown ones are discarded as they arrive and the connection is
 * closed once the answer is out (as Go's net/http and nginx do), so a client still uploading sees the
 * answer rather than a reset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyRead, RequestBody } from './dataverse/contract';

/** Unread bodies up to this size are drained so the connection can be reused; larger ones close it. */
const DRAIN_AT_MOST = 64 * 1024;
/** How long a closing connection may keep trickling a refused body in before it is cut. */
const LINGER_MS = 2_000;

/** The body of one request to the emulator's HTTPS server. */
export class IncomingBody implements RequestBody {
  private state: 'unread' | 'reading' | 'read' | 'abandoned' = 'unread';

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  /** `Content-Length` when the client declared one. */
  private declaredLength(): number | undefined {
    const raw = this.req.headers['content-length'];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  }

  read(limit: number): Promise<BodyRead> {
    if (this.state !== 'unread') return Promise.reject(new Error(`the request body was already ${this.state}`));
    const declared = this.declaredLength();
    if (declared !== undefined && declared > limit) {
      this.abandon();
      return Promise.resolve({ ok: false, limit });
    }
    this.state = 'reading';
    const req = this.req;
    return new Promise<BodyRead>((resolve, reject) => {
      let chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const settle = (outcome: BodyRead | Error): void => {
        if (settled) return;
        settled = true;
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        length += chunk.length;
        if (length > limit) {
          chunks = [];
          this.abandon();
          settle({ ok: false, limit });
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        this.state = 'read';
        settle({ ok: true, bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length) });
      });
      req.on('error', (error) => settle(error));
      req.on('close', () => {
        if (!req.complete) settle(new Error('the client closed the connection before the request body was complete'));
      });
    });
  }

  abandon(): void {
    if (this.state === 'read' || this.state === 'abandoned') return;
    const wasReading = this.state === 'reading';
    this.state = 'abandoned';
    const req = this.req;
    if (req.complete || this.res.headersSent) return;
    const declared = this.declaredLength();
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (declared ?? 0) === 0) return;
    if (wasReading || chunked || (declared ?? 0) > DRAIN_AT_MOST) {
      // The answer says the connection ends; node closes it once the answer is written.
      this.res.setHeader('Connection', 'close');
      this.res.once('finish', () => {
        const socket = req.socket;
        if (socket.destroyed) return;
        const cut = setTimeout(() => socket.destroy(), LINGER_MS);
        cut.unref();
        socket.once('close', () => clearTimeout(cut));
      });
    }
    // Whatever still arrives is discarded, never kept.
    if (!wasReading) req.on('data', () => undefined);
    req.resume();
  }
}
