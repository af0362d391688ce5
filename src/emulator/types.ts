/**
 * Public types of the emulator (`dynamics-odata/emulator`). The emulator shares nothing with the
 * runtime client; it is a separate product face that applications test against offline.
 */

/** A user the emulator's Entra ID accepts for the password grant and the authorization-code flow. */
export interface EmulatorUser {
  username: string;
  password: string;
  /** Entra object id (GUID). Generated deterministically from the username when omitted. */
  objectId?: string;
  displayName?: string;
}

/** A confidential client (app registration) the emulator accepts. */
export interface EmulatorClient {
  clientId: string;
  clientSecret: string;
  /** Entra object id of the app's service principal. */
  objectId?: string;
}

/** Service protection budget per user (api-limits.md), scaled down so tests can reach it. */
export interface ServiceProtectionBudget {
  /** Requests allowed per user in `windowInMs`. Default: 6000. */
  maxRequests?: number;
  /** Sliding window length. Default: 300000 (5 minutes). At most 2^31 − 1 ms. */
  windowInMs?: number;
  /** Concurrent requests allowed per user. Default: 52. */
  maxConcurrent?: number;
  /**
   * Combined execution time allowed per user in `windowInMs`: the time from accepting each request to
   * sending its answer, summed over the requests that finished in the window. Past it, requests get 429
   * `0x80072321` until enough of that time leaves the window. Default: 1200000 (20 minutes, api-limits.md).
   */
  maxExecutionTimeInMs?: number;
  /** `Retry-After` seconds sent with a 429, at most 2,147,483 (2^31 − 1 ms). Default: 1 for the concurrency limit, otherwise time until the window frees a slot (at least 1). */
  retryAfterSeconds?: number;
}

/** One user's use of the service-protection budget, from {@link Emulator.serviceProtectionUsage}. */
export interface ServiceProtectionUsage {
  /** The user's object id (the token's `oid`). */
  user: string;
  /** Requests accepted in the current window. */
  requests: number;
  /** Combined execution time of the requests that finished in the current window, in milliseconds. */
  executionTimeInMs: number;
  /** Requests being served now. */
  inFlight: number;
}

/** Whether the emulator's Entra ID accepts a refresh token again after it was redeemed: see {@link EmulatorOptions.refreshTokenReuse}. */
export type RefreshTokenReuse = 'reject' | 'allow';

