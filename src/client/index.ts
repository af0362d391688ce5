/**
 * The client layer's surface: `DynamicsClient`, its options and public types, and what a facade built
 * on top of the client (src/compat's `DynamicsService`) needs from the layers below it, so that such a
 * facade imports the client and nothing under it (the token provider and its caches from src/auth,
 * entity references from src/odata).
 */
export { DynamicsClient, type EntitySetOf } from './DynamicsClient';
export { DEFAULT_CLIENT_OPTIONS, type DynamicsClientOptions } from './options';
export type { EntityTypes, SchemaMap, UntypedSchema } from './schema';
export * from './types';

// From the layers below, for facades on top of the client.
export { MsalTokenProvider, createTokenCache, type MsalTokenProviderOptions, type PartitionedTokenCache, type TokenCachePlugin, type TokenProvider } from '../auth';
export { parseEntityReference, type EntityReference } from '../odata/keys';
export { isFleetThrottle, redisThrottle, type FleetThrottle } from '../http/fleet';
