/**
 * One file per entity type: option sets, the read interface, create and update inputs, the zod
 * schema, the metadata constant and the entity-set entry of the `Schema` type map. The file
 * imports only `zod` and, when a column needs them, types from `./complex-types` and `./enums`:
 * never another entity's file, so importing three entities loads three files.
 */
import { entityDerivedNames, pascalCase, type EntityTypeModel, type NavigationPropertyModel, type PropertyModel } from '../../csdl';
import type { ColumnOptionSet } from '../optionsets';
import { edmMapping } from './edm';
import { arrayOf, byCodeUnit, doc, key, str } from './text';
import { Imports, typeText, type EmitContext, type EmittedFile } from './types';

interface EmittedOptionSet {
  column: ColumnOptionSet;
  /** Identifier of the const object and its union type; `undefined` for booleans (labels only). */
  type?: string;
  labels: string;
}

function optionMemberKeys(column: ColumnOptionSet): string[] {
  const used = new Set<string>();
  return column.options.map((o) => {
    let base = pascalCase(o.label.normalize('NFKD').replace(/[\u0300-\u036f]/g, ''));
    if (base === 'X' && !/x/i.test(o.label)) base = `Value${o.value < 0 ? 'Minus' : ''}${Math.abs(o.value)}`;
    let candidate = base;
    for (let i = 2; used.has(candidate); i++) candidate = `${base}_${i}`;
    used.add(candidate);
    return candidate;
  });
}

