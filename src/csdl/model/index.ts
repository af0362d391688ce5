/**
 * Digest a {@link CsdlDocument} into the {@link ServiceModel}: base types flattened, lookups tied
 * to their navigation properties, alternate keys read from annotations, entity sets attached, and
 * every name turned into a valid, collision-free identifier and file name.
 */
import { readCsdl } from '../read';
import type { CsdlAnnotation, CsdlDocument, CsdlEntityType, CsdlExpression, CsdlStructuredType, CsdlTypeName } from '../read/types';
import { NameRegistry, entityDerivedNames, enumDerivedNames, fileStem, operationDerivedNames, pascalCase } from './names';
import { validateDocument } from './validate';
import type {
  ComplexTypeModel,
  EdmPrimitive,
  EntitySetModel,
  EntityTypeModel,
  EnumTypeModel,
  NavigationPropertyModel,
  OperationModel,
  ParameterModel,
  PropertyModel,
  ServiceModel,
  TypeRef,
} from './types';

export type * from './types';
export { NameRegistry, camelCase, entityDerivedNames, enumDerivedNames, fileStem, isValidIdentifier, operationDerivedNames, pascalCase } from './names';

const ALTERNATE_KEYS = 'OData.Community.Keys.V1.AlternateKeys';
const OPTIONAL_PARAMETER = 'Org.OData.Core.V1.OptionalParameter';

/**
 * Columns the platform sets (Dataverse "system columns": IsValidForCreate and IsValidForUpdate are
 * false), so create and update inputs leave them out. Lookups (`_x_value`) are read-only too: they
 * are written through `<navigation>@odata.bind` (Web API "Associate table rows on create").
 */
const READ_ONLY_COLUMNS = new Set(['createdon', 'modifiedon', 'versionnumber', 'exchangerate']);
/** Settable only when the row is created (Dataverse "Import data": `overriddencreatedon`, `importsequencenumber`). */
const CREATE_ONLY_COLUMNS = new Set(['overriddencreatedon', 'importsequencenumber']);
/** Lookups the platform maintains: binding them is rejected ("Use the owner to set the business unit"). */
const READ_ONLY_NAVIGATIONS = new Set([
  'createdby',
  'modifiedby',
  'createdonbehalfby',
  'modifiedonbehalfby',
  'createdbyexternalparty',
  'modifiedbyexternalparty',
  'owningbusinessunit',
  'owninguser',
  'owningteam',
]);
/** Primary name column candidates, most common first (account/name, contact/fullname, activities/subject). */
const PRIMARY_NAME_CANDIDATES = ['name', 'fullname', 'subject', 'title'];

function isLookupValue(name: string): boolean {
  return name.length > 7 && name.startsWith('_') && name.endsWith('_value');
}

function readAlternateKeys(annotations: CsdlAnnotation[]): string[][] {
  const keys: string[][] = [];
  for (const a of annotations) {
    if (a.term !== ALTERNATE_KEYS || a.value?.kind !== 'collection') continue;
    for (const rec of a.value.items) {
      if (rec.kind !== 'record') continue;
      const key = rec.properties['Key'];
      if (key?.kind !== 'collection') continue;
      const names: string[] = [];
      for (const ref of key.items) {
        if (ref.kind !== 'record') continue;
        const name: CsdlExpression | undefined = ref.properties['Name'];
        if (name && name.kind !== 'collection' && name.kind !== 'record') names.push(name.value);
      }
      // Dataverse repeats an inherited key on derived metadata types; one copy is enough.
      if (names.length > 0 && !keys.some((k) => k.join('\0') === names.join('\0'))) keys.push(names);
    }
  }
  return keys;
}

class ModelBuilder {
  private readonly entityRaw = new Map<string, CsdlEntityType>();
  private readonly complexRaw = new Map<string, CsdlStructuredType>();
  private readonly enumNames = new Set<string>();
  private readonly externalAnnotations = new Map<string, CsdlAnnotation[]>();
  private readonly typeRefCache = new Map<string, TypeRef>();

  constructor(doc: CsdlDocument) {
    for (const s of doc.schemas) {
      for (const t of s.entityTypes) this.entityRaw.set(`${s.namespace}.${t.name}`, t);
      for (const t of s.complexTypes) this.complexRaw.set(`${s.namespace}.${t.name}`, t);
      for (const t of s.enumTypes) this.enumNames.add(`${s.namespace}.${t.name}`);
      for (const g of s.annotationGroups) {
        const list = this.externalAnnotations.get(g.target) ?? [];
        list.push(...g.annotations);
        this.externalAnnotations.set(g.target, list);
      }
    }
  }

