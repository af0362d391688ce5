/**
 * The Nest module's public types, written without importing `@nestjs/*`, so that the root entry
 * point's declarations type-check in applications that do not install Nest (with TypeScript's
 * default `skipLibCheck: false`). They are structural stand-ins for Nest's own types and assignable
 * to them: `DynamicsModule`, and what `forRoot`/`forRootAsync` return, go into `@Module({ imports })`
 * unchanged. `dynamics-odata/nest` exports the same class typed with Nest's declarations.
 */
import type { DynamicsServiceOptions } from '../compat';

/** Options of {@link DynamicsModuleClass.forRootAsync}: Nest's factory-provider pattern. */
export interface DynamicsModuleAsyncOptions {
  /** Modules whose providers `inject` needs, e.g. `[ConfigModule]` (Nest's `ModuleMetadata['imports']`). Default: none. */
  imports?: unknown[];
  /**
   * Builds the options; receives the providers listed in `inject`, in order. Options it leaves out
   * are read from the `DYNAMICS_*` environment variables, as with `new DynamicsService()`.
   */
  useFactory(...args: unknown[]): DynamicsServiceOptions | Promise<DynamicsServiceOptions>;
  /** Providers handed to `useFactory`, e.g. `[ConfigService]` (Nest's injection tokens). Default: none. */
  inject?: unknown[];
}

/** What `forRoot`/`forRootAsync` return: a Nest `DynamicModule` (its `providers` and `imports` are Nest's business). */
export interface DynamicsDynamicModule {
  module: DynamicsModuleClass;
  global?: boolean;
}

/** The type of `DynamicsModule` as the root entry point exports it. */
export interface DynamicsModuleClass extends Function {
  new (...args: never[]): { onApplicationShutdown(): Promise<void> };
  /**
   * The module with options given in code. Omitted options come from the environment.
   *
   * @example DynamicsModule.forRoot({ enabled: true, resource: 'https://contoso.crm4.dynamics.com' })
   */
  forRoot(options?: DynamicsServiceOptions): DynamicsDynamicModule;
  /** The module with options built by a factory from other providers (see {@link DynamicsModuleAsyncOptions}). */
  forRootAsync(options: DynamicsModuleAsyncOptions): DynamicsDynamicModule;
}
