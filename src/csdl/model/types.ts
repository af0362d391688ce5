/**
 * The intermediate model of a CSDL `$metadata` document: every base type flattened, every name
 * resolved, every identifier made valid and collision-free. Produced by `buildModel(readCsdl(xml))`
 * and consumed by the emitters and by the emulator (which serves any `$metadata` it is given).
 */

/** A primitive Edm type name as written in CSDL (`Edm.String`, `Edm.Guid`, `Edm.Decimal`, …). */
export type EdmPrimitive = `Edm.${string}`;

/** What a property's type refers to. */
export type TypeRef =
  | { kind: 'primitive'; edmType: EdmPrimitive }
  | { kind: 'enum'; qualifiedName: string }
  | { kind: 'complex'; qualifiedName: string }
  | { kind: 'entity'; qualifiedName: string };

export interface PropertyModel {
  /** CSDL name, e.g. `name`, `_primarycontactid_value`. */
  name: string;
  type: TypeRef;
  isCollection: boolean;
  /** CSDL `Nullable` (default true). Dataverse rarely marks columns non-nullable. */
  nullable: boolean;
  maxLength?: number;
  precision?: number;
  scale?: number | 'variable';
  /** Read-only on the Web API: lookups' `_x_value`, system columns (createdon, versionnumber, …). */
  readOnly: boolean;
  /** For `_x_value` lookup properties: the navigation properties whose ReferentialConstraint points at it. */
  lookupNavigationProperties?: string[];
  /** Settable on create but not on update (`overriddencreatedon`, `importsequencenumber`, the primary key). */
  createOnly?: boolean;
}

export interface NavigationPropertyModel {
  /** CSDL name, e.g. `primarycontactid`. */
  name: string;
  /** Qualified name of the target entity type. */
  targetType: string;
  isCollection: boolean;
  nullable: boolean;
  partner?: string;
  /** `ReferentialConstraint`s: local property → property on the target. */
  referentialConstraints: { property: string; referencedProperty: string }[];
  /** Entity set the navigation property leads to (its `NavigationPropertyBinding`, else the target type's set). */
  targetEntitySet?: string;
  /** Set by the platform, never through `@odata.bind` (`createdby`, `owningbusinessunit`, …). */
  readOnly?: boolean;
}

export interface EntityTypeModel {
  /** CSDL name, e.g. `account`: Dataverse's logical name. */
  name: string;
  /** `Microsoft.Dynamics.CRM.account`. */
  qualifiedName: string;
  /** Valid, collision-free TypeScript identifier in PascalCase, e.g. `Account` (`Solution` vs `Solution_1` for `solution`/`Solution`). */
  identifier: string;
  /** Valid, collision-free file name stem (case-insensitive unique), e.g. `account`. */
  fileName: string;
  abstract: boolean;
  openType: boolean;
  /** Qualified name of the direct base type, if any (the model is already flattened). */
  baseType?: string;
  /** Key property names after flattening; empty for keyless types such as `crmbaseentity` or `expando`. */
  key: string[];
  /** Every structural property, own and inherited, in document order (base first). */
  properties: PropertyModel[];
  /** Every navigation property, own and inherited. */
  navigationProperties: NavigationPropertyModel[];
  /** Alternate keys from `OData.Community.Keys.V1.AlternateKeys`, each a list of property names. */
  alternateKeys: string[][];
  /** Entity set exposing this type, if any (e.g. `accounts`). */
  entitySetName?: string;
  /** Primary name column when it can be inferred (e.g. `name`, `fullname`, `subject`). */
  primaryNameAttribute?: string;
}

export interface ComplexTypeModel {
  name: string;
  qualifiedName: string;
  identifier: string;
  fileName: string;
  /** Qualified name of the direct base type, if any (properties are already flattened). */
  baseType?: string;
  abstract?: boolean;
  openType?: boolean;
  properties: PropertyModel[];
}

export interface EnumMemberModel {
  name: string;
  value: number;
}

export interface EnumTypeModel {
  name: string;
  qualifiedName: string;
  identifier: string;
  isFlags: boolean;
  underlyingType: EdmPrimitive;
  members: EnumMemberModel[];
}

export interface ParameterModel {
  name: string;
  type: TypeRef;
  isCollection: boolean;
  nullable: boolean;
  /** Annotated `Org.OData.Core.V1.OptionalParameter`. */
  optional: boolean;
}

export interface OperationModel {
  kind: 'action' | 'function';
  name: string;
  qualifiedName: string;
  identifier: string;
  isBound: boolean;
  /** For bound operations: the binding parameter's type (first parameter), e.g. `Microsoft.Dynamics.CRM.account`. */
  bindingType?: string;
  bindingIsCollection?: boolean;
  /** Parameters without the binding parameter. */
  parameters: ParameterModel[];
  returnType?: { type: TypeRef; isCollection: boolean; nullable: boolean };
  /** Exposed through an ActionImport/FunctionImport in the entity container. */
  imported: boolean;
  /** CSDL `IsComposable` (functions only). */
  isComposable?: boolean;
}

export interface EntitySetModel {
  name: string;
  /** Qualified name of the entity type. */
  entityType: string;
}

/** The whole service. Maps are keyed by qualified name (`Microsoft.Dynamics.CRM.account`); aliases (`mscrm.`) are resolved. */
export interface ServiceModel {
  namespace: string;
  alias?: string;
  containerName: string;
  entityTypes: Map<string, EntityTypeModel>;
  complexTypes: Map<string, ComplexTypeModel>;
  enumTypes: Map<string, EnumTypeModel>;
  /** Actions and functions; overloads (same name, different binding) are separate entries. */
  operations: OperationModel[];
  entitySets: EntitySetModel[];
}