/** Options of {@link startEmulator}. Every field has a default; `startEmulator()` works as is. */
export interface EmulatorOptions {
  /** Port on 127.0.0.1. Default: 0 (a free port). Use a fixed port when token caches are reused across runs (MSAL keys embed host:port). */
  port?: number;
  /**
   * The tenant (GUID) the environment belongs to, served at `/{tenant}/…`. Default: a fixed GUID. Entra ID
   * also answers at `/common`, `/organizations`, `/consumers` and at the tenant's domains (those of the
   * users' names, e.g. `/contoso.onmicrosoft.com`); any other tenant is refused as Entra does
   * (AADSTS90002, "Tenant '…' not found").
   */
  tenantId?: string;
  /**
   * More tenants (GUIDs) Entra ID issues tokens for, e.g. to test what a token from another tenant gets:
   * the Web API accepts only tokens of `tenantId` (401 otherwise). Default: none.
   */
  additionalTenantIds?: string[];
  /** Confidential clients. Default: one client whose id and secret the emulator reports. */
  clients?: EmulatorClient[];
  /** Users for the password and authorization-code grants. Default: one user the emulator reports. */
  users?: EmulatorUser[];
  /** CSDL `$metadata` XML text, or a path to a file. Default: the compact built-in schema (core tables). */
  metadata?: string;
  /** Seed N deterministic, realistic accounts and contacts. Default: 0. */
  seed?: number;
  /** Persist the in-memory store to this JSON file (loaded at start, written on change and at close). */
  dataFile?: string;
  /** Access-token lifetime in seconds, 1 to 2,147,483 (a client's refresh timer cannot hold more). Default: 3600 (Entra's typical 60–90 minutes, fixed for tests). */
  tokenLifetimeSeconds?: number;
  /** Send `refresh_in` (seconds, 1 to 2,147,483) in token responses. Default: not sent. */
  refreshInSeconds?: number;
  /**
   * What a refresh token is worth after it has been redeemed once. Every refresh returns a new one either way.
   *
   * - `'reject'` (default): single use; presenting it again is `invalid_grant` AADSTS70000. Stricter than
   *   production, on purpose: it catches a client that keeps refreshing with a stale refresh token instead of
   *   the newest one it was given (which real Entra would forgive until the old token expires or is revoked).
   * - `'allow'`: Entra's documented behaviour ("The Microsoft identity platform doesn't revoke old refresh
   *   tokens when used to fetch new access tokens", refresh-tokens.md): an old token stays valid until it
   *   expires (90 days) or is revoked ({@link Emulator.revokeRefreshTokens}).
   */
  refreshTokenReuse?: RefreshTokenReuse;
  /** Service protection budget. Default: Dataverse's limits (6000 requests / 300 s, 52 concurrent). */
  serviceProtection?: ServiceProtectionBudget;
  /** `x-ms-dop-hint` sent on Web API responses. Default: 8. */
  dopHint?: number;
  /** Artificial latency added to each Web API response, in milliseconds (0 to 2^31 − 1). Default: 0. */
  latencyInMs?: number;
  /**
   * Server time per data operation, in milliseconds (0 to 2^31 − 1), added after the operation ran: a
   * request costs one operation; a `$batch` costs the sum of its parts, since Dataverse runs them one
   * after another with "no improved efficiency per operation"; a bulk message (`CreateMultiple`, …)
   * costs {@link bulkRecordTimeInMs} per record. It counts as execution time for service protection.
   * `latencyInMs` models the network; this models the server. Default: 0.
   */
  operationTimeInMs?: number;
  /**
   * Server time per record of a bulk message, in milliseconds (0 to 2^31 − 1, fractions allowed).
   * Default: `operationTimeInMs × 491 / 9,200`, the ratio Microsoft measured between single creates
   * (491 records a minute) and `CreateMultiple` (about 9,200) (bulk-operations.md, "Performance").
   */
  bulkRecordTimeInMs?: number;
}

/** What a fault does to a matching response. */
export type FaultKind =
  | { status: 401 }
  /** `retryAfterSeconds`: 0 to 2,147,483. Default: 1. */
  | { status: 429; retryAfterSeconds?: number }
  | { status: 500 }
  | { status: 502; html?: true }
  /** `retryAfterSeconds` (0 to 2,147,483) is sent as `Retry-After` when given. */
  | { status: 503; retryAfterSeconds?: number }
  | { status: 504 }
  /**
   * An Entra error on a token route (e.g. `interaction_required` AADSTS50076, or `invalid_grant` with
   * `suberror: 'bad_token'`), which decides whether MSAL throws `InteractionRequiredAuthError`.
   * On other routes: a Dataverse 400 with `description` as the message.
   */
  | { status: 400; error: string; suberror?: string; aadsts?: number; description?: string }
  | { reset: true }
  /** Holds the request `delayInMs` (0 to 2^31 − 1) before answering it normally. */
  | { delayInMs: number };

/** Injects faults: the next `count` requests matching `route` get `fault` instead of a normal answer. */
export interface FaultRule {
  /** Which requests: `'token'` (any token endpoint), `'api'` (any Web API request), or a method + path regex. */
  route: 'token' | 'api' | { method?: string; path: RegExp };
  fault: FaultKind;
  /** How many matching requests to affect. Default: 1. */
  count?: number;
}

/** Request counters, for asserting how many calls a client made. */
export interface EmulatorCounters {
  /** Token requests per grant type (`client_credentials`, `password`, `refresh_token`, `authorization_code`, `device_code`). */
  tokenRequests: Record<string, number>;
  /** Total token requests across grants. */
  tokenRequestsTotal: number;
  /** Web API requests per route key `METHOD /path-template` (e.g. `GET /accounts`, `POST /$batch`). */
  apiRequests: Record<string, number>;
  apiRequestsTotal: number;
  /** Requests answered with 429 by service protection (not by fault injection). */
  throttled: number;
  /** Discovery requests (openid-configuration). */
  discoveryRequests: number;
  /**
   * Requests answered by an injected fault (status or reset) instead of Entra or the Web API. They are
   * not counted in `tokenRequests` or `apiRequests`, which count what the services answered.
   */
  faultedRequests: number;
}

