/**
 * The generator's entry to `src/csdl`: the same reader and model, with a {@link CsdlError} rethrown
 * as {@link CodegenError} (same `invalid_csdl` code and message, the original as `cause`), so every
 * failure of `dynamics-odata/codegen` is one class.
 */
import { buildModel as buildCsdlModel, CsdlError, readCsdl as readCsdlDocument, type CsdlDocument, type ServiceModel } from '../csdl';
import { CodegenError } from './errors';

function rethrown(err: unknown): unknown {
  return err instanceof CsdlError ? new CodegenError(err.code, err.message, { cause: err }) : err;
}

/**
 * Read a CSDL XML `$metadata` document into its raw shape (aliases resolved, nothing flattened).
 *
 * @throws {@link CodegenError} `invalid_csdl` when the text is not well-formed XML or not an `edmx:Edmx` document.
 * @example
 * const doc = readCsdl(fs.readFileSync('metadata.xml', 'utf8'));
 * doc.schemas[0].entityTypes.length; // 423
 */
export function readCsdl(xml: string): CsdlDocument {
  try {
    return readCsdlDocument(xml);
  } catch (err) {
    throw rethrown(err);
  }
}

/**
 * Digest a read document into the {@link ServiceModel}: base types flattened, lookups tied to their
 * navigation properties, every name a valid, collision-free identifier and file name.
 *
 * @example
 * const model = buildModel(readCsdl(xml));
 */
export function buildModel(doc: CsdlDocument): ServiceModel {
  try {
    return buildCsdlModel(doc);
  } catch (err) {
    throw rethrown(err);
  }
}

/**
 * Read and model a `$metadata` document in one step.
 *
 * @throws {@link CodegenError} `invalid_csdl` when the text is not a CSDL document.
 * @example
 * const model = loadModel(fs.readFileSync('metadata.xml', 'utf8'));
 */
export function loadModel(xml: string): ServiceModel {
  return buildModel(readCsdl(xml));
}
