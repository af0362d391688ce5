/**
 * dynamics-odata: an MSAL-backed, typed OData v4 client for the Dynamics 365 / Dataverse Web API.
 * This is the public surface; everything exported here is documented and stable.
 * Nest users import `DynamicsModule` from here too; it is loaded lazily so that applications
 * without `@nestjs/*` installed never load Nest.
 */

// --- errors ---
export * from './errors';
export type { Logger } from './logger';

// --- auth ---
export type { AccessToken, GetTokenOptions, TokenProvider, GrantType } from './auth/types';
export {
  MsalTokenProvider,
  fromTokenCredential,
  fileTokenCache,
  redisTokenCache,
  loadAuthConfig,
  createTokenCache,
  type MsalTokenProviderOptions,
  type TokenSet,
  type AuthCodeUrlOptions,
  type AuthCodeUrl,
  type AcquireTokenByCodeOptions,
  type DeviceCodeOptions,
  type DeviceCodePrompt,
  type TokenRetryOptions,
  type TokenCredentialLike,
  type FromTokenCredentialOptions,
  type FileTokenCacheOptions,
  type RedisLike,
  type RedisTokenCacheOptions,
  type TokenCachePlugin,
  type TokenCacheAccessContext,
  type TokenCachePartition,
  type PartitionedTokenCache,
  type PartitionedCachePlugin,
  type AuthConfig,
  type ConfiguredTokenCache,
} from './auth';

// --- client ---
export type { EntityTypes, SchemaMap, UntypedSchema } from './client/schema';

// --- compat (@edirect/dynamics drop-in) ---

// --- nest ---
