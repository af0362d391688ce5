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
export { DynamicsClient, type EntitySetOf, type LogicalNameOfSet } from './client/DynamicsClient';
export { DEFAULT_CLIENT_OPTIONS, type DynamicsClientOptions } from './client/options';
export type { EntityModel, RuntimeModel } from './client/model';
export type { FunctionParameterValue, BusinessLogicBypass } from './client/types';
export type {
  BulkOptions,
  BulkProgress,
  ChangeEntry,
  ChangePage,
  ChangesIterator,
  ChangesOptions,
  CreateMultipleOptions,
  DownloadedFile,
  DownloadFileOptions,
  FileSource,
  UploadFileOptions,
} from './client/workloadTypes';
export { guid, stringLiteral } from './odata/query';
export {
  fetchXml,
  FetchQuery,
  type AggregateFunction,
  type AggregateSpec,
  type AttributeOf,
  type DateGrouping,
  type FetchCondition,
  type FetchFilter,
  type FetchOperators,
  type FetchRowOf,
  type FetchValue,
  type FetchXmlFactory,
  type FetchXmlSource,
  type GroupSpec,
  type LinkOptions,
  type LogicalNameOf,
} from './odata/fetchxml';
export type { ApplyAggregate, ApplyFunction } from './odata/apply';
export type { FetchXmlOptions } from './client/operations/fetchxml';
export type { AggregateOptions, AggregateQuery, AggregateRow, AggregateSpecOf, GroupByPath, GroupKey } from './client/operations/aggregate';
export { BatchErrorCode } from './client/types';
export type {
  AnnotationsOption,
  AssociateOptions,
  BatchChangeSet,
  BatchItem,
  BatchOperation,
  BatchOptions,
  BatchResult,
  BoundTarget,
  ColumnOf,
  ContinuablePage,
  CreateOf,
  CreateOptions,
  DeleteOptions,
  EntityKey,
  Expanded,
  ExpandOf,
  ExpandOptions,
  ExpandQuery,
  ColumnCondition,
  ColumnKind,
  ColumnOperators,
  FilterKind,
  FilterLiteral,
  FilterObjectOf,
  FilterOperators,
  FilterQuery,
  FilterValueOf,
  GuidLiteral,
  ModelOf,
  RawLiteral,
  HttpMethod,
  JsonValue,
  KeyValue,
  ListQuery,
  ODataAnnotations,
  OperationCallOptions,
  OperationOptions,
  OrderByQuery,
  PagedAsyncIterableIterator,
  PageSettings,
  RawRequestOptions,
  RawResponse,
  ReadOf,
  RecordSchema,
  RetrieveOptions,
  SchemaConstraint,
  Selected,
  UpdateOf,
  UpdateOptions,
  UpsertMode,
  UpsertOptions,
} from './client/types';

// --- many instances: the fleet-wide limiter ---
export {
  redisThrottle,
  REDIS_THROTTLE_DEFAULTS,
  type FleetAcquireRequest,
  type FleetBudget,
  type FleetOutcome,
  type FleetThrottle,
  type FleetTicket,
  type RedisScriptingLike,
  type RedisThrottle,
  type RedisThrottleOptions,
  type RedisThrottleStats,
} from './http/fleet';

// --- compat (@edirect/dynamics drop-in) ---
export {
  DynamicsService,
  DYNAMICS_ENV,
  type DynamicsServiceOptions,
  type DynamicsEntityReference,
  type DynamicsGrantType,
  type DynamicsHeaderValue,
  type DynamicsHeadersLike,
  type DynamicsParamValue,
  type DynamicsRequestConfig,
  type ITokenSet,
} from './compat';

// --- nest ---
// Loaded on first access (src/nest/lazy.ts), so that `@nestjs/*` stay optional.
export { DynamicsModule } from './nest/lazy';
export { DYNAMICS_MODULE_OPTIONS } from './nest/tokens';
export type { DynamicsModuleAsyncOptions, DynamicsModuleClass, DynamicsDynamicModule } from './nest/types';
