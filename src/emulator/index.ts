/**
 * `dynamics-odata/emulator`: a local Entra ID + Dataverse Web API over HTTPS on 127.0.0.1, for
 * offline development and tests (as Azurite is for Azure Storage).
 *
 * @example
 * ```ts
 * const emulator = await startEmulator({ seed: 100 });
 * // point the app at it: emulator.env(caFile) gives the DYNAMICS_* variables
 * await emulator.close();
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificates } from './cert';
import { createCounters, resetCounters } from './counters';
import { createDataverseService } from './dataverse';
import type { DataverseService } from './dataverse/contract';
import { isGuid } from '../net/guid';
import { DEFAULT_CLIENT, DEFAULT_TENANT_ID, DEFAULT_USER, resolveClient, resolveUser } from './entra/identities';
import { SigningKey } from './entra/jwt';
import { EntraService } from './entra/service';
import { FaultRegistry } from './faults';
import { MAX_TIMER_MS, MAX_TIMER_SECONDS, MAX_URL_CHARS } from './limits';
import { DEFAULT_METADATA_XML } from './schema/default-metadata';
import { createRequestHandler, type ServerParts } from './server';
import type { Emulator, EmulatorOptions, FaultRule, RefreshTokenReuse, ServiceProtectionBudget } from './types';

export * from './types';

/** Defaults of {@link EmulatorOptions} that are plain values. */
export const EMULATOR_DEFAULTS = {
  port: 0,
  tenantId: DEFAULT_TENANT_ID,
  client: DEFAULT_CLIENT,
  user: DEFAULT_USER,
  seed: 0,
  tokenLifetimeSeconds: 3600,
  dopHint: 8,
  latencyInMs: 0,
  operationTimeInMs: 0,
  refreshTokenReuse: 'reject',
  serviceProtection: { maxRequests: 6000, windowInMs: 300_000, maxConcurrent: 52, maxExecutionTimeInMs: 1_200_000 },
} as const;

/** How long an idle keep-alive connection stays open: IIS's default `connectionTimeout` (120 s). */
const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/** Microsoft's measurement: 491 records a minute one at a time, about 9,200 with CreateMultiple (bulk-operations.md). */
const BULK_RECORD_SHARE = 491 / 9200;