  typeRef(name: string): TypeRef {
    let ref = this.typeRefCache.get(name);
    if (ref) return ref;
    if (name.startsWith('Edm.')) ref = { kind: 'primitive', edmType: name as EdmPrimitive };
    else if (this.enumNames.has(name)) ref = { kind: 'enum', qualifiedName: name };
    else if (this.complexRaw.has(name)) ref = { kind: 'complex', qualifiedName: name };
    else if (this.entityRaw.has(name)) ref = { kind: 'entity', qualifiedName: name };
    // A type from a referenced document we were not given: typed as untyped rather than failing the whole run.
    else ref = { kind: 'primitive', edmType: 'Edm.Untyped' };
    this.typeRefCache.set(name, ref);
    return ref;
  }

  /** Walks BaseType links, base first; a cycle or a missing base ends the chain instead of looping. */
  private chain<T extends CsdlStructuredType>(qualifiedName: string, raw: Map<string, T>): T[] {
    const out: T[] = [];
    const seen = new Set<string>();
    let current: string | undefined = qualifiedName;
    while (current !== undefined && !seen.has(current)) {
      seen.add(current);
      const t = raw.get(current);
      if (!t) break;
      out.unshift(t);
      current = t.baseType;
    }
    return out;
  }

  private property(p: CsdlStructuredType['properties'][number]): PropertyModel {
    const model: PropertyModel = {
      name: p.name,
      type: this.typeRef(p.type.name),
      isCollection: p.type.isCollection,
      nullable: p.nullable,
      readOnly: false,
    };
    if (typeof p.maxLength === 'number') model.maxLength = p.maxLength;
    if (p.precision !== undefined) model.precision = p.precision;
    if (p.scale !== undefined) model.scale = p.scale === 'floating' ? 'variable' : p.scale;
    return model;
  }

  private flattenProperties(types: CsdlStructuredType[]): PropertyModel[] {
    const byName = new Map<string, PropertyModel>();
    // A derived type redeclaring a property replaces the inherited one in place.
    for (const t of types) for (const p of t.properties) byName.set(p.name, this.property(p));
    return [...byName.values()];
  }

  entityType(qualifiedName: string, raw: CsdlEntityType): Omit<EntityTypeModel, 'identifier' | 'fileName'> {
    const chain = this.chain(qualifiedName, this.entityRaw);
    const properties = this.flattenProperties(chain);
    const navByName = new Map<string, NavigationPropertyModel>();
    for (const t of chain) {
      for (const n of t.navigationProperties) {
        const nav: NavigationPropertyModel = {
          name: n.name,
          targetType: n.type.name,
          isCollection: n.type.isCollection,
          nullable: n.nullable,
          referentialConstraints: n.referentialConstraints,
        };
        if (n.partner !== undefined) nav.partner = n.partner;
        navByName.set(n.name, nav);
      }
    }
    const navigationProperties = [...navByName.values()];
    let key: string[] = [];
    for (const t of chain) if (t.key) key = t.key;

    let alternateKeys: string[][] = [];
    for (const t of chain) {
      const own = readAlternateKeys(t.annotations);
      if (own.length > 0) alternateKeys = own;
    }
    const external = this.externalAnnotations.get(qualifiedName);
    if (external) {
      const ext = readAlternateKeys(external);
      if (ext.length > 0) alternateKeys = ext;
    }

    // Tie `_x_value` lookups to the navigation properties whose ReferentialConstraint names them.
    const propByName = new Map(properties.map((p) => [p.name, p]));
    for (const nav of navigationProperties) {
      if (nav.isCollection) continue;
      for (const rc of nav.referentialConstraints) {
        const p = propByName.get(rc.property);
        if (!p) continue;
        (p.lookupNavigationProperties ??= []).push(nav.name);
      }
      if (READ_ONLY_NAVIGATIONS.has(nav.name)) nav.readOnly = true;
    }
    const hasFirstName = propByName.has('firstname');
    for (const p of properties) {
      if (
        isLookupValue(p.name) ||
        READ_ONLY_COLUMNS.has(p.name) ||
        p.name.endsWith('_composite') ||
        // Money columns' base-currency twins are computed from the exchange rate.
        (p.name.endsWith('_base') && p.type.kind === 'primitive' && p.type.edmType === 'Edm.Decimal') ||
        // contact/lead/systemuser compose fullname from the name parts.
        (hasFirstName && (p.name === 'fullname' || p.name === 'yomifullname'))
      ) {
        p.readOnly = true;
      } else if (CREATE_ONLY_COLUMNS.has(p.name) || (key.length === 1 && key[0] === p.name)) {
        p.createOnly = true;
      }
    }

    let primaryNameAttribute: string | undefined;
    for (const c of PRIMARY_NAME_CANDIDATES) {
      const t = propByName.get(c)?.type;
      if (t?.kind === 'primitive' && t.edmType === 'Edm.String') {
        primaryNameAttribute = c;
        break;
      }
    }
    if (primaryNameAttribute === undefined) {
      // Custom tables: `<publisher prefix>_name` (Dataverse creates it as the primary name column).
      const underscore = raw.name.indexOf('_');
      if (underscore > 0) {
        const candidate = `${raw.name.slice(0, underscore)}_name`;
        if (propByName.has(candidate)) primaryNameAttribute = candidate;
      }
    }

    const model: Omit<EntityTypeModel, 'identifier' | 'fileName'> = {
      name: raw.name,
      qualifiedName,
      abstract: raw.abstract,
      openType: chain.some((t) => t.openType),
      key,
      properties,
      navigationProperties,
      alternateKeys,
    };
    if (raw.baseType !== undefined) model.baseType = raw.baseType;
    if (primaryNameAttribute !== undefined) model.primaryNameAttribute = primaryNameAttribute;
    return model;
  }

