import type {
  DynamicModule,
  InjectionToken,
  ModuleMetadata,
  OnApplicationShutdown,
  OptionalFactoryDependency,
} from '@nestjs/common' with { 'resolution-mode': 'import' };
import { DynamicsService, type DynamicsServiceOptions } from '../compat';
import { concealSecrets } from './conceal';
import { DYNAMICS_MODULE_OPTIONS } from './tokens';
import type { DynamicsModuleAsyncOptions as NestFreeAsyncOptions } from './types';

// Nest 12 ships ES modules only; Node ≥ 20.19 can require() them, and Nest ≤ 11 is CommonJS, so a
// plain require serves both from this CommonJS build. This file is loaded only when DynamicsModule
// is used (see ./lazy.ts), so applications without Nest never reach it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Global, Inject, Module } = require('@nestjs/common') as typeof import('@nestjs/common', { with: { 'resolution-mode': 'import' } });

/**
 * Options of {@link DynamicsModule.forRootAsync}: Nest's factory-provider pattern, with Nest's own
 * types for `imports` and `inject` (the root entry point exports a Nest-free version, ./types.ts).
 */
export interface DynamicsModuleAsyncOptions extends Omit<NestFreeAsyncOptions, 'imports' | 'inject'> {
  /** Modules whose providers `inject` needs, e.g. `[ConfigModule]`. Default: none. */
  imports?: ModuleMetadata['imports'];
  /** Providers handed to `useFactory`, e.g. `[ConfigService]`. Default: none. */
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
}

function createService(options?: DynamicsServiceOptions): DynamicsService {
  return new DynamicsService(options ?? {});
}

/**
 * Provides {@link DynamicsService} to a Nest application, as `@edirect/dynamics`'s module did.
 * Global: import it once, in the root module, and inject `DynamicsService` anywhere.
 *
 * - `imports: [DynamicsModule]`: configured from the `DYNAMICS_*` environment variables alone.
 * - `DynamicsModule.forRoot(options)`: options in code (omitted ones still come from the environment).
 * - `DynamicsModule.forRootAsync({ imports, useFactory, inject })`: options from other providers,
 *   e.g. `@nestjs/config`'s `ConfigService`.
 *
 * The service's connections (keep-alive sockets, a Redis token cache) are closed when the
 * application shuts down (`onApplicationShutdown`, after every `onModuleDestroy` and
 * `beforeApplicationShutdown` hook, so your own shutdown code can still call Dynamics).
 *
 * @example
 * ```ts
 * import { Module } from '@nestjs/common';
 * import { DynamicsModule } from 'dynamics-odata';
 *
 * @Module({ imports: [DynamicsModule] })
 * export class AppModule {}
 * ```
 */
@Global()
@Module({
  providers: [
    {
      provide: DynamicsService,
      useFactory: createService,
      inject: [{ token: DYNAMICS_MODULE_OPTIONS, optional: true }],
    },
  ],
  exports: [DynamicsService],
})
export class DynamicsModule implements OnApplicationShutdown {
  // An explicit token rather than emitted `design:paramtypes`, so the module also works when
  // compiled by tools that do not emit decorator metadata (esbuild, swc without it, ts-jest isolatedModules).
  constructor(@Inject(DynamicsService) private readonly service: DynamicsService) {}

  /**
   * The module with options given in code. Omitted options come from the environment.
   *
   * @example DynamicsModule.forRoot({ enabled: true, resource: 'https://contoso.crm4.dynamics.com' })
   */
  static forRoot(options: DynamicsServiceOptions = {}): DynamicModule {
    return {
      module: DynamicsModule,
      global: true,
      providers: [{ provide: DYNAMICS_MODULE_OPTIONS, useValue: concealSecrets(options) }],
    };
  }

  /**
   * The module with options built by a factory from other providers.
   *
   * @example
   * ```ts
   * DynamicsModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({
   *     enabled: config.get('DYNAMICS_ENABLED') === 'true',
   *     resource: config.get('DYNAMICS_RESOURCE'),
   *   }),
   * })
   * ```
   */
  static forRootAsync(options: DynamicsModuleAsyncOptions | NestFreeAsyncOptions): DynamicModule {
    if (!options || typeof options.useFactory !== 'function') {
      throw new TypeError('DynamicsModule.forRootAsync: options.useFactory must be a function returning DynamicsServiceOptions');
    }
    return {
      module: DynamicsModule,
      global: true,
      imports: (options.imports ?? []) as ModuleMetadata['imports'],
      providers: [
        {
          provide: DYNAMICS_MODULE_OPTIONS,
          useFactory: async (...args: unknown[]) => concealSecrets(await options.useFactory(...args)),
          inject: (options.inject ?? []) as Array<InjectionToken | OptionalFactoryDependency>,
        },
      ],
    };
  }

  /** Closes the service's connections when the application shuts down. */
  async onApplicationShutdown(): Promise<void> {
    await this.service.close();
  }
}
