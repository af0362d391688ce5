/**
 * The files every generated folder has besides the entity files: enum types, complex types,
 * actions and functions with typed wrappers, the `Schema` type map, and the barrel.
 */
import { entityDerivedNames, enumDerivedNames, operationDerivedNames, type EntityTypeModel, type OperationModel, type ParameterModel } from '../../csdl';
import { hasRuntimeModel, schemaEntry } from './entity';
import { arrayOf, byCodeUnit, doc, key, str } from './text';
import { Imports, typeText, type EmitContext, type EmittedFile } from './types';

function file(ctx: EmitContext, path: string, lines: string[]): EmittedFile {
  return { path, content: [ctx.header, ...lines, ''].join('\n') };
}

/** `enums.ts`: each EnumType as a const object of member names plus their numeric values. */
export function emitEnums(ctx: EmitContext): EmittedFile {
  const lines: string[] = [];
  const enums = [...ctx.model.enumTypes.values()].sort((a, b) => byCodeUnit(a.identifier, b.identifier));
  if (enums.length === 0) lines.push('export {};');
  for (const e of enums) {
    const n = enumDerivedNames(e.identifier);
    const members = e.members.map((m) => key(m.name));
    lines.push(
      `/** Enum type \`${doc(e.qualifiedName)}\`${e.isFlags ? ' (flags: the service sends and accepts member names joined by commas, e.g. `"A,B"`)' : ''}. Sent as member names. */`,
      `export const ${n.type} = {`,
      ...e.members.map((m, i) => `  ${members[i]}: ${str(m.name)},`),
      '} as const;',
    );
    const single = `(typeof ${n.type})[keyof typeof ${n.type}]`;
    lines.push(e.isFlags ? `export type ${n.type} = ${single} | \`\${${single}},\${string}\`;` : `export type ${n.type} = ${single};`);
    lines.push(`/** Numeric values of {@link ${n.type}}'s members. */`, `export const ${n.values} = {`, ...e.members.map((m, i) => `  ${members[i]}: ${m.value},`), '} as const;', '');
  }
  return file(ctx, 'enums.ts', lines);
}

/** `complex-types.ts`: every ComplexType, plus `EntityRecord` for entity-typed values. */
export function emitComplexTypes(ctx: EmitContext): EmittedFile {
  const imports = new Imports();
  const body: string[] = [
    '/**',
    ' * A row of any table where a parameter, result or complex property is entity-typed: `@odata.type`',
    ' * names the table (e.g. `Microsoft.Dynamics.CRM.account`), other properties are its columns.',
    ' */',
    `export interface EntityRecord<T extends string = string> {`,
    `  '@odata.type'?: \`#\${T}\` | T;`,
    '  [property: string]: unknown;',
    '}',
    '',
  ];
  const complex = [...ctx.model.complexTypes.values()].sort((a, b) => byCodeUnit(a.identifier, b.identifier));
  for (const c of complex) {
    body.push(`/** Complex type \`${doc(c.qualifiedName)}\`${c.abstract ? ' (abstract)' : ''}. */`, `export interface ${c.identifier} {`);
    for (const p of [...c.properties].sort((a, b) => byCodeUnit(a.name, b.name))) {
      const t = typeText(p.type, p.isCollection, ctx, imports, true);
      body.push(p.nullable ? `  ${key(p.name)}?: ${t} | null;` : `  ${key(p.name)}: ${t};`);
    }
    if (c.openType) body.push('  [property: string]: unknown;');
    body.push('}', '');
  }
  return file(ctx, 'complex-types.ts', [...imports.lines(), ...(imports.enums.size > 0 ? [''] : []), ...body]);
}

/**
 * What the service answers (OData JSON Format §11): an entity or complex result is the object
 * itself; a primitive, enum or collection result comes wrapped as `{ value }`.
 */
function returnTypeText(op: OperationModel, ctx: EmitContext, imports: Imports): string {
  if (!op.returnType) return 'void';
  const rt = op.returnType;
  let t = typeText(rt.type, false, ctx, imports);
  // A complex result has every property in the JSON (null when empty), unlike a complex input.
  if (rt.type.kind === 'complex' && ctx.model.complexTypes.has(rt.type.qualifiedName)) t = `Required<${t}>`;
  if (rt.isCollection) return `{ value: ${arrayOf(t)} }`;
  if (rt.type.kind === 'primitive' || rt.type.kind === 'enum') return `{ value: ${t}${rt.nullable ? ' | null' : ''} }`;
  return rt.nullable ? `${t} | null` : t;
}

/**
 * How a function parameter must be written in the URL (OData URL conventions §5.1.1): GUIDs,
 * dates and enum members are unquoted literals, which the client writes for `{ type, value }`.
 */
