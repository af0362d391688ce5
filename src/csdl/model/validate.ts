/**
 * The checks a {@link CsdlDocument} must pass before it is modelled: every name a CSDL
 * SimpleIdentifier, every type reference resolvable, base types acyclic and of the same kind, keys
 * naming properties, and no name declared twice where CSDL requires it to be unique. A document
 * from `generate --url` against a hostile endpoint, or a third-party file, is input: what the
 * generator emits from it must never be more than types and constants, and the model's later
 * steps assume names resolve. (CSDL XML 4.01: https://docs.oasis-open.org/odata/odata-csdl-xml/v4.01/odata-csdl-xml-v4.01.html)
 */
import { CsdlError, quoteName } from '../errors';
import type { CsdlDocument, CsdlSchema, CsdlStructuredType, CsdlTypeName } from '../read/types';

/** CSDL XML §17.2 SimpleIdentifier: a letter or underscore, then up to 127 letters, digits, marks, connectors or format characters. */
const SIMPLE_IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}\p{Mn}\p{Mc}\p{Pc}\p{Cf}]{0,127}$/u;

/** CSDL XML §4.4 and §4.5: the primitive and abstract types of the `Edm` namespace. */
const EDM_TYPES = new Set(
  [
    'Binary', 'Boolean', 'Byte', 'Date', 'DateTimeOffset', 'Decimal', 'Double', 'Duration', 'Guid', 'Int16', 'Int32', 'Int64',
    'SByte', 'Single', 'Stream', 'String', 'TimeOfDay',
    'Geography', 'GeographyPoint', 'GeographyLineString', 'GeographyPolygon', 'GeographyMultiPoint', 'GeographyMultiLineString', 'GeographyMultiPolygon', 'GeographyCollection',
    'Geometry', 'GeometryPoint', 'GeometryLineString', 'GeometryPolygon', 'GeometryMultiPoint', 'GeometryMultiLineString', 'GeometryMultiPolygon', 'GeometryCollection',
    'PrimitiveType', 'ComplexType', 'EntityType', 'Untyped', 'AnnotationPath', 'PropertyPath', 'NavigationPropertyPath', 'AnyPropertyPath', 'ModelElementPath',
  ].map((t) => `Edm.${t}`),
);

/** CSDL XML §10.1.3: the underlying types an enumeration may have. */
const ENUM_UNDERLYING = new Set(['Edm.Byte', 'Edm.SByte', 'Edm.Int16', 'Edm.Int32', 'Edm.Int64']);

/** The ASCII subset, which every Dataverse name is in: tested first, it is several times cheaper than the Unicode classes. */
const ASCII_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Whether `name` is a CSDL SimpleIdentifier (CSDL XML §17.2). */
export function isSimpleIdentifier(name: unknown): name is string {
  return typeof name === 'string' && (ASCII_IDENTIFIER.test(name) || SIMPLE_IDENTIFIER.test(name));
}

/** CSDL XML §17.1 Namespace: dot-separated SimpleIdentifiers, at most 511 characters. */
function isNamespace(name: string): boolean {
  return name.length <= 511 && name.split('.').every(isSimpleIdentifier);
}

type Kind = 'EntityType' | 'ComplexType' | 'EnumType';
type TypeKind = Kind | 'Primitive';
const ANY: readonly TypeKind[] = ['Primitive', 'EnumType', 'ComplexType', 'EntityType'];

/** Collects the problems of one document; reports the first, which names the element at fault. */
class Validator {
  /** Qualified name → kind, for every type the document declares. */
  private readonly types = new Map<string, Kind>();
  private readonly structured = new Map<string, { kind: 'EntityType' | 'ComplexType'; type: CsdlStructuredType; schema: string }>();
  private readonly operations = new Set<string>();
  private readonly namespaces = new Set<string>();
  /** Namespaces of referenced documents (`edmx:Include`): their types cannot be checked and are accepted. */
  private readonly referenced = new Set<string>();

  constructor(private readonly doc: CsdlDocument) {}

  fail(where: string, problem: string): never {
    throw new CsdlError(`invalid CSDL: ${where}: ${problem}`);
  }

