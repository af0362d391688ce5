import { z } from 'zod';
import { MsalTokenProvider, type MsalTokenProviderOptions, type TokenProvider } from '../auth';
import { ConfigurationError, type ConfigurationIssue } from '../errors';
import { silentLogger, type Logger } from '../logger';
import { DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_LIMIT } from '../net/body';
import { MAX_DURATION_TEXT, MAX_TIMER_DELAY_IN_MS } from '../net/timers';
import { isFleetThrottle, type FleetThrottle } from '../http/fleet/types';
import { isEntityModel, type RuntimeModel } from './model';
import type { UntypedSchema } from './schema';
import type { RecordSchema, SchemaConstraint } from './types';

/** Options of {@link DynamicsClient}. Only `url` and `auth` are required; every default is written down in {@link DEFAULT_CLIENT_OPTIONS}. */
export interface DynamicsClientOptions<S extends SchemaConstraint<S> = UntypedSchema> {
  /**
   * The environment URL, `https://contoso.crm.dynamics.com` (a URL ending in `/api/data/v9.x` also
   * works and sets `apiVersion`). Plain `http:` is accepted only for loopback hosts.
   */
  url: string;
  /** Where bearer tokens come from: a {@link TokenProvider}, or options for an `MsalTokenProvider` built for you (its `resource` defaults to `url`, its `ca` and `logger` to the client's). */
  auth: TokenProvider | MsalTokenProviderOptions;
  /** Web API version. Default: `'9.2'`. */
  apiVersion?: string;
  /** Extra CA certificates (PEM) to trust, e.g. the emulator's `caPem`. Default: Node's built-in list. */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Time limit of one call, retry waits and the wait for a token included. Default: 300000 (5 minutes).
   * At most 2147483647 (about 24.8 days, the longest timer Node.js can arm); a larger value is refused.
   */
  timeoutInMs?: number;
  /** How many times one call may be re-sent (after 429/503, safe retries of 502/504/resets, one after a 401). Default: 10. */
  maxRetries?: number;
  /** The longest `Retry-After` the client waits for; a longer one fails at once with `ThrottledError`. Default: 300000. At most 2147483647. */
  maxRetryAfterInMs?: number;
  /**
   * The largest response body accepted, in bytes, both as received and once decompressed (gzip,
   * deflate, br are inflated off the event loop, never past this). A larger answer fails with a
   * DynamicsError `response_too_large` naming the limit, and its connection is closed. Applies to
   * every call, `$batch` included; a call can lower or raise it with its own `maxResponseBytes`.
   * Default: 134217728 (128 MiB: the largest real answers, `$metadata` of a big organisation or a
   * 5,000-row page with every column, are tens of MB). From 1 to 1073741824 (1 GiB).
   */
  maxResponseBytes?: number;
  /** Requests in flight at once. Default: the service's `x-ms-dop-hint` (5 until the first response). */
  maxConcurrency?: number;
  /** Where the client logs retries and throttling (never tokens). Default: silent. */
  logger?: Logger;
  /** Check records against `schemas` before create, update and upsert. Default: false. */
  validate?: boolean;
  /** zod schemas by entity set (the generator emits them: `{ accounts: AccountSchema }`), used when `validate` is true. */
  schemas?: { [E in keyof S]?: RecordSchema };
  /**
   * The environment's runtime model (the generator emits it as `model` next to `Schema`): column types
   * for literals, logical names, primary keys, elastic tables. Default: none (see `src/client/model.ts`).
   *
   * @example new DynamicsClient<Schema>({ url, auth, model })
   */
  model?: RuntimeModel;
  /**
   * A limiter shared by every process that calls this environment as this caller: one pause after a
   * 429, one concurrency limit, an optional request budget (see `redisThrottle`). The client's own
   * limits (`maxConcurrency`, its pause, its retries) still apply in each process. The client never
   * closes it. Default: none (each client paces itself alone).
   *
   * @example new DynamicsClient({ url, auth, throttle: redisThrottle({ redis }) })
   */
  throttle?: FleetThrottle;
}