function functionArgument(p: ParameterModel, ctx: EmitContext, parametersOptional: boolean): string {
  const v = `parameters${parametersOptional ? '?.' : '.'}${/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p.name) ? p.name : `[${str(p.name)}]`}`;
  if (p.isCollection) return v;
  if (p.type.kind === 'primitive') {
    switch (p.type.edmType) {
      case 'Edm.Guid':
        return `literal('guid', ${v})`;
      case 'Edm.Duration':
        return `literal('duration', ${v})`;
      case 'Edm.DateTimeOffset':
      case 'Edm.Date':
      case 'Edm.TimeOfDay':
        return `literal('raw', ${v})`;
      default:
        return v;
    }
  }
  if (p.type.kind === 'enum') {
    const e = ctx.model.enumTypes.get(p.type.qualifiedName);
    if (e) return `enumLiteral(${str(e.qualifiedName)}, ${v})`;
  }
  return v;
}

/** `operations.ts`: parameter and result types of every action and function, and a typed wrapper for each. */
export function emitOperations(ctx: EmitContext, emitted: ReadonlySet<string>): EmittedFile {
  const imports = new Imports();
  const body: string[] = [];
  body.push(
    '/** A bound operation\'s target: a record of `entitySet` (or the entity set itself when `key` is absent). */',
    'export interface BoundOperationTarget {',
    '  entitySet: string;',
    '  key?: OperationKey;',
    '}',
    '',
    '/** A record\'s primary key GUID, or an alternate key as `{ column: value }`. */',
    'export type OperationKey = string | { readonly [column: string]: string | number | boolean };',
    '',
    '/**',
    ' * What the wrappers below need from a client: `DynamicsClient` satisfies it. Written out here so',
    ' * generated code depends on no runtime module.',
    ' */',
    'export interface OperationCaller {',
    '  callAction(name: string, parameters?: Record<string, unknown>, options?: { bound?: BoundOperationTarget }): Promise<unknown>;',
    '  callFunction(name: string, parameters?: Record<string, unknown>, options?: { bound?: BoundOperationTarget }): Promise<unknown>;',
    '}',
    '',
  );
  let usesLiterals = false;
  const ops = ctx.model.operations
    .filter((op) => !op.isBound || (op.bindingType !== undefined && (emitted.has(op.bindingType) || !ctx.model.entityTypes.has(op.bindingType))))
    .sort((a, b) => byCodeUnit(a.identifier, b.identifier));
  for (const op of ops) {
    const n = operationDerivedNames(op.identifier);
    const kind = op.kind === 'action' ? 'Action' : 'Function';
    const call = op.kind === 'action' ? 'callAction' : 'callFunction';
    const params = op.parameters;
    if (params.length > 0) {
      // A type alias, not an interface: only object literal types are assignable to `Record<string, unknown>`.
      body.push(`/** Parameters of ${op.kind} \`${doc(op.name)}\`. */`, `export type ${n.parameters} = {`);
      for (const p of params) {
        const t = typeText(p.type, p.isCollection, ctx, imports);
        const optional = p.optional || p.nullable;
        body.push(`  ${key(p.name)}${optional ? '?' : ''}: ${t}${p.nullable ? ' | null' : ''};`);
      }
      body.push('};');
    }
    const result = returnTypeText(op, ctx, imports);
    if (op.returnType) body.push(`/** Result of ${op.kind} \`${doc(op.name)}\`. */`, `export type ${n.result} = ${result};`);
    const resultName = op.returnType ? n.result : 'void';

    const allOptional = params.every((p) => p.optional || p.nullable);
    const binding: EntityTypeModel | undefined = op.bindingType === undefined ? undefined : ctx.model.entityTypes.get(op.bindingType);
    const bindingSet = binding?.entitySetName;
    const args = ['client: OperationCaller'];
    let bound = '';
    let bindingDoc = '';
    if (op.isBound) {
      const typeName = op.bindingType ?? '';
      if (bindingSet !== undefined && op.bindingIsCollection) {
        bound = `, { bound: { entitySet: ${str(bindingSet)} } }`;
        bindingDoc = ` bound to the \`${doc(bindingSet)}\` collection`;
      } else if (bindingSet !== undefined) {
        args.push('key: OperationKey');
        bound = `, { bound: { entitySet: ${str(bindingSet)}, key } }`;
        bindingDoc = ` bound to one \`${typeName.slice(typeName.lastIndexOf('.') + 1)}\` record (\`${bindingSet}\`)`;
      } else {
        args.push('target: BoundOperationTarget');
        bound = ', { bound: target }';
        bindingDoc = ` bound to \`${typeName}\`${op.bindingIsCollection ? ' (collection)' : ''}`;
      }
    }
    if (params.length > 0) args.push(`parameters${allOptional ? '?' : ''}: ${n.parameters}`);
    const converted = op.kind === 'function' ? params.map((p) => functionArgument(p, ctx, allOptional)) : [];
    const needsLiterals = converted.some((c) => /^(literal|enumLiteral)\(/.test(c));
    if (needsLiterals) usesLiterals = true;
    const paramArg = params.length === 0 ? 'undefined' : needsLiterals ? `{ ${params.map((p, i) => `${key(p.name)}: ${converted[i]}`).join(', ')} }` : 'parameters';
    const callArgs = bound ? `${str(op.name)}, ${paramArg}${bound}` : params.length > 0 ? `${str(op.name)}, ${paramArg}` : str(op.name);
    body.push(
      `/** ${kind} \`${doc(op.name)}\`${doc(bindingDoc)}${op.isComposable ? ' (composable)' : ''}. */`,
      `export function ${n.wrapper}(${args.join(', ')}): Promise<${resultName}> {`,
      `  return client.${call}(${callArgs}) as Promise<${resultName}>;`,
      '}',
      '',
    );
  }
  if (usesLiterals) {
    body.push(
    '/** A function argument the client writes as an unquoted OData literal (GUIDs, dates, durations). */',
    "function literal(type: 'guid' | 'raw' | 'duration', value: string | null | undefined): { type: 'guid' | 'raw' | 'duration'; value: string } | null | undefined {",
    '  return value === null || value === undefined ? value : { type, value };',
    '}',
    '',
    "/** An enum function argument: `Namespace.Type'Member'`. */",
    "function enumLiteral(type: string, value: string | null | undefined): { type: 'raw'; value: string } | null | undefined {",
    "  return value === null || value === undefined ? value : { type: 'raw', value: `${type}'${value}'` };",
    '}',
    '',
    );
  }
  const head = imports.lines();
  return file(ctx, 'operations.ts', [...head, ...(head.length > 0 ? [''] : []), ...body]);
}

/**
 * `schema.ts`: entity set → `{ read, create, update, model }` for every emitted entity type with a set,
 * and `model`, the runtime model of every such table (`DynamicsClient`'s `model` option).
 */
export function emitSchema(ctx: EmitContext, entities: EntityTypeModel[]): EmittedFile {
  const byType = new Map(entities.map((e) => [e.qualifiedName, e]));
  const sets = ctx.model.entitySets.filter((s) => byType.has(s.entityType)).sort((a, b) => byCodeUnit(a.name, b.name));
  const imports = new Map<string, EntityTypeModel>();
  for (const s of sets) imports.set(s.entityType, byType.get(s.entityType)!);
  const lines: string[] = [];
  const modelled = sets.filter((s) => {
    const e = byType.get(s.entityType)!;
    return s.name === e.entitySetName && hasRuntimeModel(e, [s.name]);
  });
  const withModel = new Set(modelled.map((s) => s.entityType));
  for (const e of [...imports.values()].sort((a, b) => byCodeUnit(a.fileName, b.fileName))) {
    const n = entityDerivedNames(e.identifier);
    const values = withModel.has(e.qualifiedName) ? `${n.model}, ` : '';
    lines.push(`import { ${values}type ${e.identifier}, type ${e.identifier}Create, type ${e.identifier}Update } from './${e.fileName}';`);
  }
  lines.push(
    '',
    '/**',
    ' * Entity set → read, create and update types, for `new DynamicsClient<Schema>(…)`. Importing it loads',
    ' * every entity file; to type-check less, intersect the `<Entity>EntitySet` types of the tables you use.',
    ' */',
    'export type Schema = {',
  );
  for (const s of sets) lines.push(`  ${key(s.name)}: ${schemaEntry(byType.get(s.entityType)!)};`);
  lines.push('};');
  lines.push(
    '',
    '/**',
    ' * The runtime model of every table above, for `new DynamicsClient<Schema>({ url, auth, model })`: with it,',
    ' * filters write a GUID column\'s value unquoted and a date column\'s value as a date. Importing it loads every',
    ' * entity file at run time; to load fewer, build the map from the `<Entity>Model` constants you use',
    ' * (`{ accounts: AccountModel }`).',
    ' */',
    'export const model = {',
  );
  for (const s of modelled) lines.push(`  ${key(s.name)}: ${entityDerivedNames(byType.get(s.entityType)!.identifier).model},`);
  lines.push('} as const;');
  return file(ctx, 'schema.ts', lines);
}

/** `index.ts`: re-exports everything. Importing it loads every file; import single entity files to stay cheap. */
export function emitBarrel(ctx: EmitContext, entities: EntityTypeModel[]): EmittedFile {
  const lines = [
    ...[...entities].sort((a, b) => byCodeUnit(a.fileName, b.fileName)).map((e) => `export * from './${e.fileName}';`),
    `export * from './complex-types';`,
    `export * from './enums';`,
    `export * from './operations';`,
    `export { model, type Schema } from './schema';`,
  ];
  return file(ctx, 'index.ts', lines);
}
