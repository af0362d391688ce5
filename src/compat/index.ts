/**
 * The `@edirect/dynamics` API (`DynamicsService`) on top of DynamicsClient. Nothing here imports
 * Nest: `DynamicsModule` (src/nest) provides this service to Nest applications.
 */
export { DynamicsService } from './DynamicsService';
export { DYNAMICS_ENV, type DynamicsServiceOptions } from './config';
export type {
  DynamicsEntityReference,
  DynamicsGrantType,
  DynamicsHeaderValue,
  DynamicsHeadersLike,
  DynamicsParamValue,
  DynamicsRequestConfig,
  ITokenSet,
} from './types';
