/**
 * The emulator's view of a `$metadata` document: per entity set, the columns, keys, lookups and
 * navigation properties it needs to answer requests. Built from the {@link ServiceModel} of the shared
 * CSDL reader (`src/csdl`, which the code generator uses too).
 */
import type { EntityTypeModel, OperationModel, ServiceModel } from '../../csdl';
import type { ValueKind } from './filter';

export interface ColumnInfo {
  name: string;
  /** `Edm.String`, `Edm.Int32`, … or the qualified name of an enum/complex type. */
  edmType: string;
  kind: ValueKind;
  isCollection: boolean;
  /** A lookup's `_x_value`: the single-valued navigation properties that set it. */
  lookupNavigations?: string[];
  /** Money column (a Decimal with a `<name>_base` companion, as Dataverse models currency). */
  money: boolean;
  /** Longest value of an `Edm.String` column: the CSDL `MaxLength` facet when the document has one. */
  maxLength?: number;
}

export type NavKind = 'single' | 'oneToMany' | 'manyToMany';

export interface NavigationInfo {
  name: string;
  kind: NavKind;
  /** Qualified name of the target entity type. */
  targetType: string;
  /** Entity set the navigation leads to, when the target type has one. */
  targetSet?: string;
  partner?: string;
  /** For `single`: the local `_x_value` column. For `oneToMany`: the target's `_x_value` column pointing back. */
  lookupColumn?: string;
  /** For `oneToMany`: the partner single-valued navigation on the target (for polymorphic lookups). */
  partnerNavigation?: string;
  /** For `manyToMany`: a relationship key shared by both sides. */
  relationship?: string;
}

export interface EntitySetInfo {
  name: string;
  type: EntityTypeModel;
  logicalName: string;
  qualifiedName: string;
  /** Primary key column (Dataverse tables have exactly one; the first is used otherwise). */
  key: string;
  keyKind: ValueKind;
  columns: Map<string, ColumnInfo>;
  navigations: Map<string, NavigationInfo>;
  alternateKeys: string[][];
  primaryName?: string;
  /** Types this set's type derives from, itself first (for `@odata.bind` type checks). */
  typeChain: Set<string>;
}

export interface ServiceSchema {
  model: ServiceModel;
  namespace: string;
  sets: Map<string, EntitySetInfo>;
  /** Entity set by qualified type name (first set exposing it). */
  setByType: Map<string, EntitySetInfo>;
  /** Operations by simple name (overloads grouped). */
  operations: Map<string, OperationModel[]>;
}

export function kindOfEdm(edmType: string): ValueKind {
  switch (edmType) {
    case 'Edm.String':
      return 'string';
    case 'Edm.Int16':
    case 'Edm.Int32':
    case 'Edm.Int64':
    case 'Edm.Byte':
    case 'Edm.SByte':
    case 'Edm.Decimal':
    case 'Edm.Double':
    case 'Edm.Single':
      return 'number';
    case 'Edm.Boolean':
      return 'boolean';
    case 'Edm.Guid':
      return 'guid';
    case 'Edm.DateTimeOffset':
    case 'Edm.Date':
      return 'date';
    default:
      return 'other';
  }
}