/** The written-down defaults of {@link DynamicsClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS = {
  apiVersion: '9.2',
  /** Dataverse stops a request after 2 minutes itself; a throttled call may also wait for Retry-After. */
  timeoutInMs: 300_000,
  maxRetries: 10,
  /** The service-protection window is 300 s (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits): no honest Retry-After is longer. */
  maxRetryAfterInMs: 300_000,
  /** 128 MiB, raw and decompressed (net's DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
  /** Until the first `x-ms-dop-hint`; the Dataverse ServiceClient's `RecommendedDegreesOfParallelism` default is 5. */
  initialConcurrency: 5,
  validate: false,
} as const;

/** The one internal configuration, merged once over the defaults. */
export interface ResolvedClientConfig {
  /** `https://contoso.crm.dynamics.com` (no trailing slash). */
  origin: string;
  apiVersion: string;
  /** `https://contoso.crm.dynamics.com/api/data/v9.2/`. */
  apiRoot: string;
  tokenProvider: TokenProvider;
  ca?: string | Buffer | Array<string | Buffer>;
  timeoutInMs: number;
  maxRetries: number;
  maxRetryAfterInMs: number;
  maxResponseBytes: number;
  maxConcurrency?: number;
  logger: Logger;
  validate: boolean;
  schemas: Record<string, RecordSchema | undefined>;
  model: RuntimeModel;
  throttle?: FleetThrottle;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const isFunction = (v: unknown): boolean => typeof v === 'function';
const pem = z.union([z.string(), z.instanceof(Buffer)]);

/** What each option must be, in the words a ConfigurationError uses. */
const EXPECTED: Record<string, string> = {
  url: 'the environment URL, such as "https://contoso.crm.dynamics.com" (https; http only on loopback)',
  auth: 'a TokenProvider (an object with getToken()) or MsalTokenProvider options ({ clientId, clientSecret, tenantId | authority | tokenUrl, … })',
  apiVersion: 'a Web API version such as "9.2"',
  ca: 'PEM text or a Buffer, or an array of them',
  timeoutInMs: `a whole number of milliseconds, at least 1 and ${MAX_DURATION_TEXT}`,
  maxRetries: 'a whole number from 0 to 100',
  maxRetryAfterInMs: `a whole number of milliseconds, at least 0 and ${MAX_DURATION_TEXT}`,
  maxResponseBytes: `a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES_LIMIT} (1 GiB)`,
  maxConcurrency: 'a whole number from 1 to 1000',
  logger: 'an object with error(), warn() and info() methods',
  validate: 'true or false',
  schemas: 'an object mapping entity set names to zod schemas (objects with safeParse())',
  model: 'the generated runtime model: an object mapping entity set names to { entitySet, logicalName, primaryKey, columns }',
  throttle: 'a fleet limiter such as redisThrottle({ redis }): an object with acquire(), settle() and close()',
};

const optionsSchema = z.strictObject({
  url: z.string().refine((value) => {
    try {
      const u = new URL(value);
      return (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname))) && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }),
  auth: z.custom<TokenProvider | MsalTokenProviderOptions>((v) => v !== null && typeof v === 'object' && (isFunction((v as TokenProvider).getToken) || typeof (v as { clientId?: unknown }).clientId === 'string')),
  apiVersion: z.string().regex(/^\d+\.\d+$/).optional(),
  ca: z.union([pem, z.array(pem)]).optional(),
  timeoutInMs: z.number().int().min(1).max(MAX_TIMER_DELAY_IN_MS).optional(),
  maxRetries: z.number().int().min(0).max(100).optional(),
  maxRetryAfterInMs: z.number().int().min(0).max(MAX_TIMER_DELAY_IN_MS).optional(),
  maxResponseBytes: z.number().int().min(1).max(MAX_RESPONSE_BYTES_LIMIT).optional(),
  maxConcurrency: z.number().int().min(1).max(1000).optional(),
  logger: z.custom<Logger>((v) => v !== null && typeof v === 'object' && ['error', 'warn', 'info'].every((m) => isFunction((v as Record<string, unknown>)[m]))).optional(),
  validate: z.boolean().optional(),
  schemas: z.record(z.string(), z.custom<RecordSchema>((v) => v !== null && typeof v === 'object' && isFunction((v as RecordSchema).safeParse))).optional(),
  model: z.record(z.string(), z.custom((v) => isEntityModel(v))).optional(),
  throttle: z.custom<FleetThrottle>(isFleetThrottle).optional(),
});

