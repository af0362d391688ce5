/**
 * Downloads for live generation: `$metadata` and option-set metadata with a bearer token, through
 * the library's one network layer (src/net: deadline, abort, bounded and decompressed body), not the
 * runtime client: the generator shares nothing with it but that leaf, and it reports progress on
 * 4 MB+ documents as bytes arrive.
 */
import { constants as bufferConstants } from 'node:buffer';
import * as https from 'node:https';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../net/body';
import { parseJson } from '../net/body';
import { TransportError } from '../net/errors';
import { clip, excerpt } from '../net/excerpt';
import { redact } from '../net/redact';
import { sendRaw, type RequestFunction } from '../net/request';
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

/** The default limit of one download, raw and decompressed: 128 MiB (the largest real `$metadata` documents are tens of MB). */
export const DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES = DEFAULT_MAX_RESPONSE_BYTES;

/** The largest `maxResponseBytes` accepted: a body must still fit in one JavaScript string once decoded. */
export const MAX_RESPONSE_BYTES_LIMIT = bufferConstants.MAX_STRING_LENGTH;

export interface DownloadOptions {
  /** Bearer token; never logged or put into an error. */
  token: string;
  accept: string;
  /** PEM of CA certificates to trust (the emulator's, a corporate proxy's). Default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Deadline of the whole download. Default 120000. */
  timeoutInMs?: number;
  /** Limit of the body, raw and decompressed. Default: {@link DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES} (128 MiB). */
  maxResponseBytes?: number;
  what: string;
  onProgress?: (progress: DownloadProgress) => void;
  abortSignal?: AbortSignal;
}

export interface DownloadResult {
  status: number;
  body: string;
}

/** GET `url`; resolves with the status and the (decompressed) body text for any status. */
export async function download(url: string, options: DownloadOptions): Promise<DownloadResult> {
  const u = new URL(url);
  if (u.protocol !== 'https:') throw new CodegenError('invalid_option', `url: expected an https:// URL, got ${u.protocol}//${u.host}`);
  const where = `GET ${u.origin}${u.pathname}`;
  const agent = new https.Agent({ keepAlive: false, ...(options.ca === undefined ? {} : { ca: options.ca }) });
  let received = 0;
  let total: number | undefined;
  try {
    const res = await sendRaw(https.request as RequestFunction, {
      method: 'GET',
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port === '' ? undefined : Number(u.port),
      path: `${u.pathname}${u.search}`,
      headers: {
        Authorization: `Bearer ${options.token}`,
        Accept: options.accept,
        'Accept-Encoding': 'gzip',
        'OData-MaxVersion': '4.0',
        'OData-Version': '4.0',
      },
      agent,
      deadline: Date.now() + (options.timeoutInMs ?? 120_000),
      abortSignal: options.abortSignal,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES,
      onData: (bytes, declared) => {
        received = bytes;
        total = declared !== undefined && declared > 0 ? declared : undefined;
        options.onProgress?.({ what: options.what, receivedBytes: bytes, ...(total !== undefined ? { totalBytes: total } : {}), done: false });
      },
    });
    options.onProgress?.({ what: options.what, receivedBytes: received, ...(total !== undefined ? { totalBytes: total } : {}), done: true });
    return { status: res.status, body: res.body.toString('utf8') };
  } catch (error) {
    const message = error instanceof TransportError ? error.message : error instanceof Error ? error.message : String(error);
    if (error instanceof TransportError && error.kind === 'too_large') {
      throw new CodegenError('response_too_large', `${where}: ${message} (the generator's option maxResponseBytes, --max-response-bytes on the command line)`);
    }
    throw new CodegenError('download_failed', `${where}: ${redact(message)}`);
  } finally {
    agent.destroy();
  }
}

/** A short, token-free description of a failed response for error messages. */
export function describeFailure(status: number, body: string): string {
  const parsed = parseJson(body);
  if (parsed.ok) {
    const error = (parsed.value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    // Server text printed by the CLI: one line, no control characters (no terminal escape sequences), bounded.
    // eslint-disable-next-line no-control-regex
    if (error && typeof error.message === 'string') return clip(redact(`${status} ${String(error.code ?? '')}: ${error.message}`.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\s]+/g, ' ')), 300);
  }
  const text = excerpt(body);
  return `${status}${text ? `: ${text}` : ''}`;
}
