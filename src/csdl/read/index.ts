/**
 * Read a CSDL XML `$metadata` document into {@link CsdlDocument}. Uses fast-xml-parser, which does
 * not care about whitespace between elements, so one-line server output and pretty-printed
 * re-serialisations (OData Connected Service, `xmllint --format`) read the same.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CsdlError, escapeInvisible, quoteName } from '../errors';
import type {
  CsdlAnnotation,
  CsdlComplexType,
  CsdlDocument,
  CsdlEntityContainer,
  CsdlEntityType,
  CsdlEnumType,
  CsdlExpression,
  CsdlNavigationProperty,
  CsdlOperation,
  CsdlParameter,
  CsdlProperty,
  CsdlSchema,
  CsdlStructuredType,
  CsdlTypeName,
} from './types';

export type * from './types';

/** A parsed element: attributes as string fields, child elements as arrays under their local name. */
type Node = { [key: string]: Node[] | string | undefined };

/** Constant expression element/attribute names (CSDL XML §14.4.1–14.4.13). */
const CONSTANT_KINDS = ['String', 'Bool', 'Int', 'Decimal', 'Float', 'Guid', 'Date', 'DateTimeOffset', 'TimeOfDay', 'Duration', 'Binary', 'EnumMember'] as const;
const PATH_KINDS = ['PropertyPath', 'NavigationPropertyPath', 'Path', 'AnnotationPath'] as const;

function newParser(): XMLParser {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    removeNSPrefix: true,
    parseAttributeValue: false,
    parseTagValue: false,
    ignoreDeclaration: true,
    trimValues: true,
    textNodeName: '#text',
    // The reader never looks at paths; building a path string per element costs a third of the parse.
    jPath: false,
    // Every element as an array: CSDL repeats almost everything, and a uniform shape keeps the reader simple.
    isArray: (_name: string, _jPath: unknown, _isLeaf: boolean, isAttribute: boolean) => !isAttribute,
  });
}

function children(node: Node, name: string): Node[] {
  const value = node[name];
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' && v !== null ? v : ({ '#text': String(v) } as Node)));
  return [];
}

function attr(node: Node, name: string): string | undefined {
  const value = node[name];
  return typeof value === 'string' ? value : undefined;
}

function requiredAttr(node: Node, name: string, element: string): string {
  const value = attr(node, name);
  if (value === undefined) throw new CsdlError(`invalid CSDL: <${element}> without the required ${name} attribute`);
  return value;
}

function text(node: Node): string {
  const value = node['#text'];
  return typeof value === 'string' ? value : '';
}

function bool(value: string | undefined, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  return value === 'true';
}

