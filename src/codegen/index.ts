/**
 * `dynamics-odata/codegen`: typed models, zod schemas and option-set constants from any
 * environment's `$metadata`. Pipeline: {@link readCsdl} (XML → raw CSDL) → {@link buildModel}
 * (flattened, names resolved) → {@link emit} (one file per entity type, shared files, barrel).
 *
 * This entry point is also where live generation meets the client's authentication: `generate({ url })`
 * without `auth` reads the `DYNAMICS_*`/`AZURE_*` variables through the client's MSAL provider, loaded
 * only then. The rest of the generator never loads the client's code.
 *
 * @example
 * import { generate } from 'dynamics-odata/codegen';
 * await generate({ metadata: 'metadata.xml', out: 'src/generated', entities: ['account', 'contact'] });
 */
import { generateWith, type CaCertificates, type GenerateOptions, type GenerateResult } from './generate';

export { generatorVersion, selectEntities, type GenerateOptions, type GenerateResult } from './generate';
export { loadEnvironment, type EnvironmentConfig } from './config';
export { readCsdl, buildModel, loadModel } from './csdl';
export type * from '../csdl/read/types';
export type * from '../csdl/model/types';
export { emit, edmMapping, GENERATED_MARKER, type EmitOptions, type EmittedFile, type SourceInfo } from './emit';
export { readOptionSets, type OptionSetCatalog, type ColumnOptionSet, type OptionModel } from './optionsets';
export { DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES, type DownloadProgress } from './download';
export { CodegenError } from './errors';

/**
 * A token for `resource` from the same `DYNAMICS_*`/`AZURE_*` variables the client reads
 * (`loadAuthConfig`), with `DYNAMICS_RESOURCE` defaulting to the environment being generated from.
 * `require`, not `import()`: generating from a file never loads MSAL, and under module Node16 a
 * CommonJS build would keep `import()` as a real ESM import.
 */
async function tokenFromEnvironment(env: Record<string, string | undefined>, resource: string): Promise<{ token: string; ca?: CaCertificates }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const auth = require('../auth') as typeof import('../auth');
  const vars = { ...env };
  if (!vars['DYNAMICS_RESOURCE'] && !vars['DYNAMICS_URL']) vars['DYNAMICS_RESOURCE'] = resource;
  const config = auth.loadAuthConfig(vars);
  const provider = new auth.MsalTokenProvider(config);
  try {
    const { token } = await provider.getToken();
    return config.ca === undefined ? { token } : { token, ca: config.ca };
  } finally {
    // One token per run: the provider's keep-alive connections to the authority are not needed after it.
    provider.close();
  }
}

/**
 * Generate typed models from `$metadata`.
 *
 * @example
 * await generate({ metadata: 'metadata.xml', out: 'src/generated', entities: ['account', 'contact'] });
 * await generate({ url: 'https://contoso.crm4.dynamics.com', out: 'src/generated' }); // auth from DYNAMICS_* variables
 * @throws CodegenError naming the option at fault (`invalid_option`, `invalid_config`, `invalid_csdl`, `unsupported_csdl`, `download_failed`, `response_too_large`, `invalid_option_sets`).
 */
export function generate(options: GenerateOptions): Promise<GenerateResult> {
  return generateWith(options, tokenFromEnvironment);
}
