import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCounters, EmulatorStore, ServiceProtectionBudget, ServiceProtectionUsage } from '../types';

/**
 * The seam between the emulator's HTTPS server (with Entra ID) and its Dataverse Web API.
 * The server owns TLS, routing, fault injection and tokens; the Dataverse service owns
 * everything under `/api/data/`.
 */

/** Claims of an access token the emulator's Entra ID issued, after its signature and expiry were checked. */
export interface VerifiedAccessToken {
  /** Object id of the user or of the app's service principal. */
  oid: string;
  tid: string;
  /** Client (application) id that requested the token. */
  appid: string;
  aud: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** `app` for client credentials, `user` for user grants. */
  kind: 'app' | 'user';
  /** User principal name for user tokens. */
  upn?: string;
}

export type TokenCheck =
  | { ok: true; token: VerifiedAccessToken }
  | { ok: false; reason: 'missing' | 'malformed' | 'signature' | 'expired' | 'audience' };

/** What the server hands to the Dataverse service. */
export interface DataverseContext {
  /** `https://127.0.0.1:PORT`: the environment URL and the expected token audience. */
  environmentUrl: string;
  /** Authorization endpoint sent in `WWW-Authenticate: Bearer authorization_uri=…` on a 401. */
  authorizationUri: string;
  /** Verifies the `Authorization` header value (the full `Bearer …` string, or undefined). */
  checkAuthorization(header: string | undefined): TokenCheck;
  /** Shared, mutable counters: the service increments `apiRequests`, `apiRequestsTotal` and `throttled`. */
  counters: EmulatorCounters;
}

/** Options the Dataverse service takes (resolved from {@link EmulatorOptions}). */
export interface DataverseOptions {
  /** CSDL XML text (already read from a file if a path was given). */
  metadataXml: string;
  seed: number;
  dataFile?: string;
  serviceProtection: Required<Omit<ServiceProtectionBudget, 'retryAfterSeconds'>> & { retryAfterSeconds?: number };
  dopHint: number;
  latencyInMs: number;
  /** Server time per operation and per bulk record (see EmulatorOptions.operationTimeInMs). */
  operationTimeInMs: number;
  bulkRecordTimeInMs: number;
}

/** The outcome of {@link RequestBody.read}: the whole body, or `ok: false` when it is larger than the limit. */
export type BodyRead = { ok: true; bytes: Buffer } | { ok: false; limit: number };

/**
 * A request's body, read only when the request is going to be served: a request refused from its
 * headers (no token, throttled) is answered without reading it.
 */
export interface RequestBody {
  /**
   * Reads the whole body, at most `limit` bytes. A larger body (declared or streamed) resolves
   * `ok: false` with nothing buffered; the connection closes after the answer. Rejects when the client
   * goes away mid-body.
   */
  read(limit: number): Promise<BodyRead>;
  /** Answers without the body: it is discarded as it arrives (large or unknown ones close the connection after the answer). */
  abandon(): void;
}

/** The Dataverse Web API half of the emulator. */
export interface DataverseService {
  /**
   * Answers one request under `/api/data/`: checks its URL length and bearer token from the head,
   * then reads `body` (at most `MAX_REQUEST_BYTES`, 128 MiB). Never throws: errors become Dataverse-shaped responses.
   */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, body: RequestBody): Promise<void>;
  readonly store: EmulatorStore;
  setServiceProtection(budget: ServiceProtectionBudget): void;
  /** Each user's use of the service-protection budget now. */
  serviceProtectionUsage(): ServiceProtectionUsage[];
  setLatency(latencyInMs: number): void;
  setOperationTime(operationTimeInMs: number, bulkRecordTimeInMs: number): void;
  /** Flushes `dataFile` if set. */
  close(): Promise<void>;
}

/** Implemented in `./index.ts`. */
export type CreateDataverseService = (options: DataverseOptions, context: DataverseContext) => Promise<DataverseService>;
