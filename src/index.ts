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

// --- client ---
export type { EntityTypes, SchemaMap, UntypedSchema } from './client/schema';

// --- compat (@edirect/dynamics drop-in) ---

// --- nest ---