/** `operationTimeInMs` and `bulkRecordTimeInMs`, checked, the latter defaulting to the measured share of the former. */
function resolveServerTime(operation: number | undefined, bulk: number | undefined): { operationTimeInMs: number; bulkRecordTimeInMs: number } {
  const operationTimeInMs = integerOption('operationTimeInMs', operation, EMULATOR_DEFAULTS.operationTimeInMs, 0, MAX_TIMER_MS);
  if (bulk !== undefined && (typeof bulk !== 'number' || !Number.isFinite(bulk) || bulk < 0 || bulk > MAX_TIMER_MS)) {
    throw new RangeError(`EmulatorOptions.bulkRecordTimeInMs must be a number of milliseconds between 0 and ${MAX_TIMER_MS}, got ${String(bulk)}`);
  }
  return { operationTimeInMs, bulkRecordTimeInMs: bulk ?? operationTimeInMs * BULK_RECORD_SHARE };
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`EmulatorOptions.${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

/** `metadata` is XML text or a file path; text is recognised by its leading `<`. */
function resolveMetadata(metadata: string | undefined): string {
  if (metadata === undefined) return DEFAULT_METADATA_XML;
  if (typeof metadata !== 'string' || metadata.trim() === '') {
    throw new TypeError('EmulatorOptions.metadata must be CSDL XML text or a path to a $metadata file');
  }
  if (metadata.trimStart().startsWith('<')) return metadata;
  if (!existsSync(metadata)) throw new TypeError(`EmulatorOptions.metadata: no such file '${metadata}' (expected CSDL XML text or a path to a $metadata file)`);
  return readFileSync(metadata, 'utf8');
}

function resolveServiceProtection(budget: ServiceProtectionBudget | undefined): Required<Omit<ServiceProtectionBudget, 'retryAfterSeconds'>> & { retryAfterSeconds?: number } {
  const d = EMULATOR_DEFAULTS.serviceProtection;
  return {
    maxRequests: integerOption('serviceProtection.maxRequests', budget?.maxRequests, d.maxRequests, 1),
    windowInMs: integerOption('serviceProtection.windowInMs', budget?.windowInMs, d.windowInMs, 1, MAX_TIMER_MS),
    maxConcurrent: integerOption('serviceProtection.maxConcurrent', budget?.maxConcurrent, d.maxConcurrent, 1),
    maxExecutionTimeInMs: integerOption('serviceProtection.maxExecutionTimeInMs', budget?.maxExecutionTimeInMs, d.maxExecutionTimeInMs, 1),
    ...(budget?.retryAfterSeconds !== undefined
      ? { retryAfterSeconds: integerOption('serviceProtection.retryAfterSeconds', budget.retryAfterSeconds, 1, 0, MAX_TIMER_SECONDS) }
      : {}),
  };
}

/**
 * Starts the emulator: generates a CA and server certificate and a token-signing key, listens on
 * 127.0.0.1 and serves Entra ID (per tenant path) and the Dataverse Web API (`/api/data/v9.x/`).
 * Every option has a default, so `await startEmulator()` is enough. Close it with `close()`.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const port = integerOption('port', options.port, EMULATOR_DEFAULTS.port, 0, 65535);
  const tenantId = (options.tenantId ?? EMULATOR_DEFAULTS.tenantId).toLowerCase();
  if (!isGuid(tenantId)) throw new TypeError(`EmulatorOptions.tenantId must be a GUID, got '${tenantId}'`);
  const additionalTenantIds = (options.additionalTenantIds ?? []).map((t, i) => {
    if (typeof t !== 'string' || !isGuid(t)) throw new TypeError(`EmulatorOptions.additionalTenantIds[${i}] must be a GUID, got ${String(t as unknown)}`);
    return t.toLowerCase();
  });
  // Durations stay below what a timer holds (2^31 − 1 ms): a client turns them into timers.
  const tokenLifetimeSeconds = integerOption('tokenLifetimeSeconds', options.tokenLifetimeSeconds, EMULATOR_DEFAULTS.tokenLifetimeSeconds, 1, MAX_TIMER_SECONDS);
  const refreshInSeconds = options.refreshInSeconds === undefined ? undefined : integerOption('refreshInSeconds', options.refreshInSeconds, 0, 1, MAX_TIMER_SECONDS);
  const seed = integerOption('seed', options.seed, EMULATOR_DEFAULTS.seed, 0);
  const refreshTokenReuse: RefreshTokenReuse = options.refreshTokenReuse ?? EMULATOR_DEFAULTS.refreshTokenReuse;
  if (refreshTokenReuse !== 'reject' && refreshTokenReuse !== 'allow') {
    throw new TypeError(`EmulatorOptions.refreshTokenReuse must be 'reject' or 'allow', got ${JSON.stringify(refreshTokenReuse as unknown)}`);
  }
  const dopHint = integerOption('dopHint', options.dopHint, EMULATOR_DEFAULTS.dopHint, 1);
  const latencyInMs = integerOption('latencyInMs', options.latencyInMs, EMULATOR_DEFAULTS.latencyInMs, 0, MAX_TIMER_MS);
  const serverTime = resolveServerTime(options.operationTimeInMs, options.bulkRecordTimeInMs);
  const serviceProtection = resolveServiceProtection(options.serviceProtection);
  const clients = (options.clients ?? [EMULATOR_DEFAULTS.client]).map(resolveClient);
  const users = (options.users ?? [EMULATOR_DEFAULTS.user]).map(resolveUser);
  if (clients.length === 0) throw new RangeError('EmulatorOptions.clients must hold at least one client');
  if (users.length === 0) throw new RangeError('EmulatorOptions.users must hold at least one user');
  for (const [i, c] of clients.entries()) {
    if (!c.clientId || !c.clientSecret) throw new TypeError(`EmulatorOptions.clients[${i}] needs a clientId and a clientSecret`);
  }
  for (const [i, u] of users.entries()) {
    if (!u.username || typeof u.password !== 'string') throw new TypeError(`EmulatorOptions.users[${i}] needs a username and a password`);
  }
  const metadataXml = resolveMetadata(options.metadata);

  // The RSA signing key is the slowest part of a start (0.1–0.5 s); it is generated on the thread pool
  // while the certificate is made and the Dataverse service parses its metadata.
  const signingKeyPromise = SigningKey.create();
  signingKeyPromise.catch(() => undefined);
  const certs = await createCertificates();
  const counters = createCounters();
  const faults = new FaultRegistry();

  let resolveParts!: (parts: ServerParts) => void;
  let rejectParts!: (err: unknown) => void;
  const ready = new Promise<ServerParts>((resolve, reject) => {
    resolveParts = resolve;
    rejectParts = reject;
  });
  // Requests racing a failed start must not leave an unhandled rejection behind.
  ready.catch(() => undefined);
  // Room for the longest URL the Web API accepts (32,768 characters) plus headers; node's default is 16 KiB.
  const server = createServer(
    {
      key: certs.keyPem,
      cert: certs.certPem,
      maxHeaderSize: MAX_URL_CHARS + 32 * 1024,
      // Idle keep-alive connections stay open 120 s, as IIS (which serves the Web API) keeps them by
      // default, instead of node's 5 s. With 5 s, a busy emulator (a long GC, a 2-core machine under
      // load) could run the idle timer of a connection before reading the request already sent on it,
      // and the client got ECONNRESET on a write it then cannot safely re-send. Clients read the
      // `Keep-Alive: timeout=120` hint and stop reusing a connection before the server drops it.
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // Above the keep-alive timeout, as node's docs advise, so a connection waiting for its next request is never cut as a slow header.
      headersTimeout: KEEP_ALIVE_TIMEOUT_MS + 5_000,
    },
    createRequestHandler(ready),
  );
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE' ? new Error(`EmulatorOptions.port: 127.0.0.1:${port} is already in use (use another port, or 0 for a free one)`, { cause: err }) : err);
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  const origin = `https://127.0.0.1:${actualPort}`;
  const environmentUrl = origin;
  const authorizationUri = `${origin}/${tenantId}/oauth2/authorize`;
  let entra: EntraService | undefined;
  const [keyResult, dataverseResult] = await Promise.allSettled([
    signingKeyPromise,
    createDataverseService(
      { metadataXml, seed, ...(options.dataFile !== undefined ? { dataFile: options.dataFile } : {}), serviceProtection, dopHint, latencyInMs, ...serverTime },
      {
        environmentUrl,
        authorizationUri,
        // Requests reach the service only once `ready` resolved, by which time `entra` exists.
        checkAuthorization: (header) => (entra ? entra.checkAuthorization(header) : { ok: false, reason: 'signature' }),
        counters,
      },
    ),
  ]);
  if (keyResult.status === 'rejected' || dataverseResult.status === 'rejected') {
    const err: unknown = keyResult.status === 'rejected' ? keyResult.reason : (dataverseResult as PromiseRejectedResult).reason;
    rejectParts(err);
    if (dataverseResult.status === 'fulfilled') await dataverseResult.value.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  }
  const dataverse: DataverseService = dataverseResult.value;
  entra = new EntraService(
    { origin, environmentUrl, tenantId, additionalTenantIds, clients, users, tokenLifetimeSeconds, refreshTokenReuse, ...(refreshInSeconds !== undefined ? { refreshInSeconds } : {}) },
    keyResult.value,
    counters,
  );
  const entraService = entra;
  resolveParts({
    origin,
    entra: entraService,
    dataverse,
    faults,
    counters,
    faultContext: { origin, environmentUrl, authorizationUri },
  });

  const authority = `${origin}/${tenantId}`;
  const tokenUrl = `${authority}/oauth2/token`;
  const client = clients[0];
  const user = users[0];
  let closing: Promise<void> | undefined;
  const emulator: Emulator = {
    url: origin,
    port: actualPort,
    tenantId,
    authority,
    tokenUrl,
    tokenUrlV2: `${authority}/oauth2/v2.0/token`,
    apiUrl: `${origin}/api/data/v9.2`,
    caPem: certs.caPem,
    client,
    user,
    env(caFile?: string): Record<string, string> {
      return {
        DYNAMICS_TOKEN_URL: tokenUrl,
        DYNAMICS_CLIENT_ID: client.clientId,
        DYNAMICS_CLIENT_SECRET: client.clientSecret,
        DYNAMICS_USER_NAME: user.username,
        DYNAMICS_PASSWORD: user.password,
        DYNAMICS_RESOURCE: environmentUrl,
        ...(caFile !== undefined ? { DYNAMICS_CA_FILE: caFile } : {}),
        // The drop-in DynamicsService (like @edirect/dynamics) does nothing unless this is exactly `true`.
        DYNAMICS_ENABLED: 'true',
      };
    },
    counters,
    resetCounters: () => resetCounters(counters),
    injectFault: (rule: FaultRule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    revokeRefreshTokens: () => entraService.revokeRefreshTokens(),
    setServiceProtection: (budget) => dataverse.setServiceProtection(budget),
    serviceProtectionUsage: () => dataverse.serviceProtectionUsage(),
    setLatency: (ms) => dataverse.setLatency(integerOption('latencyInMs', ms, 0, 0, MAX_TIMER_MS)),
    setOperationTime: (ms, bulk) => {
      const t = resolveServerTime(ms, bulk);
      dataverse.setOperationTime(t.operationTimeInMs, t.bulkRecordTimeInMs);
    },
    store: dataverse.store,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Keep-alive sockets would hold close() open until they time out.
        server.closeAllConnections();
        await closed;
        await dataverse.close();
      })();
      return closing;
    },
  };
  return emulator;
}
