/**
 * Tests run TypeScript through ts-jest in transpile-only mode: type errors are
 * caught by `npm run build` and by the compile tests in test/compile, which run
 * the real `tsc` over generated output, so jest need not type-check each file.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        tsconfig: {
          rootDir: '.',
          isolatedModules: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          sourceMap: true,
        },
      },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 60000,
  // Loopback tests start HTTPS servers and child processes; two workers match our 2-core machines.
  maxWorkers: 2,
};
