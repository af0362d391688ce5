/**
 * Building the MSAL application of a provider: its configuration, its logger bridge and its cache
 * plugin. Which application class backs it is decided in ../publicClient.ts, the one module that
 * knows the public client.
 */
import { LogLevel, type Configuration, type ICachePlugin } from '@azure/msal-node';
import { DynamicsError } from '../../errors';
import type { Logger } from '../../logger';
import { isPartitionedTokenCache, type PartitionedCachePlugin } from '../cache/types';
import { toDynamicsError } from '../errors';
import type { HttpsNetworkClient } from '../networkClient';
import { createConfidentialApp, createPublicApp, type MsalApp } from '../publicClient';
import { isConfidential, type MsalProviderConfig } from './options';

/**
 * The cache plugin of a provider: the one given, or, for a partitioned cache (Redis), a plugin bound
 * to this provider's partition, so that app-only and user tokens never share a blob
 * (msal-node `docs/caching.md`, distributed caches).
 */
export function cachePluginFor(config: MsalProviderConfig): PartitionedCachePlugin | undefined {
  const cache = config.cache;
  if (!cache) return undefined;
  if (!isPartitionedTokenCache(cache)) return cache;
  return cache.forPartition({
    kind: config.grant === 'client_credentials' ? 'app' : 'user',
    clientId: config.clientId,
    tenantId: config.tenant,
    username: config.grant === 'password' ? config.username : undefined,
  });
}

/** What {@link createMsalApp} wires into the application besides the configuration. */
export interface MsalAppParts {
  network: HttpsNetworkClient;
  plugin?: PartitionedCachePlugin;
  redact: (text: string) => string;
}

/**
 * A confidential client when the provider has a secret or a certificate, a public one otherwise.
 *
 * @throws ConfigurationError when the public client is needed and the installed msal-node lacks it;
 *   AuthenticationError (redacted) when MSAL refuses the configuration.
 */
export function createMsalApp(config: MsalProviderConfig, parts: MsalAppParts): MsalApp {
  const msalConfig: Configuration = {
    auth: {
      clientId: config.clientId,
      authority: config.authority,
      knownAuthorities: [...config.knownAuthorities],
      ...(config.clientSecret ? { clientSecret: config.clientSecret } : {}),
      ...(config.clientCertificate ? { clientCertificate: { ...config.clientCertificate } } : {}),
    },
    cache: parts.plugin ? { cachePlugin: parts.plugin as ICachePlugin } : undefined,
    system: {
      networkClient: parts.network,
      loggerOptions: msalLoggerOptions(config.logger, parts.redact),
    },
  };
  try {
    return isConfidential(config) ? createConfidentialApp(msalConfig) : createPublicApp(msalConfig);
  } catch (err) {
    if (err instanceof DynamicsError) throw err;
    throw toDynamicsError(err, 'Creating the MSAL application', parts.redact);
  }
}

/**
 * MSAL's log lines into the library's logger: PII logging off, every line redacted, errors at
 * `error`, warnings at `warn`, the rest at `debug` (and only asked for when the logger has `debug`).
 */
export function msalLoggerOptions(logger: Logger, redact: (text: string) => string): NonNullable<NonNullable<Configuration['system']>['loggerOptions']> {
  return {
    piiLoggingEnabled: false,
    logLevel: logger.debug ? LogLevel.Info : LogLevel.Warning,
    loggerCallback: (level, message, containsPii) => {
      if (containsPii) return;
      const text = `msal: ${redact(message)}`;
      if (level === LogLevel.Error) logger.error(text);
      // A client-credentials response never has client_info, there being no user
      // (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#successful-response):
      // not worth a warning.
      else if (level === LogLevel.Warning && !message.includes('No client info in response')) logger.warn(text);
      else logger.debug?.(text);
    },
  };
}