  name(element: string, name: string, within?: string): void {
    if (!isSimpleIdentifier(name)) {
      this.fail(`<${element} Name=${quoteName(name)}>${within ? ` in ${within}` : ''}`, 'the name is not a SimpleIdentifier (a letter or underscore, then letters, digits or underscores; CSDL §17.2)');
    }
  }

  unique(element: string, seen: Set<string>, name: string, within: string): void {
    if (seen.has(name)) this.fail(`<${element} Name=${quoteName(name)}> in ${within}`, 'the name is declared twice');
    seen.add(name);
  }

  run(): void {
    for (const ref of this.doc.references) for (const inc of ref.includes) this.referenced.add(inc.namespace);
    for (const s of this.doc.schemas) this.declare(s);
    for (const s of this.doc.schemas) this.check(s);
    for (const [qualifiedName, entry] of this.structured) this.baseChain(qualifiedName, entry.kind);
    for (const [qualifiedName, entry] of this.structured) if (entry.kind === 'EntityType') this.key(qualifiedName, entry.type as CsdlStructuredType & { key?: string[] });
  }

  /** Names and declarations of one schema: types, operations, terms. */
  private declare(s: CsdlSchema): void {
    if (!isNamespace(s.namespace)) this.fail(`<Schema Namespace=${quoteName(s.namespace)}>`, 'the namespace is not dot-separated SimpleIdentifiers (CSDL §17.1)');
    if (this.namespaces.has(s.namespace)) this.fail(`<Schema Namespace=${quoteName(s.namespace)}>`, 'the namespace is declared twice');
    this.namespaces.add(s.namespace);
    if (s.alias !== undefined && !isSimpleIdentifier(s.alias)) this.fail(`<Schema Alias=${quoteName(s.alias)}>`, 'the alias is not a SimpleIdentifier (CSDL §17.2)');
    const within = `schema ${s.namespace}`;
    // CSDL §5.1: types and terms share one namespace; operations may be overloaded, but not share a type's name.
    const names = new Set<string>();
    const declare = (kind: Kind, t: { name: string }): void => {
      this.name(kind, t.name, within);
      this.unique(kind, names, t.name, within);
      this.types.set(`${s.namespace}.${t.name}`, kind);
    };
    for (const t of s.entityTypes) {
      declare('EntityType', t);
      this.structured.set(`${s.namespace}.${t.name}`, { kind: 'EntityType', type: t, schema: s.namespace });
    }
    for (const t of s.complexTypes) {
      declare('ComplexType', t);
      this.structured.set(`${s.namespace}.${t.name}`, { kind: 'ComplexType', type: t, schema: s.namespace });
    }
    for (const t of s.enumTypes) declare('EnumType', t);
    for (const t of s.terms) {
      this.name('Term', t.name, within);
      this.unique('Term', names, t.name, within);
    }
    for (const op of s.operations) {
      const element = op.kind === 'action' ? 'Action' : 'Function';
      this.name(element, op.name, within);
      if (this.types.has(`${s.namespace}.${op.name}`)) this.fail(`<${element} Name=${quoteName(op.name)}> in ${within}`, 'the name is already a type or term of the schema');
      this.operations.add(`${s.namespace}.${op.name}`);
    }
  }

  /**
   * `what` (an attribute of `where`) names a type of one of `kinds`: an `Edm` type, a type this
   * document declares, or a type of a namespace the document only references (which cannot be checked).
   */
  private typeRef(at: () => string, what: string, type: CsdlTypeName | string, kinds: readonly TypeKind[]): void {
    const name = typeof type === 'string' ? type : type.name;
    const expected = (): string => kinds.map((k) => (k === 'Primitive' ? 'a primitive type' : `an ${k}`).replace('an Complex', 'a Complex')).join(' or ');
    if (name.startsWith('Edm.') && !this.namespaces.has('Edm')) {
      if (!EDM_TYPES.has(name)) this.fail(at(), `${what} ${quoteName(name)} is not an Edm type`);
      const kind: TypeKind = name === 'Edm.EntityType' ? 'EntityType' : name === 'Edm.ComplexType' ? 'ComplexType' : 'Primitive';
      if (!kinds.includes(kind)) this.fail(at(), `${what} ${quoteName(name)} is not ${expected()}`);
      return;
    }
    const kind = this.types.get(name);
    if (kind !== undefined) {
      if (!kinds.includes(kind)) this.fail(at(), `${what} ${quoteName(name)} is an ${kind}, not ${expected()}`);
      return;
    }
    if (this.referencedName(name)) return;
    const dot = name.lastIndexOf('.');
    const namespace = dot < 0 ? '' : name.slice(0, dot);
    this.fail(at(), `${what} ${quoteName(name)} names no type in the document${namespace && !this.namespaces.has(namespace) ? ' (its namespace is neither declared nor referenced)' : ''}`);
  }