/** Indexes a service model for request handling. */
export function buildSchema(model: ServiceModel): ServiceSchema {
  const sets = new Map<string, EntitySetInfo>();
  const setByType = new Map<string, EntitySetInfo>();
  const setNameByType = new Map<string, string>();
  for (const s of model.entitySets) if (!setNameByType.has(s.entityType)) setNameByType.set(s.entityType, s.name);

  // Per-type lookups, built once: the largest documents have ~11,000 navigation properties.
  const navIndex = new Map<string, Map<string, EntityTypeModel['navigationProperties'][number]>>();
  const propIndex = new Map<string, Set<string>>();
  const navsOf = (t: EntityTypeModel) => {
    let m = navIndex.get(t.qualifiedName);
    if (!m) {
      m = new Map(t.navigationProperties.map((n) => [n.name, n]));
      navIndex.set(t.qualifiedName, m);
    }
    return m;
  };
  const propsOf = (t: EntityTypeModel) => {
    let m = propIndex.get(t.qualifiedName);
    if (!m) {
      m = new Set(t.properties.map((p) => p.name));
      propIndex.set(t.qualifiedName, m);
    }
    return m;
  };
  const lookupCache = new Map<string, string | undefined>();
  const lookupOf = (t: EntityTypeModel, navName: string): string | undefined => {
    const cacheKey = `${t.qualifiedName}/${navName}`;
    if (lookupCache.has(cacheKey)) return lookupCache.get(cacheKey);
    const n = navsOf(t).get(navName);
    let result: string | undefined;
    if (n && !n.isCollection) {
      result = n.referentialConstraints[0]?.property;
      if (!result) {
        // Polymorphic lookups (regardingobjectid_account_task, customerid_account) come without a
        // ReferentialConstraint in Dataverse's CSDL; the column is `_<prefix>_value` for a prefix of the name.
        const names = propsOf(t);
        const parts = navName.split('_');
        for (let i = parts.length; i > 0 && !result; i--) {
          const candidate = `_${parts.slice(0, i).join('_')}_value`;
          if (names.has(candidate)) result = candidate;
        }
      }
    }
    lookupCache.set(cacheKey, result);
    return result;
  };

  for (const s of model.entitySets) {
    const type = model.entityTypes.get(s.entityType);
    if (!type) continue;
    const columns = new Map<string, ColumnInfo>();
    const propNames = new Set(type.properties.map((p) => p.name));
    for (const p of type.properties) {
      const edmType = p.type.kind === 'primitive' ? p.type.edmType : p.type.qualifiedName;
      const kind = p.type.kind === 'primitive' ? kindOfEdm(p.type.edmType) : p.type.kind === 'enum' ? 'string' : 'other';
      columns.set(p.name, {
        name: p.name,
        edmType,
        kind: p.isCollection ? 'other' : kind,
        isCollection: p.isCollection,
        ...(p.lookupNavigationProperties && p.lookupNavigationProperties.length > 0 ? { lookupNavigations: p.lookupNavigationProperties } : {}),
        money: edmType === 'Edm.Decimal' && (propNames.has(`${p.name}_base`) || p.name.endsWith('_base')),
        ...(p.maxLength !== undefined ? { maxLength: p.maxLength } : {}),
      });
    }
    const navigations = new Map<string, NavigationInfo>();
    for (const n of type.navigationProperties) {
      const targetSet = n.targetEntitySet ?? setNameByType.get(n.targetType);
      const base = { name: n.name, targetType: n.targetType, ...(targetSet ? { targetSet } : {}), ...(n.partner ? { partner: n.partner } : {}) };
      if (!n.isCollection) {
        const lookupColumn = lookupOf(type, n.name);
        navigations.set(n.name, { ...base, kind: 'single', ...(lookupColumn ? { lookupColumn } : {}) });
        const column = lookupColumn ? columns.get(lookupColumn) : undefined;
        if (column && !(column.lookupNavigations ?? []).includes(n.name)) column.lookupNavigations = [...(column.lookupNavigations ?? []), n.name];
        continue;
      }
      const target = model.entityTypes.get(n.targetType);
      const partnerNav = n.partner && target ? navsOf(target).get(n.partner) : undefined;
      const partnerLookup = partnerNav && target ? lookupOf(target, partnerNav.name) : undefined;
      if (partnerNav && !partnerNav.isCollection && partnerLookup) {
        navigations.set(n.name, {
          ...base,
          kind: 'oneToMany',
          lookupColumn: partnerLookup,
          partnerNavigation: partnerNav.name,
        });
      } else {
        // N:N: both sides are collections; one relationship key regardless of the side named.
        const relationship = [`${type.qualifiedName}/${n.name}`, `${n.targetType}/${n.partner ?? n.name}`].sort().join('|');
        navigations.set(n.name, { ...base, kind: 'manyToMany', relationship });
      }
    }
    const typeChain = new Set<string>();
    // A BaseType cycle in the document ends the chain instead of looping forever.
    for (let t: EntityTypeModel | undefined = type; t && !typeChain.has(t.qualifiedName); t = t.baseType ? model.entityTypes.get(t.baseType) : undefined) {
      typeChain.add(t.qualifiedName);
    }
    const key = type.key[0] ?? `${type.name}id`;
    const info: EntitySetInfo = {
      name: s.name,
      type,
      logicalName: type.name,
      qualifiedName: type.qualifiedName,
      key,
      keyKind: columns.get(key)?.kind ?? 'guid',
      columns,
      navigations,
      alternateKeys: type.alternateKeys,
      ...(type.primaryNameAttribute ? { primaryName: type.primaryNameAttribute } : {}),
      typeChain,
    };
    sets.set(s.name, info);
    if (!setByType.has(type.qualifiedName)) setByType.set(type.qualifiedName, info);
  }
  const operations = new Map<string, OperationModel[]>();
  for (const op of model.operations) {
    const list = operations.get(op.name) ?? [];
    list.push(op);
    operations.set(op.name, list);
  }
  return { model, namespace: model.namespace, sets, setByType, operations };
}
