/*
 * Public types of DynamicsService, the `@edirect/dynamics` API. They are structural on purpose:
 * no axios or MSAL type appears here (no public type of the library exposes either), yet a value typed as axios's `AxiosRequestConfig`
 * is accepted where `DynamicsRequestConfig` is expected (proven by test/unit/compat/types.test.ts).
 */

/**
 * The grants a {@link DynamicsService} call may use: `'password'` (the default, as in
 * `@edirect/dynamics`: the configured user's token) or `'client_credentials'` (the app's own token).
 */
export type DynamicsGrantType = 'password' | 'client_credentials';

/** A header value as axios accepts it; `null`, `undefined` and `false` leave the header out, arrays are joined with `, `. */
export type DynamicsHeaderValue = string | number | boolean | readonly string[] | null | undefined;

/**
 * An axios `AxiosHeaders` instance, seen structurally: anything with `toJSON()` giving a plain
 * header object.
 */
export interface DynamicsHeadersLike {
  toJSON(asStrings?: boolean): object;
}

/** A query parameter value: `null` and `undefined` leave the parameter out; a `Date` is sent as ISO 8601. */
export type DynamicsParamValue = string | number | boolean | Date | null | undefined;

/**
 * The part of axios's `AxiosRequestConfig` that {@link DynamicsService} honours: `headers`, `params`,
 * `timeout`, `responseType`, `signal` and `maxContentLength`. A value typed as `AxiosRequestConfig` is accepted as is;
 * its other fields (`validateStatus`, `baseURL`, `auth`, interceptors, …) have no effect, because
 * the transport is ours (retries, keep-alive, the bearer token), and a warning is logged once per
 * field. In an object literal, TypeScript rejects those fields, which says the same thing earlier.
 */
export interface DynamicsRequestConfig {
  /**
   * Extra request headers, e.g. `{ Prefer: 'odata.include-annotations="*"' }`. axios's per-method
   * groups (`common`, `get`, `post`, …) are merged as axios merges them.
   */
  headers?: { readonly [name: string]: DynamicsHeaderValue | DynamicsHeadersLike | object } | DynamicsHeadersLike;
  /** Query parameters appended to the URL (`{ $select: 'name', $top: 5 }`), or a `URLSearchParams`. */
  params?: { readonly [name: string]: DynamicsParamValue } | URLSearchParams | object;
  /** Milliseconds for the whole call, retry waits included. `0` (axios's "none") means the client's default (300000). */
  timeout?: number;
  /** `'json'` (default), `'text'` or `'arraybuffer'` (a `Buffer`). `'stream'`, `'blob'` and `'document'` are refused before sending. */
  responseType?: string;
  /** Cancels the call, retry waits included (axios's `signal`). */
  signal?: AbortSignal | object;
  /**
   * The largest response body accepted for this call, raw and decompressed, in bytes (axios's option
   * of that name; 1 to 1073741824). A larger answer fails with `response_too_large`. `-1` (axios's
   * default) or absent: the service's `maxResponseBytes`.
   */
  maxContentLength?: number;
}

/**
 * What a create (or an update/upsert) answered with `204 No Content` returns: the record's id,
 * read from the `OData-EntityId` header (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-entity-web-api), and the header itself.
 *
 * @example { id: '7d577253-3ef0-4a0a-bb7f-8335c2596e70', entityId: 'https://org.crm.dynamics.com/api/data/v9.2/accounts(7d577253-3ef0-4a0a-bb7f-8335c2596e70)' }
 */
export interface DynamicsEntityReference {
  /** The record's GUID (lower-cased); for a record addressed by an alternate key, the key as the server wrote it (`accountnumber='A1'`). */
  id: string;
  /** The `OData-EntityId` header: the record's full Web API URL. */
  entityId: string;
}

/**
 * A token as an Entra ID v1 token endpoint (`/oauth2/token`) answers, which is what
 * `@edirect/dynamics` returned. The numeric fields are decimal strings, as v1 sends them
 * (`expires_in: "3599"`); `Number(tokenSet.expires_on)` gives seconds since the epoch.
 *
 * Served from the MSAL token cache: asking twice within the token's lifetime makes one token request.
 */
export interface ITokenSet {
  /** Always `'Bearer'`. */
  token_type: string;
  /** The bearer token. Treat it as a secret: never log it. */
  access_token: string;
  /** The refresh token, for the password grant when the cache holds one; absent for client credentials (Entra issues none). */
  refresh_token?: string;
  /** Seconds until the access token expires, counted from now, as a decimal string. */
  expires_in: string;
  /** When the access token expires, in seconds since the epoch, as a decimal string. */
  expires_on: string;
  /** The resource (environment URL) the token is for: `DYNAMICS_RESOURCE`. */
  resource: string;
  /** The granted scopes, space-separated, when known. */
  scope?: string;
}