  complexType(qualifiedName: string, raw: CsdlStructuredType): Omit<ComplexTypeModel, 'identifier' | 'fileName'> {
    const model: Omit<ComplexTypeModel, 'identifier' | 'fileName'> = {
      name: raw.name,
      qualifiedName,
      abstract: raw.abstract,
      openType: raw.openType,
      properties: this.flattenProperties(this.chain(qualifiedName, this.complexRaw)),
    };
    if (raw.baseType !== undefined) model.baseType = raw.baseType;
    return model;
  }

  parameter(p: { name: string; type: CsdlTypeName; nullable: boolean; annotations: CsdlAnnotation[] }): ParameterModel {
    return {
      name: p.name,
      type: this.typeRef(p.type.name),
      isCollection: p.type.isCollection,
      nullable: p.nullable,
      optional: p.annotations.some((a) => a.term === OPTIONAL_PARAMETER),
    };
  }
}

/**
 * Build the {@link ServiceModel} from a parsed CSDL document.
 *
 * Identifiers are assigned in a fixed order (entity types, then enum types, complex types and
 * operations, each in document order), so `solution` the table gets `Solution` and the complex
 * type `Solution` gets `Solution_1`; the same document always gives the same names.
 *
 * @example
 * const model = buildModel(readCsdl(xml));
 * model.entityTypes.get('Microsoft.Dynamics.CRM.account')?.entitySetName; // 'accounts'
 */