  private check(s: CsdlSchema): void {
    const within = `schema ${s.namespace}`;
    for (const t of [...s.entityTypes.map((e) => ({ t: e, kind: 'EntityType' as const })), ...s.complexTypes.map((c) => ({ t: c, kind: 'ComplexType' as const }))]) {
      const where = `<${t.kind} Name=${quoteName(t.t.name)}> in ${within}`;
      if (t.t.baseType !== undefined) this.typeRef(() => where, 'BaseType', t.t.baseType, [t.kind]);
      // CSDL §6.1 (structural and navigation properties): one name per property of a type.
      const members = new Set<string>();
      for (const p of t.t.properties) {
        this.name('Property', p.name, `${t.kind} ${s.namespace}.${t.t.name}`);
        this.unique('Property', members, p.name, `${t.kind} ${s.namespace}.${t.t.name}`);
        this.typeRef(() => `<Property Name=${quoteName(p.name)}> of ${s.namespace}.${t.t.name}`, 'Type', p.type, ['Primitive', 'EnumType', 'ComplexType']);
      }
      for (const n of t.t.navigationProperties) {
        this.name('NavigationProperty', n.name, `${t.kind} ${s.namespace}.${t.t.name}`);
        this.unique('NavigationProperty', members, n.name, `${t.kind} ${s.namespace}.${t.t.name}`);
        this.typeRef(() => `<NavigationProperty Name=${quoteName(n.name)}> of ${s.namespace}.${t.t.name}`, 'Type', n.type, ['EntityType']);
      }
    }
    for (const e of s.enumTypes) {
      const where = `<EnumType Name=${quoteName(e.name)}> in ${within}`;
      if (!ENUM_UNDERLYING.has(e.underlyingType)) this.fail(where, `UnderlyingType ${quoteName(e.underlyingType)} is not Edm.Byte, Edm.SByte, Edm.Int16, Edm.Int32 or Edm.Int64`);
      const members = new Set<string>();
      for (const m of e.members) {
        this.name('Member', m.name, `EnumType ${s.namespace}.${e.name}`);
        this.unique('Member', members, m.name, `EnumType ${s.namespace}.${e.name}`);
        if (m.value !== undefined && !Number.isSafeInteger(m.value)) this.fail(`<Member Name=${quoteName(m.name)}> of ${s.namespace}.${e.name}`, 'Value is not an integer');
      }
    }
    for (const op of s.operations) {
      const element = op.kind === 'action' ? 'Action' : 'Function';
      const where = `<${element} Name=${quoteName(op.name)}> in ${within}`;
      const params = new Set<string>();
      for (const p of op.parameters) {
        this.name('Parameter', p.name, `${element} ${s.namespace}.${op.name}`);
        this.unique('Parameter', params, p.name, `${element} ${s.namespace}.${op.name}`);
        this.typeRef(() => `<Parameter Name=${quoteName(p.name)}> of ${s.namespace}.${op.name}`, 'Type', p.type, ANY);
      }
      if (op.isBound && op.parameters.length === 0) this.fail(where, 'a bound operation needs its binding parameter');
      if (op.returnType) this.typeRef(() => where, 'ReturnType', op.returnType.type, ANY);
    }
    const c = s.entityContainer;
    if (c) {
      this.name('EntityContainer', c.name, within);
      const where = `EntityContainer ${s.namespace}.${c.name}`;
      // CSDL §13: the children of an entity container share one set of names.
      const names = new Set<string>();
      for (const es of c.entitySets) {
        this.name('EntitySet', es.name, where);
        this.unique('EntitySet', names, es.name, where);
        this.typeRef(() => `<EntitySet Name=${quoteName(es.name)}> in ${where}`, 'EntityType', es.entityType, ['EntityType']);
      }
      for (const sg of c.singletons) {
        this.name('Singleton', sg.name, where);
        this.unique('Singleton', names, sg.name, where);
        this.typeRef(() => `<Singleton Name=${quoteName(sg.name)}> in ${where}`, 'Type', sg.type, ['EntityType']);
      }
      for (const ai of c.actionImports) {
        this.name('ActionImport', ai.name, where);
        this.unique('ActionImport', names, ai.name, where);
        if (!this.operations.has(ai.action) && !this.referencedName(ai.action)) this.fail(`<ActionImport Name=${quoteName(ai.name)}> in ${where}`, `Action ${quoteName(ai.action)} names no action in the document`);
      }
      for (const fi of c.functionImports) {
        this.name('FunctionImport', fi.name, where);
        this.unique('FunctionImport', names, fi.name, where);
        if (!this.operations.has(fi.function) && !this.referencedName(fi.function)) this.fail(`<FunctionImport Name=${quoteName(fi.name)}> in ${where}`, `Function ${quoteName(fi.function)} names no function in the document`);
      }
    }
  }

