/**
 * `dynamics-odata/codegen`: typed models, zod schemas and option-set constants from any
 * environment's `$metadata`. Pipeline: {@link readCsdl} (XML → raw CSDL) → {@link buildModel}
 * (flattened, names resolved) → {@link emit} (one file per entity type, shared files, barrel).
 *
 * @example
 * import { generate } from 'dynamics-odata/codegen';
 * await generate({ metadata: 'metadata.xml', out: 'src/generated', entities: ['account', 'contact'] });
 */
export { generate, generatorVersion, selectEntities, type GenerateOptions, type GenerateResult } from './generate';
export { loadEnvironment, type EnvironmentConfig } from './config';
export { readCsdl, buildModel, loadModel } from './csdl';
export type * from '../csdl/read/types';
export type * from '../csdl/model/types';
export { emit, edmMapping, GENERATED_MARKER, type EmitOptions, type EmittedFile, type SourceInfo } from './emit';
export { readOptionSets, type OptionSetCatalog, type ColumnOptionSet, type OptionModel } from './optionsets';
export type { DownloadProgress } from './download';
export { CodegenError } from './errors';