function int(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Resolves `alias.Name` and `Namespace.Name` references. Aliases come from every `<Schema Alias>`
 * and `<edmx:Include Alias>` in the document (CSDL XML §3.4, §5.1).
 */
class NameResolver {
  constructor(private readonly aliases: Map<string, string>) {}

  qualified(name: string): string {
    const dot = name.lastIndexOf('.');
    if (dot < 0) return name;
    const prefix = name.slice(0, dot);
    const ns = this.aliases.get(prefix);
    return ns === undefined ? name : `${ns}${name.slice(dot)}`;
  }

  typeName(raw: string): CsdlTypeName {
    if (raw.startsWith('Collection(') && raw.endsWith(')')) return { name: this.qualified(raw.slice(11, -1)), isCollection: true };
    return { name: this.qualified(raw), isCollection: false };
  }

  /** Annotation targets such as `mscrm.account/name` resolve only their leading qualified name. */
  target(raw: string): string {
    const slash = raw.indexOf('/');
    const head = slash < 0 ? raw : raw.slice(0, slash);
    const paren = head.indexOf('(');
    const typePart = paren < 0 ? head : head.slice(0, paren);
    return this.qualified(typePart) + raw.slice(typePart.length);
  }
}

function readExpression(node: Node, r: NameResolver): CsdlExpression | undefined {
  // Inline attribute form: <Annotation Term="..." String="x"/>, <PropertyValue Property="p" PropertyPath="q"/>.
  for (const kind of CONSTANT_KINDS) {
    const v = attr(node, kind);
    if (v !== undefined) return { kind: 'constant', type: kind, value: kind === 'EnumMember' ? v.split(/\s+/).map((m) => r.target(m)).join(' ') : v };
  }
  for (const kind of PATH_KINDS) {
    const v = attr(node, kind);
    if (v !== undefined) return { kind: 'path', type: kind, value: v };
  }
  // Element form.
  const collection = children(node, 'Collection')[0];
  if (collection) return readCollection(collection, r);
  const record = children(node, 'Record')[0];
  if (record) return readRecord(record, r);
  for (const kind of CONSTANT_KINDS) {
    const el = children(node, kind)[0];
    if (el) return { kind: 'constant', type: kind, value: text(el) };
  }
  for (const kind of PATH_KINDS) {
    const el = children(node, kind)[0];
    if (el) return { kind: 'path', type: kind, value: text(el) };
  }
  return undefined;
}

function readCollection(node: Node, r: NameResolver): CsdlExpression {
  const items: CsdlExpression[] = [];
  for (const rec of children(node, 'Record')) items.push(readRecord(rec, r));
  for (const kind of CONSTANT_KINDS) for (const el of children(node, kind)) items.push({ kind: 'constant', type: kind, value: text(el) });
  for (const kind of PATH_KINDS) for (const el of children(node, kind)) items.push({ kind: 'path', type: kind, value: text(el) });
  for (const el of children(node, 'Collection')) items.push(readCollection(el, r));
  return { kind: 'collection', items };
}

function readRecord(node: Node, r: NameResolver): CsdlExpression {
  const properties: Record<string, CsdlExpression | undefined> = {};
  for (const pv of children(node, 'PropertyValue')) {
    const name = attr(pv, 'Property');
    if (name !== undefined) properties[name] = readExpression(pv, r);
  }
  const type = attr(node, 'Type');
  return { kind: 'record', type: type === undefined ? undefined : r.qualified(type), properties };
}

function readAnnotations(node: Node, r: NameResolver): CsdlAnnotation[] {
  const list = children(node, 'Annotation');
  if (list.length === 0) return EMPTY_ANNOTATIONS;
  return list.map((a) => {
    const annotation: CsdlAnnotation = { term: r.qualified(requiredAttr(a, 'Term', 'Annotation')) };
    const qualifier = attr(a, 'Qualifier');
    if (qualifier !== undefined) annotation.qualifier = qualifier;
    const value = readExpression(a, r);
    if (value !== undefined) annotation.value = value;
    return annotation;
  });
}

// Shared empty array: most elements carry no annotations, and 30,000 empty arrays are not free.
const EMPTY_ANNOTATIONS: CsdlAnnotation[] = [];

function readScale(value: string | undefined): CsdlProperty['scale'] {
  if (value === undefined) return undefined;
  // CSDL 4.0 writes `variable`; some serialisers capitalise it.
  const lower = value.toLowerCase();
  if (lower === 'variable' || lower === 'floating') return lower;
  return int(value);
}

function readProperty(p: Node, r: NameResolver): CsdlProperty {
  const property: CsdlProperty = {
    name: requiredAttr(p, 'Name', 'Property'),
    type: r.typeName(requiredAttr(p, 'Type', 'Property')),
    nullable: bool(attr(p, 'Nullable'), true),
    annotations: readAnnotations(p, r),
  };
  const maxLength = attr(p, 'MaxLength');
  // CSDL §7.2.2, §7.2.3: MaxLength is `max` or a non-negative integer, Precision a non-negative integer.
  if (maxLength !== undefined && maxLength !== 'max' && !/^\d{1,15}$/.test(maxLength)) throw new CsdlError(`invalid CSDL: <Property Name=${quoteName(property.name)}>: MaxLength ${quoteName(maxLength)} is not a whole number or max`);
  if (maxLength !== undefined) property.maxLength = maxLength === 'max' ? 'max' : Number(maxLength);
  const precisionText = attr(p, 'Precision');
  if (precisionText !== undefined && !/^\d{1,15}$/.test(precisionText)) throw new CsdlError(`invalid CSDL: <Property Name=${quoteName(property.name)}>: Precision ${quoteName(precisionText)} is not a whole number`);
  const precision = int(precisionText);
  if (precision !== undefined) property.precision = precision;
  const scale = readScale(attr(p, 'Scale'));
  if (scale !== undefined) property.scale = scale;
  return property;
}

function readNavigationProperty(n: Node, r: NameResolver): CsdlNavigationProperty {
  const nav: CsdlNavigationProperty = {
    name: requiredAttr(n, 'Name', 'NavigationProperty'),
    type: r.typeName(requiredAttr(n, 'Type', 'NavigationProperty')),
    // CSDL §8.2: Nullable applies to single-valued navigation properties only; absent means true.
    nullable: bool(attr(n, 'Nullable'), true),
    containsTarget: bool(attr(n, 'ContainsTarget'), false),
    referentialConstraints: children(n, 'ReferentialConstraint').map((rc) => ({
      property: requiredAttr(rc, 'Property', 'ReferentialConstraint'),
      referencedProperty: requiredAttr(rc, 'ReferencedProperty', 'ReferentialConstraint'),
    })),
    annotations: readAnnotations(n, r),
  };
  const partner = attr(n, 'Partner');
  if (partner !== undefined) nav.partner = partner;
  return nav;
}

function readStructured(t: Node, r: NameResolver, element: string): CsdlStructuredType {
  const baseType = attr(t, 'BaseType');
  const type: CsdlStructuredType = {
    name: requiredAttr(t, 'Name', element),
    abstract: bool(attr(t, 'Abstract'), false),
    openType: bool(attr(t, 'OpenType'), false),
    properties: children(t, 'Property').map((p) => readProperty(p, r)),
    navigationProperties: children(t, 'NavigationProperty').map((n) => readNavigationProperty(n, r)),
    annotations: readAnnotations(t, r),
  };
  if (baseType !== undefined) type.baseType = r.qualified(baseType);
  return type;
}

function readEntityType(t: Node, r: NameResolver): CsdlEntityType {
  const entity: CsdlEntityType = { ...readStructured(t, r, 'EntityType'), hasStream: bool(attr(t, 'HasStream'), false) };
  const key = children(t, 'Key')[0];
  if (key) entity.key = children(key, 'PropertyRef').map((pr) => requiredAttr(pr, 'Name', 'PropertyRef'));
  return entity;
}

function readEnumType(t: Node, r: NameResolver): CsdlEnumType {
  return {
    name: requiredAttr(t, 'Name', 'EnumType'),
    isFlags: bool(attr(t, 'IsFlags'), false),
    underlyingType: r.qualified(attr(t, 'UnderlyingType') ?? 'Edm.Int32'),
    members: children(t, 'Member').map((m) => {
      const text = attr(m, 'Value');
      // CSDL §10.2.2: an integer of the underlying type.
      if (text !== undefined && !/^-?\d{1,19}$/.test(text)) throw new CsdlError(`invalid CSDL: <Member Name=${quoteName(attr(m, 'Name') ?? '')}>: Value ${quoteName(text)} is not an integer`);
      const value = int(text);
      return value === undefined ? { name: requiredAttr(m, 'Name', 'Member') } : { name: requiredAttr(m, 'Name', 'Member'), value };
    }),
    annotations: readAnnotations(t, r),
  };
}

function readParameter(p: Node, r: NameResolver): CsdlParameter {
  return {
    name: requiredAttr(p, 'Name', 'Parameter'),
    type: r.typeName(requiredAttr(p, 'Type', 'Parameter')),
    nullable: bool(attr(p, 'Nullable'), true),
    annotations: readAnnotations(p, r),
  };
}

function readOperation(o: Node, kind: 'action' | 'function', r: NameResolver): CsdlOperation {
  const element = kind === 'action' ? 'Action' : 'Function';
  const op: CsdlOperation = {
    kind,
    name: requiredAttr(o, 'Name', element),
    isBound: bool(attr(o, 'IsBound'), false),
    isComposable: bool(attr(o, 'IsComposable'), false),
    parameters: children(o, 'Parameter').map((p) => readParameter(p, r)),
    annotations: readAnnotations(o, r),
  };
  const entitySetPath = attr(o, 'EntitySetPath');
  if (entitySetPath !== undefined) op.entitySetPath = entitySetPath;
  const ret = children(o, 'ReturnType')[0];
  if (ret) op.returnType = { type: r.typeName(requiredAttr(ret, 'Type', 'ReturnType')), nullable: bool(attr(ret, 'Nullable'), true) };
  return op;
}

function readContainer(c: Node, r: NameResolver): CsdlEntityContainer {
  return {
    name: requiredAttr(c, 'Name', 'EntityContainer'),
    entitySets: children(c, 'EntitySet').map((es) => ({
      name: requiredAttr(es, 'Name', 'EntitySet'),
      entityType: r.qualified(requiredAttr(es, 'EntityType', 'EntitySet')),
      navigationPropertyBindings: children(es, 'NavigationPropertyBinding').map((b) => ({
        path: requiredAttr(b, 'Path', 'NavigationPropertyBinding'),
        target: requiredAttr(b, 'Target', 'NavigationPropertyBinding'),
      })),
      annotations: readAnnotations(es, r),
    })),
    singletons: children(c, 'Singleton').map((s) => ({ name: requiredAttr(s, 'Name', 'Singleton'), type: r.qualified(requiredAttr(s, 'Type', 'Singleton')) })),
    actionImports: children(c, 'ActionImport').map((a) => {
      const entitySet = attr(a, 'EntitySet');
      const item = { name: requiredAttr(a, 'Name', 'ActionImport'), action: r.qualified(requiredAttr(a, 'Action', 'ActionImport')) };
      return entitySet === undefined ? item : { ...item, entitySet };
    }),
    functionImports: children(c, 'FunctionImport').map((f) => {
      const entitySet = attr(f, 'EntitySet');
      const item = { name: requiredAttr(f, 'Name', 'FunctionImport'), function: r.qualified(requiredAttr(f, 'Function', 'FunctionImport')) };
      return entitySet === undefined ? item : { ...item, entitySet };
    }),
    annotations: readAnnotations(c, r),
  };
}

function readSchema(s: Node, r: NameResolver): CsdlSchema {
  const operations: CsdlOperation[] = [];
  for (const a of children(s, 'Action')) operations.push(readOperation(a, 'action', r));
  for (const f of children(s, 'Function')) operations.push(readOperation(f, 'function', r));
  const schema: CsdlSchema = {
    namespace: requiredAttr(s, 'Namespace', 'Schema'),
    entityTypes: children(s, 'EntityType').map((t) => readEntityType(t, r)),
    complexTypes: children(s, 'ComplexType').map((t): CsdlComplexType => readStructured(t, r, 'ComplexType')),
    enumTypes: children(s, 'EnumType').map((t) => readEnumType(t, r)),
    operations,
    terms: children(s, 'Term').map((t) => {
      const appliesTo = attr(t, 'AppliesTo');
      const term = { name: requiredAttr(t, 'Name', 'Term'), type: r.qualified(requiredAttr(t, 'Type', 'Term')) };
      return appliesTo === undefined ? term : { ...term, appliesTo };
    }),
    annotationGroups: children(s, 'Annotations').map((g) => ({ target: r.target(requiredAttr(g, 'Target', 'Annotations')), annotations: readAnnotations(g, r) })),
  };
  const alias = attr(s, 'Alias');
  if (alias !== undefined) schema.alias = alias;
  const container = children(s, 'EntityContainer')[0];
  if (container) schema.entityContainer = readContainer(container, r);
  return schema;
}

/**
 * Parse a CSDL XML document (`$metadata`).
 *
 * @param xml - the document text; whitespace, attribute order and the XML declaration do not matter.
 * @returns every schema with aliases resolved to namespaces.
 * @throws {@link CsdlError} `invalid_csdl` when the text is not well-formed XML or not an `edmx:Edmx` document.
 *
 * @example
 * const doc = readCsdl(fs.readFileSync('metadata.xml', 'utf8'));
 * doc.schemas[0].entityTypes.length; // 423
 */
export function readCsdl(xml: string): CsdlDocument {
  if (typeof xml !== 'string') throw new CsdlError('invalid CSDL: expected the XML text of a $metadata document');
  let parsed: Node;
  // The parser itself is lenient (a mismatched or missing closing tag is silently repaired, a
  // repeated attribute keeps its last value): a document that is not well-formed XML is refused
  // here rather than read as something its author did not write.
  const wellFormed = XMLValidator.validate(xml);
  if (wellFormed !== true) {
    const { msg, line, col } = wellFormed.err;
    throw new CsdlError(`invalid CSDL: not well-formed XML at line ${line}, column ${col} (${escapeInvisible(msg.length > 200 ? `${msg.slice(0, 200)}…` : msg)})`);
  }
  try {
    parsed = newParser().parse(xml) as Node;
  } catch (err) {
    throw new CsdlError(`invalid CSDL: not well-formed XML (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const roots = Object.keys(parsed).filter((k) => k !== '#text');
  if (roots.length > 1 || children(parsed, roots[0] ?? '').length > 1) throw new CsdlError(`invalid CSDL: more than one root element (${roots.slice(0, 3).map((r) => `<${r}>`).join(', ')})`);
  const edmx = children(parsed, 'Edmx')[0];
  if (!edmx) {
    const snippet = escapeInvisible(xml.slice(0, 80).replace(/\s+/g, ' '));
    throw new CsdlError(`invalid CSDL: expected an <edmx:Edmx> root element, got "${snippet}${xml.length > 80 ? '…' : ''}"`);
  }
  const dataServices = children(edmx, 'DataServices')[0];
  if (!dataServices) throw new CsdlError('invalid CSDL: <edmx:Edmx> has no <edmx:DataServices> element');
  const schemaNodes = children(dataServices, 'Schema');
  if (schemaNodes.length === 0) throw new CsdlError('invalid CSDL: <edmx:DataServices> has no <Schema> element');

  const references = children(edmx, 'Reference').map((ref) => ({
    uri: attr(ref, 'Uri') ?? '',
    includes: children(ref, 'Include').map((inc) => {
      const alias = attr(inc, 'Alias');
      const namespace = requiredAttr(inc, 'Namespace', 'edmx:Include');
      return alias === undefined ? { namespace } : { namespace, alias };
    }),
  }));

  const aliases = new Map<string, string>();
  for (const ref of references) for (const inc of ref.includes) if (inc.alias) aliases.set(inc.alias, inc.namespace);
  for (const s of schemaNodes) {
    const alias = attr(s, 'Alias');
    const namespace = attr(s, 'Namespace');
    if (alias !== undefined && namespace !== undefined) aliases.set(alias, namespace);
  }
  const resolver = new NameResolver(aliases);
  return { version: attr(edmx, 'Version') ?? '4.0', references, schemas: schemaNodes.map((s) => readSchema(s, resolver)) };
}
