/**
 * `dynamics-odata/nest`: the Nest module and the service it provides. Importing this entry point
 * loads `@nestjs/common`; the root entry point exports the same `DynamicsModule` lazily.
 */
export { DynamicsModule, type DynamicsModuleAsyncOptions } from './module';
export { DYNAMICS_MODULE_OPTIONS } from './tokens';
export {
  DynamicsService,
  DYNAMICS_ENV,
  type DynamicsServiceOptions,
  type DynamicsEntityReference,
  type DynamicsGrantType,
  type DynamicsRequestConfig,
  type ITokenSet,
} from '../compat';
