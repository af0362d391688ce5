/**
 * Pure CSDL reading, shared by the code generator and the emulator: `$metadata` XML →
 * {@link readCsdl} (the raw shape, aliases resolved) → {@link buildModel} (base types flattened,
 * lookups tied to navigations, every name a valid, collision-free identifier). No I/O and no
 * imports from the rest of the library, so the emulator can serve any document without loading the
 * generator, and the generator can read one without loading the emulator.
 * (CSDL XML: https://docs.oasis-open.org/odata/odata-csdl-xml/v4.01/odata-csdl-xml-v4.01.html)
 *
 * @example
 * const model = loadModel(xmlText);
 * model.entityTypes.get('Microsoft.Dynamics.CRM.account')?.entitySetName; // 'accounts'
 */
export { CsdlError } from './errors';
export { readCsdl } from './read';
export type * from './read/types';
export { buildModel, loadModel } from './model';
export { NameRegistry, camelCase, entityDerivedNames, enumDerivedNames, fileStem, isValidIdentifier, operationDerivedNames, pascalCase } from './model/names';
export type * from './model/types';
