/**
 * A real Nest application hosting DynamicsModule, driven over IPC by test/loopback/nest-module.test.ts.
 *
 * Why a child process: Nest 12 ships ES modules only. Node (≥ 20.19) loads them with require(), but
 * jest's module loader does not (on Node < 24.9), so a Nest application cannot run inside a jest
 * worker. Here it runs as users run it: plain Node, our sources through tsx, Nest from node_modules.
 * tsx (esbuild) emits no decorator metadata, so this also proves the explicit `@Inject` tokens work.
 *
 * Protocol: the parent sends `{ id, op, ... }`, the host answers `{ id, ok, value }` or
 * `{ id, ok: false, error }` with the error flattened (and its full printed form, to search for secrets).
 */
import 'reflect-metadata';
import { inspect } from 'node:util';
import { Global, Inject, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
// The root entry point, as users import it: DynamicsModule comes through the lazy getter.
import { DYNAMICS_MODULE_OPTIONS, DynamicsError, DynamicsModule, DynamicsService, type DynamicsServiceOptions } from '../../src';
import { renderings } from '../helpers/secrets';

/** A user's provider that injects the service by its class, as application code does. */
@Injectable()
class AccountsRepository {
  constructor(@Inject(DynamicsService) readonly dynamics: DynamicsService) {}
}

/** Stands in for @nestjs/config's ConfigService (not a dependency of this repository). */
class ConfigService {
  constructor(private readonly values: Record<string, string>) {}
  get(name: string): string | undefined {
    return this.values[name];
  }
}

type Mode = 'env' | 'forRoot' | 'forRootAsync';

interface Message {
  id: number;
  op: 'boot' | 'call' | 'concurrent' | 'close' | 'exit' | 'scan';
  mode?: Mode;
  /** For `boot`: the DYNAMICS_* variables this application sees (others are removed from process.env). */
  env?: Record<string, string>;
  /** For `forRoot`: the options; for `forRootAsync`: the ConfigService's values. */
  options?: DynamicsServiceOptions;
  config?: Record<string, string>;
  method?: keyof DynamicsService;
  args?: unknown[];
  count?: number;
}

let moduleRef: TestingModule | undefined;
let service: DynamicsService | undefined;
/** How many ConfigService look-ups the forRootAsync factory made (proves it ran with the injected provider). */
let factoryCalls = 0;

function describeError(err: unknown): Record<string, unknown> {
  const e = err as DynamicsError & { issues?: unknown };
  return {
    name: e?.name,
    message: e?.message,
    code: e?.code,
    status: e?.status,
    isDynamicsError: err instanceof DynamicsError,
    responseStatus: e?.response?.status,
    responseData: e?.response?.data,
    issues: e?.issues,
    surface: [String(err), e?.stack, inspect(err, { depth: 8, showHidden: true }), safeJson(err)].join('\n'),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function importsFor(message: Message): unknown[] {
  const mode = message.mode ?? 'env';
  if (mode === 'env') return [DynamicsModule];
  if (mode === 'forRoot') return [DynamicsModule.forRoot(message.options ?? {})];
  const values = message.config ?? {};
  @Global()
  @Module({ providers: [{ provide: ConfigService, useValue: new ConfigService(values) }], exports: [ConfigService] })
  class ConfigModule {}
  return [
    DynamicsModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: async (...args: unknown[]) => {
        const config = args[0] as ConfigService;
        factoryCalls++;
        await new Promise((resolve) => setImmediate(resolve));
        return {
          enabled: config.get('DYNAMICS_ENABLED') === 'true',
          tokenUrl: config.get('DYNAMICS_TOKEN_URL'),
          clientId: config.get('DYNAMICS_CLIENT_ID'),
          clientSecret: config.get('DYNAMICS_CLIENT_SECRET'),
          username: config.get('DYNAMICS_USER_NAME'),
          password: config.get('DYNAMICS_PASSWORD'),
          resource: config.get('DYNAMICS_RESOURCE'),
          ca: config.get('CA_PEM'),
        };
      },
    }),
  ];
}

async function boot(message: Message): Promise<Record<string, unknown>> {
  await closeModule();
  for (const name of Object.keys(process.env)) if (name.startsWith('DYNAMICS_')) delete process.env[name];
  Object.assign(process.env, message.env ?? {});
  factoryCalls = 0;
  const ref = await Test.createTestingModule({
    imports: importsFor(message) as never[],
    providers: [AccountsRepository],
  }).compile();
  await ref.init();
  moduleRef = ref;
  const booted = ref.get(DynamicsService);
  service = booted;
  const repository = ref.get(AccountsRepository);
  return {
    injected: repository.dynamics === booted,
    isDynamicsService: booted instanceof DynamicsService,
    enabled: booted.enabled,
    factoryCalls,
  };
}

async function closeModule(): Promise<void> {
  const ref = moduleRef;
  moduleRef = undefined;
  await ref?.close();
}

async function handle(message: Message): Promise<unknown> {
  switch (message.op) {
    case 'boot':
      return boot(message);
    case 'call': {
      if (!service) throw new Error('boot first');
      const fn = service[message.method as keyof DynamicsService] as (...args: unknown[]) => Promise<unknown>;
      return fn.apply(service, message.args ?? []);
    }
    case 'concurrent': {
      if (!service) throw new Error('boot first');
      const fn = service[message.method as keyof DynamicsService] as (...args: unknown[]) => Promise<unknown>;
      const results = await Promise.all(Array.from({ length: message.count ?? 1 }, () => fn.apply(service, message.args ?? [])));
      return { results: results.length, allObjects: results.every((r) => r !== null && typeof r === 'object') };
    }
    case 'close': {
      const closed = service;
      await closeModule();
      // After shutdown the module must have closed the service: a call rejects without sending.
      const after = await closed?.get('api/data/v9.2/accounts').then(
        () => 'resolved',
        (err: unknown) => (err as Error).message,
      );
      service = undefined;
      return { afterClose: after };
    }
    case 'scan': {
      // Every rendering of what the module put into the container: the service, the module instance
      // and the options provider (present with forRoot/forRootAsync), as a debug dump would show them.
      if (!moduleRef || !service) throw new Error('boot first');
      const ref = moduleRef;
      const options = (() => {
        try {
          return ref.get(DYNAMICS_MODULE_OPTIONS, { strict: false });
        } catch {
          return undefined;
        }
      })();
      const module = ref.get(DynamicsModule, { strict: false });
      return { hasOptions: options !== undefined, text: [service, module, options].map((v) => Object.values(renderings(v)).join('\n')).join('\n') };
    }
    case 'exit':
      await closeModule();
      setImmediate(() => process.exit(0));
      return 'bye';
  }
}

process.on('message', (message: Message) => {
  handle(message).then(
    (value) => process.send!({ id: message.id, ok: true, value: value === undefined ? null : value }),
    (err: unknown) => process.send!({ id: message.id, ok: false, error: describeError(err) }),
  );
});
process.send!({ id: 0, ok: true, value: 'ready' });