export function buildModel(doc: CsdlDocument): ServiceModel {
  validateDocument(doc);
  const b = new ModelBuilder(doc);
  const identifiers = new NameRegistry(false);
  // Stems reserved for the shared files every generated folder has.
  const files = new NameRegistry(true, ['index', 'schema', 'enums', 'complex-types', 'operations', 'option-sets']);

  const containerSchema = doc.schemas.find((s) => s.entityContainer) ?? doc.schemas[0]!;
  const mainSchema = doc.schemas.find((s) => s.entityTypes.length > 0) ?? containerSchema;
  const container = containerSchema.entityContainer;

  const entitySets: EntitySetModel[] = (container?.entitySets ?? []).map((es) => ({ name: es.name, entityType: es.entityType }));
  const setByType = new Map<string, string>();
  for (const es of entitySets) if (!setByType.has(es.entityType)) setByType.set(es.entityType, es.name);
  const bindingsBySet = new Map<string, Map<string, string>>();
  for (const es of container?.entitySets ?? []) {
    const m = new Map<string, string>();
    // Targets may be written `Container/set` (CSDL §13.4.2); only the set name matters here.
    for (const nb of es.navigationPropertyBindings) m.set(nb.path, nb.target.slice(nb.target.lastIndexOf('/') + 1));
    bindingsBySet.set(es.name, m);
  }

  const entityTypes = new Map<string, EntityTypeModel>();
  for (const s of doc.schemas) {
    for (const raw of s.entityTypes) {
      const qualifiedName = `${s.namespace}.${raw.name}`;
      const partial = b.entityType(qualifiedName, raw);
      const identifier = identifiers.claim(pascalCase(raw.name), (c) => Object.values(entityDerivedNames(c)));
      const fileName = files.claim(fileStem(raw.name));
      const model: EntityTypeModel = { ...partial, identifier, fileName };
      const set = setByType.get(qualifiedName);
      if (set !== undefined) model.entitySetName = set;
      entityTypes.set(qualifiedName, model);
    }
  }
  for (const e of entityTypes.values()) {
    const bindings = e.entitySetName === undefined ? undefined : bindingsBySet.get(e.entitySetName);
    for (const nav of e.navigationProperties) {
      const target = bindings?.get(nav.name) ?? setByType.get(nav.targetType);
      if (target !== undefined) nav.targetEntitySet = target;
    }
  }

  const enumTypes = new Map<string, EnumTypeModel>();
  for (const s of doc.schemas) {
    for (const raw of s.enumTypes) {
      const qualifiedName = `${s.namespace}.${raw.name}`;
      let next = 0;
      const members = raw.members.map((m) => {
        // CSDL §10.2.2: without Value, members take consecutive values from 0 (not allowed for flags).
        const value = m.value ?? next;
        next = value + 1;
        return { name: m.name, value };
      });
      enumTypes.set(qualifiedName, {
        name: raw.name,
        qualifiedName,
        identifier: identifiers.claim(pascalCase(raw.name), (c) => Object.values(enumDerivedNames(c))),
        isFlags: raw.isFlags,
        underlyingType: raw.underlyingType as EdmPrimitive,
        members,
      });
    }
  }

  const complexTypes = new Map<string, ComplexTypeModel>();
  for (const s of doc.schemas) {
    for (const raw of s.complexTypes) {
      const qualifiedName = `${s.namespace}.${raw.name}`;
      const partial = b.complexType(qualifiedName, raw);
      complexTypes.set(qualifiedName, {
        ...partial,
        identifier: identifiers.claim(pascalCase(raw.name)),
        fileName: files.claim(fileStem(raw.name)),
      });
    }
  }

  const imported = new Set<string>();
  for (const ai of container?.actionImports ?? []) imported.add(ai.action);
  for (const fi of container?.functionImports ?? []) imported.add(fi.function);

  const rawOps = doc.schemas.flatMap((s) => s.operations.map((op) => ({ op, qualifiedName: `${s.namespace}.${op.name}` })));
  const overloads = new Map<string, number>();
  for (const { qualifiedName } of rawOps) overloads.set(qualifiedName, (overloads.get(qualifiedName) ?? 0) + 1);
  const operations: OperationModel[] = [];
  // Unbound operations first so `X` goes to the unbound one and bound overloads get `X_Account`.
  const ordered = [...rawOps.filter((o) => !o.op.isBound), ...rawOps.filter((o) => o.op.isBound)];
  for (const { op, qualifiedName } of ordered) {
    const binding = op.isBound ? op.parameters[0] : undefined;
    const parameters = (binding ? op.parameters.slice(1) : op.parameters).map((p) => b.parameter(p));
    let base = pascalCase(op.name);
    if (binding && (overloads.get(qualifiedName) ?? 0) > 1) {
      const bound = entityTypes.get(binding.type.name)?.identifier ?? pascalCase(binding.type.name.slice(binding.type.name.lastIndexOf('.') + 1));
      base = `${base}_${bound}${binding.type.isCollection ? 'Collection' : ''}`;
    }
    const model: OperationModel = {
      kind: op.kind,
      name: op.name,
      qualifiedName,
      identifier: identifiers.claim(base, (c) => Object.values(operationDerivedNames(c))),
      isBound: op.isBound,
      parameters,
      imported: !op.isBound && imported.has(qualifiedName),
    };
    if (binding) {
      model.bindingType = binding.type.name;
      model.bindingIsCollection = binding.type.isCollection;
    }
    if (op.returnType) model.returnType = { type: b.typeRef(op.returnType.type.name), isCollection: op.returnType.type.isCollection, nullable: op.returnType.nullable };
    if (op.kind === 'function') model.isComposable = op.isComposable;
    operations.push(model);
  }
  // Back to document order (the emulator and the emitters list operations as the service does).
  const position = new Map(rawOps.map((o, i) => [o.op, i]));
  const opOrder = new Map(ordered.map((o, i) => [i, position.get(o.op) ?? 0]));
  const sortedOps = operations.map((op, i) => ({ op, at: opOrder.get(i) ?? 0 })).sort((x, y) => x.at - y.at).map((x) => x.op);

  const model: ServiceModel = {
    namespace: mainSchema.namespace,
    containerName: container?.name ?? '',
    entityTypes,
    complexTypes,
    enumTypes,
    operations: sortedOps,
    entitySets,
  };
  if (mainSchema.alias !== undefined) model.alias = mainSchema.alias;
  return model;
}

/**
 * Read and model a `$metadata` document in one step.
 *
 * @param xml - CSDL XML text.
 * @throws {@link CsdlError} `invalid_csdl` when the text is not a CSDL document.
 * @example
 * const model = loadModel(fs.readFileSync('metadata.xml', 'utf8'));
 */
export function loadModel(xml: string): ServiceModel {
  return buildModel(readCsdl(xml));
}
