/**
 * Downloads for live generation: `$metadata` and option-set metadata over node:https with a
 * bearer token. node:https rather than axios because the generator shares nothing with the
 * runtime's HTTP stack (STYLE.md), and streaming lets it report progress on 4 MB+ documents.
 */
import * as https from 'node:https';
import * as zlib from 'node:zlib';
import { CodegenError } from './errors';

/** Progress of one download, reported as bytes arrive. */
export interface DownloadProgress {
  /** What is being downloaded, e.g. `$metadata`. */
  what: string;
  receivedBytes: number;
  /** From `Content-Length`, when the server sent one (compressed size when gzip is used). */
  totalBytes?: number;
  done: boolean;
}

export interface DownloadOptions {
  /** Bearer token; never logged or put into an error. */
  token: string;
  accept: string;
  /** PEM of CA certificates to trust (the emulator's, a corporate proxy's). Default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default 120000. */
  timeoutInMs?: number;
  what: string;
  onProgress?: (progress: DownloadProgress) => void;
  abortSignal?: AbortSignal;
}

export interface DownloadResult {
  status: number;
  body: string;
}

/** GET `url`; resolves with the status and the (decompressed) body text for any status. */
export function download(url: string, options: DownloadOptions): Promise<DownloadResult> {
  const u = new URL(url);
  if (u.protocol !== 'https:') return Promise.reject(new CodegenError('invalid_option', `url: expected an https:// URL, got ${u.protocol}//${u.host}`));
  return new Promise<DownloadResult>((resolve, reject) => {
    const req = https.request(
      u,
      {
        method: 'GET',
        headers: {
          Authorization: `Bearer ${options.token}`,
          Accept: options.accept,
          'Accept-Encoding': 'gzip',
          'OData-MaxVersion': '4.0',
          'OData-Version': '4.0',
        },
        ca: options.ca,
        timeout: options.timeoutInMs ?? 120_000,
        signal: options.abortSignal,
      },
      (res) => {
        const total = Number(res.headers['content-length']);
        const totalBytes = Number.isFinite(total) && total > 0 ? total : undefined;
        let received = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          chunks.push(chunk);
          options.onProgress?.({ what: options.what, receivedBytes: received, ...(totalBytes !== undefined ? { totalBytes } : {}), done: false });
        });
        res.on('error', (err) => reject(new CodegenError('download_failed', `GET ${u.origin}${u.pathname}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          options.onProgress?.({ what: options.what, receivedBytes: received, ...(totalBytes !== undefined ? { totalBytes } : {}), done: true });
          let buf = Buffer.concat(chunks);
          try {
            if (/\bgzip\b/i.test(String(res.headers['content-encoding'] ?? ''))) buf = zlib.gunzipSync(buf);
          } catch (err) {
            reject(new CodegenError('download_failed', `GET ${u.origin}${u.pathname}: the gzip body could not be decompressed`, { cause: err }));
            return;
          }
          resolve({ status: res.statusCode ?? 0, body: buf.toString('utf8') });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no response within ${options.timeoutInMs ?? 120_000} ms`)));
    req.on('error', (err) => reject(new CodegenError('download_failed', `GET ${u.origin}${u.pathname}: ${err.message}`, { cause: err })));
    req.end();
  });
}

/** A short, token-free description of a failed response for error messages. */
export function describeFailure(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.message === 'string') return `${status} ${String(parsed.error.code ?? '')}: ${parsed.error.message}`.slice(0, 300);
  } catch {
    // not JSON: fall through to the text
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return `${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}