/** A running emulator. */
export interface Emulator {
  /** `https://127.0.0.1:PORT`: the environment URL (`DYNAMICS_RESOURCE`), also the token audience. */
  readonly url: string;
  readonly port: number;
  readonly tenantId: string;
  /** `https://127.0.0.1:PORT/<tenant>`: the authority for MSAL. */
  readonly authority: string;
  /** v1 token URL `https://127.0.0.1:PORT/<tenant>/oauth2/token` (`DYNAMICS_TOKEN_URL`). */
  readonly tokenUrl: string;
  /** v2 token URL `https://127.0.0.1:PORT/<tenant>/oauth2/v2.0/token`. */
  readonly tokenUrlV2: string;
  /** `https://127.0.0.1:PORT/api/data/v9.2`. */
  readonly apiUrl: string;
  /** PEM of the CA that signed the server certificate: pass it as the client's `ca`. */
  readonly caPem: string;
  /** The default client (first of `clients`). */
  readonly client: EmulatorClient;
  /** The default user (first of `users`). */
  readonly user: Required<Pick<EmulatorUser, 'username' | 'password'>> & EmulatorUser;
  /**
   * `DYNAMICS_*` variables pointing at this emulator, in this order: `DYNAMICS_TOKEN_URL` (v1),
   * `DYNAMICS_CLIENT_ID`, `DYNAMICS_CLIENT_SECRET`, `DYNAMICS_USER_NAME`, `DYNAMICS_PASSWORD`,
   * `DYNAMICS_RESOURCE`, `DYNAMICS_CA_FILE` (only when `caFile` is given) and `DYNAMICS_ENABLED=true`
   * (the drop-in `DynamicsService` is disabled unless it is exactly `true`).
   */
  env(caFile?: string): Record<string, string>;
  /** Live counters (reset with {@link Emulator.resetCounters}). */
  readonly counters: EmulatorCounters;
  resetCounters(): void;
  /** Add a fault rule; returns a function that removes it. */
  injectFault(rule: FaultRule): () => void;
  clearFaults(): void;
  /** Revoke every refresh token issued so far (next refresh grant fails with invalid_grant). */
  revokeRefreshTokens(): void;
  /** Change the service protection budget at run time. */
  setServiceProtection(budget: ServiceProtectionBudget): void;
  /**
   * Each user's use of the service-protection budget now: requests and execution time in the current
   * window, and requests being served. One entry per user (token `oid`) that has called the Web API.
   *
   * @example const [app] = emulator.serviceProtectionUsage(); app.inFlight
   */
  serviceProtectionUsage(): ServiceProtectionUsage[];
  /** Change artificial latency at run time (0 to 2^31 − 1 ms). */
  setLatency(latencyInMs: number): void;
  /** Change the server time per operation (and per bulk record) at run time; see {@link EmulatorOptions.operationTimeInMs}. */
  setOperationTime(operationTimeInMs: number, bulkRecordTimeInMs?: number): void;
  /** Direct access to stored rows, for test setup and assertions (bypasses HTTP and counters). */
  readonly store: EmulatorStore;
  close(): Promise<void>;
}

/** Direct access to the emulator's in-memory tables. Rows are plain objects keyed by logical column names. */
export interface EmulatorStore {
  /** Entity set names that are live. */
  entitySets(): string[];
  /** Number of rows in an entity set. */
  count(entitySet: string): number;
  /** All rows of an entity set (copies). */
  rows(entitySet: string): Record<string, unknown>[];
  /** Insert rows directly; returns their ids. Missing primary keys are generated. */
  insert(entitySet: string, rows: Record<string, unknown>[]): string[];
  /** Remove every row of an entity set (or every set when omitted). */
  clear(entitySet?: string): void;
  /**
   * Test hook: every delta token issued so far becomes expired, as when the organisation's
   * `expirechangetrackingindays` has passed; the next request with one answers "Version stamp
   * associated with the client has expired. Please perform a full sync."
   */
  expireDeltaTokens(): void;
  /**
   * Test hook: whether an entity set supports the bulk messages (CreateMultiple, UpdateMultiple,
   * UpsertMultiple). Dataverse supports them on "custom tables and many common tables, but not all";
   * every table of the emulator does until this turns it off.
   */
  setBulkMessagesSupported(entitySet: string, supported: boolean): void;
}
