/**
 * The layering of src/, checked by dependency-cruiser on every `npm test` (./layers.test.ts) and
 * by `npm run check:layers`. Dependencies point one way:
 *
 *   nest → compat → client → odata / http → net / auth, with errors and logger at the bottom;
 *   codegen and emulator stand apart and share only the pure CSDL reader (src/csdl) and net.
 *
 * Only src/auth imports MSAL and only src/http imports axios, so no public type exposes either.
 * Composition roots (src/index.ts, src/cli/, the codegen entry point src/codegen/index.ts) may wire
 * any layers together.
 *
 * dependency-cruiser rather than ESLint's import rules: it is built for exactly this (forbidden
 * paths between folders, with the rule's name and comment in the report), reads TypeScript through
 * the compiler we already install, and needs no linter set-up around it. 17.x is the last line that
 * runs on Node 20.
 */

/** What each layer may import from src/ (besides itself). */
const ALLOWED = {
  errors: [],
  logger: [],
  net: ['errors', 'logger'],
  csdl: [],
  auth: ['net', 'errors', 'logger'],
  odata: ['net', 'errors', 'logger'],
  http: ['auth', 'net', 'errors', 'logger'],
  client: ['odata', 'http', 'auth', 'net', 'errors', 'logger'],
  compat: ['client', 'net', 'errors', 'logger'],
  nest: ['compat', 'errors', 'logger'],
  codegen: ['csdl', 'net', 'errors', 'logger'],
  emulator: ['csdl', 'net', 'logger'],
};

const LAYERS = Object.keys(ALLOWED);
/** A layer folder, or the single-file layer `src/logger.ts`. */
const layerPath = (layer) => (layer === 'logger' ? '^src/logger\\.ts$' : `^src/${layer}/`);
/** Files that compose layers: they may import anything. */
const COMPOSITION_ROOTS = '^src/(index\\.ts$|cli/|codegen/index\\.ts$)';

const forbidden = [
  ...LAYERS.map((layer) => ({
    name: `layer-${layer}`,
    comment: `src/${layer} may import only ${ALLOWED[layer].length ? ALLOWED[layer].map((l) => `src/${l}`).join(', ') : 'nothing else in src/'} (see test/architecture/rules.cjs)`,
    severity: 'error',
    from: { path: layerPath(layer), pathNot: COMPOSITION_ROOTS },
    to: {
      path: '^src/',
      pathNot: [layerPath(layer), ...ALLOWED[layer].map(layerPath)],
    },
  })),
  {
    name: 'msal-only-in-auth',
    comment: 'only src/auth imports @azure/msal-node (its next major drops classes; one seam keeps the change small)',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/auth/' },
    to: { path: '@azure/msal-node' },
  },
  {
    name: 'axios-only-in-http',
    comment: 'only src/http imports axios: the transport is the one place that knows it',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/http/' },
    to: { path: '(^|/)node_modules/axios/' },
  },
  {
    name: 'nest-only-in-nest',
    comment: 'only src/nest imports @nestjs/*: applications without Nest never load it',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/nest/' },
    to: { path: '@nestjs/' },
  },
  {
    name: 'no-unresolvable',
    comment: 'an import that does not resolve is a typo or a missing dependency',
    severity: 'error',
    from: { path: '^src/' },
    to: { couldNotResolve: true },
  },
];

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.d\\.ts$' },
  },
};
