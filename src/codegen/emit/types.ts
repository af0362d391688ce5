/** Shared state of one emit run. */
import type { NameRegistry, ServiceModel, TypeRef } from '../../csdl';
import type { OptionSetCatalog } from '../optionsets';
import { edmMapping } from './edm';
import { arrayOf, str } from './text';

/** One generated file. */
export interface EmittedFile {
  /** Path relative to the output folder, `/`-separated (`account.ts`). */
  path: string;
  content: string;
}

/** Where a generated folder's input came from, for the file headers. */
export interface SourceInfo {
  /** What to call it: a file's base name or a URL without credentials. */
  label: string;
  sha256: string;
}

export interface EmitOptions {
  source: SourceInfo;
  /** Option-set metadata and where it came from. */
  optionSets?: { catalog: OptionSetCatalog; source: SourceInfo };
  /** Qualified names of the entity types to emit; default: all. */
  entityTypes?: ReadonlySet<string>;
  generatorVersion: string;
}

/** What a file needs to import from the shared files. */
export class Imports {
  readonly complex = new Set<string>();
  readonly enums = new Set<string>();

  lines(fromComplex = './complex-types', fromEnums = './enums'): string[] {
    const out: string[] = [];
    if (this.complex.size > 0) out.push(`import type { ${[...this.complex].sort().join(', ')} } from '${fromComplex}';`);
    if (this.enums.size > 0) out.push(`import type { ${[...this.enums].sort().join(', ')} } from '${fromEnums}';`);
    return out;
  }
}

export interface EmitContext {
  model: ServiceModel;
  options: EmitOptions;
  header: string;
  /** Registry of exported names, seeded with every model identifier, for names invented at emit time (option sets). */
  names: NameRegistry;
  /** Entity type → entity sets a bind may point at (its own and those of types derived from it). */
  bindTargets: Map<string, string[]>;
  entitySetNames: ReadonlySet<string>;
}

/**
 * TypeScript type of a structural type reference. Entity-typed values (action parameters such as
 * `Target`) become `EntityRecord<'Microsoft.Dynamics.CRM.x'>` rather than importing the entity's
 * file: one import there would pull the whole, densely linked, entity graph into the checker.
 */
export function typeText(ref: TypeRef, isCollection: boolean, ctx: EmitContext, imports: Imports, inComplexFile = false): string {
  let t: string;
  switch (ref.kind) {
    case 'primitive':
      t = edmMapping(ref.edmType).ts;
      break;
    case 'enum': {
      const e = ctx.model.enumTypes.get(ref.qualifiedName);
      if (e) {
        t = e.identifier;
        imports.enums.add(t);
      } else t = 'string';
      break;
    }
    case 'complex': {
      const c = ctx.model.complexTypes.get(ref.qualifiedName);
      if (c) {
        t = c.identifier;
        if (!inComplexFile) imports.complex.add(t);
      } else t = 'unknown';
      break;
    }
    case 'entity':
      t = `EntityRecord<${str(ref.qualifiedName)}>`;
      if (!inComplexFile) imports.complex.add('EntityRecord');
      break;
  }
  return isCollection ? arrayOf(t) : t;
}