function emitOptionSets(e: EntityTypeModel, ctx: EmitContext, lines: string[]): Map<string, EmittedOptionSet> {
  const out = new Map<string, EmittedOptionSet>();
  const columns = ctx.options.optionSets?.catalog.get(e.name);
  if (!columns) return out;
  const props = new Set(e.properties.map((p) => p.name));
  const sorted = [...columns.values()].filter((c) => props.has(c.column)).sort((a, b) => byCodeUnit(a.column, b.column));
  for (const column of sorted) {
    const base = `${e.identifier}${pascalCase(column.schemaName ?? column.column)}`;
    const described = `${column.kind === 'boolean' ? 'Yes/No' : column.kind === 'multiselect' ? 'Multi-select choice' : 'Choice'} column \`${column.column}\`${column.optionSetName ? ` (${column.isGlobal ? 'global ' : ''}option set \`${column.optionSetName}\`)` : ''}`;
    if (column.kind === 'boolean') {
      const labels = ctx.names.claim(`${base}Labels`);
      lines.push(`/** Labels of ${doc(described)}. */`);
      const f = column.options.find((o) => o.value === 0)?.label;
      const t = column.options.find((o) => o.value === 1)?.label;
      const entries: string[] = [];
      if (f !== undefined) entries.push(`false: ${str(f)}`);
      if (t !== undefined) entries.push(`true: ${str(t)}`);
      lines.push(`export const ${labels} = { ${entries.join(', ')} } as const;`, '');
      out.set(column.column, { column, labels });
      continue;
    }
    if (column.options.length === 0) continue;
    const type = ctx.names.claim(base, (c) => [c, `${c}Labels`]);
    const labels = `${type}Labels`;
    const keys = optionMemberKeys(column);
    lines.push(`/** ${doc(described)}: value by name. */`);
    lines.push(`export const ${type} = {`);
    column.options.forEach((o, i) => lines.push(`  ${keys[i]}: ${o.value},`));
    lines.push('} as const;');
    lines.push(`/** A value of ${doc(described)}. */`);
    lines.push(`export type ${type} = (typeof ${type})[keyof typeof ${type}];`);
    lines.push(`/** Display labels of {@link ${type}}${column.options.length > 0 ? '' : ''}. */`);
    lines.push(`export const ${labels}: { readonly [V in ${type}]: string } = {`);
    for (const o of column.options) lines.push(`  ${o.value < 0 ? str(String(o.value)) : o.value}: ${str(o.label)},`);
    lines.push('};', '');
    out.set(column.column, { column, type, labels });
  }
  return out;
}

/** `` `/contacts(${string})` `` for each entity set a lookup may point at. */
function bindPath(nav: NavigationPropertyModel, ctx: EmitContext): string {
  const sets = new Set<string>();
  // A binding may name a set the container does not have (Dataverse binds `ownerid` to `owners`): only real sets are bind targets.
  if (nav.targetEntitySet !== undefined && ctx.entitySetNames.has(nav.targetEntitySet)) sets.add(nav.targetEntitySet);
  for (const s of ctx.bindTargets.get(nav.targetType) ?? []) sets.add(s);
  if (sets.size === 0) return '`/${string}(${string})`';
  return [...sets]
    .sort(byCodeUnit)
    .map((s) => `\`/${s}(\${string})\``)
    .join(' | ');
}

function columnType(p: PropertyModel, ctx: EmitContext, imports: Imports, optionSets: Map<string, EmittedOptionSet>): string {
  const os = optionSets.get(p.name);
  if (os?.type && os.column.kind !== 'multiselect' && p.type.kind === 'primitive' && p.type.edmType === 'Edm.Int32') return p.isCollection ? arrayOf(os.type) : os.type;
  return typeText(p.type, p.isCollection, ctx, imports);
}

function columnZod(p: PropertyModel, ctx: EmitContext, optionSets: Map<string, EmittedOptionSet>): string {
  let z: string;
  const os = optionSets.get(p.name);
  if (os?.type && os.column.kind !== 'multiselect' && p.type.kind === 'primitive' && p.type.edmType === 'Edm.Int32') {
    z = `z.literal([${os.column.options.map((o) => o.value).join(', ')}])`;
  } else if (p.type.kind === 'primitive') {
    z = edmMapping(p.type.edmType, p.maxLength).zod;
  } else if (p.type.kind === 'enum') {
    const e = ctx.model.enumTypes.get(p.type.qualifiedName);
    z = e && !e.isFlags && e.members.length > 0 ? `z.enum([${e.members.map((m) => str(m.name)).join(', ')}])` : 'z.string()';
  } else if (p.type.kind === 'complex') {
    const c = ctx.model.complexTypes.get(p.type.qualifiedName);
    z = c ? `z.custom<${c.identifier}>((v) => typeof v === 'object' && v !== null)` : 'z.unknown()';
  } else {
    z = `z.custom<EntityRecord<${str(p.type.qualifiedName)}>>((v) => typeof v === 'object' && v !== null)`;
  }
  return p.isCollection ? `z.array(${z})` : z;
}

/** Single-valued lookups the Web API lets you set with `<navigation>@odata.bind`. */
function bindableNavigations(e: EntityTypeModel): NavigationPropertyModel[] {
  return e.navigationProperties
    .filter((n) => !n.isCollection && !n.readOnly && n.referentialConstraints.length > 0)
    .sort((a, b) => byCodeUnit(a.name, b.name));
}

/** Whether an entity type gets a runtime model: it needs an entity set and a single-column primary key. */
export function hasRuntimeModel(e: EntityTypeModel, sets: readonly string[]): boolean {
  return sets.length > 0 && e.key.length === 1;
}

/**
 * The type of one entity set's entry in `Schema`: its read, create and update types and, when the
 * table has a runtime model, that model's type (column Edm types, logical name and primary key at the
 * type level, which typed filters, FetchXML and `$apply` read).
 */
export function schemaEntry(e: EntityTypeModel): string {
  const names = entityDerivedNames(e.identifier);
  const model = e.entitySetName !== undefined && e.key.length === 1 ? `; model: typeof ${names.model}` : '';
  return `{ read: ${names.read}; create: ${names.create}; update: ${names.update}${model} }`;
}

/**
 * Elastic tables are not marked as such in `$metadata`; every elastic table has the system columns
 * `partitionid` and `ttlinseconds` (https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables),
 * which standard tables lack, so their presence together is taken as the sign.
 */
function tableTypeOf(e: EntityTypeModel): 'standard' | 'elastic' {
  const names = new Set(e.properties.map((p) => p.name));
  return names.has('partitionid') && names.has('ttlinseconds') ? 'elastic' : 'standard';
}

/**
 * `<Entity>Model`: what the client needs at run time (`DynamicsClient`'s `model` option, an
 * `EntityModel`): entity set, logical name, primary key, table type, each column's Edm type (lookups
 * as their `_x_value` properties) and, per navigation property (single-valued in `navigation`,
 * collection-valued in `collections`), the logical name of the table it leads to.
 */
function emitRuntimeModel(e: EntityTypeModel, entitySet: string, name: string, body: string[]): void {
  body.push('');
  body.push(
    `/**`,
    ` * The runtime model of \`${doc(e.name)}\` (an \`EntityModel\`): pass it, or the \`model\` map of every table, as`,
    ` * \`DynamicsClient\`'s \`model\` option so that filters write each column's literal as its Edm type requires`,
    ` * (a GUID unquoted, a date as a date).`,
    ` */`,
    `export const ${name} = {`,
    `  entitySet: ${str(entitySet)},`,
    `  logicalName: ${str(e.name)},`,
    `  primaryKey: ${str(e.key[0]!)},`,
    `  tableType: ${str(tableTypeOf(e))},`,
    `  columns: {`,
  );
  for (const p of [...e.properties].sort((a, b) => byCodeUnit(a.name, b.name))) {
    body.push(`    ${key(p.name)}: ${str(p.type.kind === 'primitive' ? p.type.edmType : p.type.qualifiedName)},`);
  }
  body.push(`  },`, `  navigation: {`);
  for (const n of [...e.navigationProperties].filter((x) => !x.isCollection).sort((a, b) => byCodeUnit(a.name, b.name))) {
    body.push(`    ${key(n.name)}: ${str(n.targetType.slice(n.targetType.lastIndexOf('.') + 1))},`);
  }
  body.push(`  },`, `  collections: {`);
  for (const n of [...e.navigationProperties].filter((x) => x.isCollection).sort((a, b) => byCodeUnit(a.name, b.name))) {
    body.push(`    ${key(n.name)}: ${str(n.targetType.slice(n.targetType.lastIndexOf('.') + 1))},`);
  }
  body.push(`  },`, `} as const;`);
}

/** Emit `<fileName>.ts` for one entity type. */
export function emitEntity(e: EntityTypeModel, ctx: EmitContext): EmittedFile {
  const names = entityDerivedNames(e.identifier);
  const imports = new Imports();
  const body: string[] = [];
  const optionSets = emitOptionSets(e, ctx, body);
  const props = [...e.properties].sort((a, b) => byCodeUnit(a.name, b.name));
  const keySet = new Set(e.key);
  const sets = ctx.model.entitySets.filter((s) => s.entityType === e.qualifiedName).map((s) => s.name);
  const where = sets.length > 0 ? `entity set \`${doc(sets.join('`, `'))}\`` : 'no entity set';

  // Read interface.
  body.push(`/**`, ` * A row of \`${doc(e.name)}\` as read (${where}); every column is present when no \`$select\` is given.`);
  if (e.abstract) body.push(` * Abstract: rows are always of a derived type.`);
  if (e.openType) body.push(` * Open type: rows may carry properties not listed here.`);
  body.push(` */`, `export interface ${names.read} {`, `  '@odata.etag'?: string;`);
  // Open types (Dataverse's `expando`) carry dynamic properties (CSDL §6.3).
  const openSignature = e.openType ? ['  [property: string]: unknown;'] : [];
  body.push(...openSignature);
  for (const p of props) {
    const t = columnType(p, ctx, imports, optionSets);
    const nullable = p.nullable && !keySet.has(p.name);
    const notes: string[] = [];
    if (keySet.has(p.name)) notes.push('Primary key.');
    if (p.lookupNavigationProperties) notes.push(`Lookup: set it with \`${p.lookupNavigationProperties.join('@odata.bind`, `')}@odata.bind\`.`);
    const os = optionSets.get(p.name);
    if (os) notes.push(`Labels: {@link ${os.labels}}.`);
    if (p.type.kind === 'primitive' && p.type.edmType !== 'Edm.String' && p.type.edmType !== 'Edm.Guid' && p.type.edmType !== 'Edm.Boolean' && p.type.edmType !== 'Edm.Int32') {
      notes.push(`\`${p.type.edmType}\`${p.type.edmType === 'Edm.DateTimeOffset' ? ', ISO 8601' : ''}.`);
    }
    if (notes.length > 0) body.push(`  /** ${doc(notes.join(' '))} */`);
    body.push(`  ${key(p.name)}: ${t}${nullable ? ' | null' : ''};`);
  }
  body.push('}', '');

  // Create and update inputs.
  const binds = bindableNavigations(e);
  const writable = props.filter((p) => !p.readOnly);
  for (const mode of ['create', 'update'] as const) {
    const name = mode === 'create' ? names.create : names.update;
    body.push(
      `/** Columns of \`${doc(e.name)}\` accepted when ${mode === 'create' ? 'creating' : 'updating'} a row; lookups are set through \`<navigation>@odata.bind\` to a \`/<entity set>(<key>)\` path${mode === 'update' ? ', or `null` to clear them' : ''}. */`,
      `export interface ${name} {`,
    );
    for (const p of writable) {
      if (mode === 'update' && p.createOnly) continue;
      const t = columnType(p, ctx, imports, optionSets);
      body.push(`  ${key(p.name)}?: ${t}${p.nullable && !keySet.has(p.name) ? ' | null' : ''};`);
    }
    for (const n of binds) body.push(`  ${key(`${n.name}@odata.bind`)}?: ${bindPath(n, ctx)}${mode === 'update' ? ' | null' : ''};`);
    body.push(...openSignature, '}', '');
  }

  // zod schema of the read shape.
  body.push(
    e.openType
      ? `/** Validates a row of \`${doc(e.name)}\` as read (an open type: unknown properties are kept). */`
      : `/** Validates a row of \`${doc(e.name)}\` as read (unknown properties, such as formatted-value annotations, are stripped). */`,
  );
  body.push(`export const ${names.schema} = z.${e.openType ? 'looseObject' : 'object'}({`, `  '@odata.etag': z.string().optional(),`);
  for (const p of props) {
    const nullable = p.nullable && !keySet.has(p.name);
    body.push(`  ${key(p.name)}: ${columnZod(p, ctx, optionSets)}${nullable ? '.nullable()' : ''},`);
  }
  body.push('});', '');

  // Metadata constant.
  body.push(`/** What the service says about \`${doc(e.name)}\`: entity set, keys, columns and navigation properties. */`);
  body.push(`export const ${names.meta} = {`);
  body.push(`  logicalName: ${str(e.name)},`);
  body.push(`  entitySet: ${sets.length > 0 ? str(sets[0]!) : 'undefined'},`);
  body.push(`  key: [${e.key.map(str).join(', ')}],`);
  body.push(`  primaryName: ${e.primaryNameAttribute !== undefined ? str(e.primaryNameAttribute) : 'undefined'},`);
  body.push(`  alternateKeys: [${e.alternateKeys.map((k) => `[${k.map(str).join(', ')}]`).join(', ')}],`);
  body.push(`  columns: {`);
  for (const p of props) {
    const f: string[] = [`type: ${str(p.type.kind === 'primitive' ? p.type.edmType : p.type.qualifiedName)}`];
    if (p.isCollection) f.push('collection: true');
    if (!p.nullable) f.push('nullable: false');
    if (p.readOnly) f.push('readOnly: true');
    if (p.createOnly) f.push('createOnly: true');
    if (p.maxLength !== undefined) f.push(`maxLength: ${p.maxLength}`);
    if (p.lookupNavigationProperties) f.push(`lookup: [${p.lookupNavigationProperties.map(str).join(', ')}]`);
    const os = optionSets.get(p.name);
    if (os) f.push(`labels: ${os.labels}`);
    body.push(`    ${key(p.name)}: { ${f.join(', ')} },`);
  }
  body.push(`  },`, `  navigation: {`);
  for (const n of [...e.navigationProperties].sort((a, b) => byCodeUnit(a.name, b.name))) {
    const f: string[] = [`target: ${str(n.targetType.slice(n.targetType.lastIndexOf('.') + 1))}`];
    if (n.targetEntitySet !== undefined) f.push(`entitySet: ${str(n.targetEntitySet)}`);
    f.push(`collection: ${n.isCollection}`);
    if (n.referentialConstraints.length > 0) f.push(`lookup: ${str(n.referentialConstraints[0]!.property)}`);
    if (n.partner !== undefined) f.push(`partner: ${str(n.partner)}`);
    body.push(`    ${key(n.name)}: { ${f.join(', ')} },`);
  }
  body.push(`  },`, `} as const;`);

  const withModel = hasRuntimeModel(e, sets);
  if (withModel) emitRuntimeModel(e, sets[0]!, names.model, body);

  if (sets.length > 0) {
    body.push('');
    body.push(`/** \`${doc(e.name)}\`'s entry in the \`Schema\` type map; intersect entries to build a schema of just the tables you use. */`);
    body.push(`export type ${names.entitySetEntry} = {`);
    for (const s of sets) body.push(`  ${key(s)}: ${schemaEntry(e)};`);
    body.push('};');
  }

  const needsEntityRecord = props.some((p) => p.type.kind === 'entity');
  if (needsEntityRecord) imports.complex.add('EntityRecord');
  const head = [ctx.header, `import { z } from 'zod';`, ...imports.lines(), ''];
  return { path: `${e.fileName}.ts`, content: [...head, ...body, ''].join('\n') };
}
