/**
 * The raw shape of a CSDL document as read from XML (OData CSDL XML 4.01): one object per element,
 * attribute defaults applied, every type and term reference resolved from its alias
 * (`mscrm.account`) to its namespace-qualified name (`Microsoft.Dynamics.CRM.account`) and
 * `Collection(...)` unwrapped. Nothing is flattened or digested here; that is the model's job.
 */

/** A type reference as written in CSDL, with `Collection(...)` unwrapped and aliases resolved. */
export interface CsdlTypeName {
  /** Qualified name: `Edm.String`, `Microsoft.Dynamics.CRM.account`. */
  name: string;
  isCollection: boolean;
}

/** An annotation expression (CSDL XML §14.4): constants, paths, collections and records. */
export type CsdlExpression =
  | { kind: 'constant'; type: string; value: string }
  | { kind: 'path'; type: 'PropertyPath' | 'NavigationPropertyPath' | 'Path' | 'AnnotationPath'; value: string }
  | { kind: 'collection'; items: CsdlExpression[] }
  | { kind: 'record'; type?: string; properties: Record<string, CsdlExpression | undefined> };

export interface CsdlAnnotation {
  /** Qualified term name with aliases resolved, e.g. `OData.Community.Keys.V1.AlternateKeys`. */
  term: string;
  qualifier?: string;
  /** The value; absent for a bare `<Annotation Term="..."/>` (which means `true` for Boolean terms). */
  value?: CsdlExpression;
}

export interface CsdlProperty {
  name: string;
  type: CsdlTypeName;
  nullable: boolean;
  maxLength?: number | 'max';
  precision?: number;
  scale?: number | 'variable' | 'floating';
  annotations: CsdlAnnotation[];
}

export interface CsdlNavigationProperty {
  name: string;
  type: CsdlTypeName;
  nullable: boolean;
  partner?: string;
  containsTarget: boolean;
  referentialConstraints: { property: string; referencedProperty: string }[];
  annotations: CsdlAnnotation[];
}

export interface CsdlStructuredType {
  name: string;
  baseType?: string;
  abstract: boolean;
  openType: boolean;
  properties: CsdlProperty[];
  navigationProperties: CsdlNavigationProperty[];
  annotations: CsdlAnnotation[];
}

export interface CsdlEntityType extends CsdlStructuredType {
  /** Property names of `<Key>` (undefined when the type declares no key of its own). */
  key?: string[];
  hasStream: boolean;
}

export type CsdlComplexType = CsdlStructuredType;

export interface CsdlEnumType {
  name: string;
  isFlags: boolean;
  underlyingType: string;
  /** Members in document order; `value` is undefined where the document leaves it implicit. */
  members: { name: string; value?: number }[];
  annotations: CsdlAnnotation[];
}

export interface CsdlParameter {
  name: string;
  type: CsdlTypeName;
  nullable: boolean;
  annotations: CsdlAnnotation[];
}

export interface CsdlOperation {
  kind: 'action' | 'function';
  name: string;
  isBound: boolean;
  isComposable: boolean;
  entitySetPath?: string;
  parameters: CsdlParameter[];
  returnType?: { type: CsdlTypeName; nullable: boolean };
  annotations: CsdlAnnotation[];
}

export interface CsdlEntitySet {
  name: string;
  entityType: string;
  navigationPropertyBindings: { path: string; target: string }[];
  annotations: CsdlAnnotation[];
}

export interface CsdlEntityContainer {
  name: string;
  entitySets: CsdlEntitySet[];
  singletons: { name: string; type: string }[];
  actionImports: { name: string; action: string; entitySet?: string }[];
  functionImports: { name: string; function: string; entitySet?: string }[];
  annotations: CsdlAnnotation[];
}

export interface CsdlSchema {
  namespace: string;
  alias?: string;
  entityTypes: CsdlEntityType[];
  complexTypes: CsdlComplexType[];
  enumTypes: CsdlEnumType[];
  operations: CsdlOperation[];
  terms: { name: string; type: string; appliesTo?: string }[];
  entityContainer?: CsdlEntityContainer;
  /** External targeting (`<Annotations Target="...">`), target resolved from its alias. */
  annotationGroups: { target: string; annotations: CsdlAnnotation[] }[];
}

export interface CsdlDocument {
  /** `edmx:Edmx/@Version`, e.g. `4.0`. */
  version: string;
  references: { uri: string; includes: { namespace: string; alias?: string }[] }[];
  schemas: CsdlSchema[];
}
