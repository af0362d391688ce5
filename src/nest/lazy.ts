import { DynamicsError, ErrorCode } from '../errors';
import type * as NestModuleFile from './module';
import type { DynamicsModuleClass } from './types';

/*
 * The root entry point re-exports `DynamicsModule` from here. A re-export becomes a getter, but the
 * re-exported file is still required when the entry point loads, so pointing it at ./module would
 * load @nestjs/common for every user. This file's exports object instead has a getter that requires
 * ./module on first access (Node's module cache keeps it afterwards). It is built with `export =`
 * because both tsc and esbuild (tsx, bundlers compiling TypeScript) then emit
 * `module.exports = lazyExports`, keeping the getter; a getter defined on `exports` beside ES
 * `export` statements would be lost when esbuild replaces `module.exports`.
 */

const lazyExports = {} as {
  /**
   * `DynamicsModule` from `./module`, loaded on first access. Needs the optional peer
   * dependencies `@nestjs/common` and `@nestjs/core`. Typed without Nest's declarations (see
   * ./types.ts), so that this entry point type-checks where Nest is not installed.
   */
  readonly DynamicsModule: DynamicsModuleClass;
};

Object.defineProperty(lazyExports, 'DynamicsModule', {
  enumerable: true,
  get: (): DynamicsModuleClass => loadNestModule().DynamicsModule as unknown as DynamicsModuleClass,
});

// `import type` of ./module is erased from the emitted JavaScript and, being used only inside this
// function's signature, never reaches lazy.d.ts: the declarations stay free of @nestjs/*.
function loadNestModule(): typeof NestModuleFile {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('./module') as typeof NestModuleFile;
  } catch (cause) {
    const error = cause as NodeJS.ErrnoException;
    if (error?.code === 'MODULE_NOT_FOUND' && /@nestjs\//.test(error.message)) {
      throw new DynamicsError(
        'DynamicsModule needs NestJS: install the optional peer dependencies @nestjs/common and @nestjs/core (npm install @nestjs/common @nestjs/core). Everything else in dynamics-odata, DynamicsService included, works without them.',
        { code: ErrorCode.invalidConfiguration, cause },
      );
    }
    if (error?.code === 'ERR_REQUIRE_ESM') {
      throw new DynamicsError(
        `DynamicsModule could not load NestJS: this Nest version ships ES modules only, which Node loads with require() from 20.19 on (this is ${process.version}). Upgrade Node, or use Nest 11 or earlier.`,
        { code: ErrorCode.invalidConfiguration, cause },
      );
    }
    throw cause;
  }
}

export = lazyExports;