  /** A name in a namespace the document references but does not declare: accepted unchecked. */
  private referencedName(name: string): boolean {
    const dot = name.lastIndexOf('.');
    return dot > 0 && this.referenced.has(name.slice(0, dot)) && !this.namespaces.has(name.slice(0, dot)) && isSimpleIdentifier(name.slice(dot + 1));
  }

  /** CSDL §6.1.1: a base type is of the same kind, and no type derives from itself. */
  private baseChain(qualifiedName: string, kind: 'EntityType' | 'ComplexType'): void {
    const seen = [qualifiedName];
    let current = this.structured.get(qualifiedName)?.type.baseType;
    while (current !== undefined) {
      if (seen.includes(current)) {
        const start = this.structured.get(qualifiedName)!;
        this.fail(`<${kind} Name=${quoteName(start.type.name)}> in schema ${start.schema}`, `its BaseType chain is a cycle (${[...seen, current].join(' → ')})`);
      }
      seen.push(current);
      current = this.structured.get(current)?.type.baseType;
    }
  }

  /** CSDL §8.2: every `PropertyRef` of a key names a structural property of the type or of a base type. */
  private key(qualifiedName: string, type: CsdlStructuredType & { key?: string[] }): void {
    if (!type.key) return;
    const entry = this.structured.get(qualifiedName)!;
    const properties = new Set<string>();
    let current: CsdlStructuredType | undefined = type;
    const seen = new Set<CsdlStructuredType>();
    while (current && !seen.has(current)) {
      seen.add(current);
      for (const p of current.properties) properties.add(p.name);
      current = current.baseType === undefined ? undefined : this.structured.get(current.baseType)?.type;
    }
    const refs = new Set<string>();
    for (const ref of type.key) {
      const where = `<PropertyRef Name=${quoteName(ref)}> in the Key of ${entry.schema}.${type.name}`;
      // A key property of a complex property is written as a path (CSDL §8.3.1); its first segment is a property of this type.
      const head = ref.split('/')[0]!;
      if (!ref.split('/').every(isSimpleIdentifier)) this.fail(where, 'the name is not a property path of SimpleIdentifiers');
      if (!properties.has(head)) this.fail(where, `${type.name} has no property ${quoteName(head)}`);
      if (refs.has(ref)) this.fail(where, 'the property is named twice');
      refs.add(ref);
    }
  }
}

/**
 * Checks `doc` against the CSDL rules the model and the generator rely on.
 *
 * @throws {@link CsdlError} `invalid_csdl` naming the element and the name at fault.
 */
export function validateDocument(doc: CsdlDocument): void {
  new Validator(doc).run();
}