/**
 * Validates the options (every problem named, nothing secret quoted) and merges them over
 * {@link DEFAULT_CLIENT_OPTIONS}.
 *
 * @throws ConfigurationError listing each bad option.
 */
export function resolveClientOptions(options: unknown): ResolvedClientConfig {
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError([{ name: 'options', expected: 'an object with at least url and auth' }], 'Invalid DynamicsClient options');
  }
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues: ConfigurationIssue[] = [];
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) issues.push({ name: key, expected: `no such option (known: ${Object.keys(EXPECTED).join(', ')})` });
        continue;
      }
      const name = String(issue.path[0] ?? 'options');
      const full = issue.path.map(String).join('.');
      if (seen.has(full)) continue;
      seen.add(full);
      issues.push({ name: full || name, expected: EXPECTED[name] ?? issue.message });
    }
    throw new ConfigurationError(issues, 'Invalid DynamicsClient options');
  }
  const o = parsed.data;
  const url = new URL(o.url);
  const origin = url.origin;
  // A URL that already names the API (`…/api/data/v9.1/`) gives the version unless apiVersion is set.
  const versionInUrl = /^\/api\/data\/v(\d+\.\d+)\/?$/.exec(url.pathname)?.[1];
  if (!versionInUrl && url.pathname !== '/' && url.pathname !== '') {
    throw new ConfigurationError([{ name: 'url', expected: `${EXPECTED.url}, without a path other than /api/data/v9.x (got path ${JSON.stringify(url.pathname)})` }], 'Invalid DynamicsClient options');
  }
  const apiVersion = o.apiVersion ?? versionInUrl ?? DEFAULT_CLIENT_OPTIONS.apiVersion;
  const logger = o.logger ?? silentLogger;

  let tokenProvider: TokenProvider;
  if (isFunction((o.auth as TokenProvider).getToken)) {
    tokenProvider = o.auth as TokenProvider;
  } else {
    const msal = o.auth as MsalTokenProviderOptions;
    const ca = msal.ca ?? (o.ca === undefined ? undefined : caToString(o.ca));
    tokenProvider = new MsalTokenProvider({ ...msal, resource: msal.resource ?? origin, ...(ca === undefined ? {} : { ca }), logger: msal.logger ?? logger });
  }

  return {
    origin,
    apiVersion,
    apiRoot: `${origin}/api/data/v${apiVersion}/`,
    tokenProvider,
    ca: o.ca,
    timeoutInMs: o.timeoutInMs ?? DEFAULT_CLIENT_OPTIONS.timeoutInMs,
    maxRetries: o.maxRetries ?? DEFAULT_CLIENT_OPTIONS.maxRetries,
    maxRetryAfterInMs: o.maxRetryAfterInMs ?? DEFAULT_CLIENT_OPTIONS.maxRetryAfterInMs,
    maxResponseBytes: o.maxResponseBytes ?? DEFAULT_CLIENT_OPTIONS.maxResponseBytes,
    maxConcurrency: o.maxConcurrency,
    logger,
    validate: o.validate ?? DEFAULT_CLIENT_OPTIONS.validate,
    schemas: (o.schemas ?? {}) as Record<string, RecordSchema | undefined>,
    model: (o.model ?? {}) as RuntimeModel,
    ...(o.throttle !== undefined ? { throttle: o.throttle } : {}),
  };
}

function caToString(ca: string | Buffer | Array<string | Buffer>): string {
  return Array.isArray(ca) ? ca.map((c) => c.toString()).join('\n') : ca.toString();
}
