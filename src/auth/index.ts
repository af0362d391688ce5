/** Authentication: MSAL-backed token providers, TokenCredential adapter, token cache plugins, env config. */
export type { AccessToken, GetTokenOptions, GrantType, TokenProvider } from './types';
export {
  MsalTokenProvider,
  type MsalTokenProviderOptions,
  type TokenSet,
  type AuthCodeUrlOptions,
  type AuthCodeUrl,
  type AcquireTokenByCodeOptions,
  type DeviceCodeOptions,
} from './MsalTokenProvider';
export type { DeviceCodePrompt } from './msal/types';
export type { TokenRetryOptions } from './retryOptions';
export { fromTokenCredential, type TokenCredentialLike, type FromTokenCredentialOptions } from './fromTokenCredential';
export { fileTokenCache, type FileTokenCacheOptions } from './cache/fileTokenCache';
export { redisTokenCache, type RedisLike, type RedisTokenCacheOptions } from './cache/redisTokenCache';
export type {
  TokenCachePlugin,
  TokenCacheAccessContext,
  TokenCachePartition,
  PartitionedTokenCache,
  PartitionedCachePlugin,
} from './cache/types';
export { loadAuthConfig, createTokenCache, type AuthConfig, type ConfiguredTokenCache } from './config';
