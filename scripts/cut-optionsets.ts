/**
 * Cuts the emulator's embedded option-set metadata out of two real `RetrieveMetadataChanges`
 * responses and writes it to `src/emulator/schema/default-optionsets.ts`.
 *
 *   npx tsx scripts/cut-optionsets.ts [fixtures-dir] [out.ts]
 *
 * Defaults: `../shared/fixtures/real/` (retrievemetadatachanges-{account,opportunity}.json) → the file above.
 * Kept: the Picklist, MultiSelectPicklist, State, Status and Boolean attributes of account and
 * opportunity whose column exists in the emulator's default `$metadata` (the source org's own
 * solution columns, e.g. `cdsify_multiselect`, are not in it), with each option's value, label (and the
 * label's MetadataId), colour, State/DefaultStatus/InvariantName; the attribute's and option set's
 * names and MetadataIds. Dropped: descriptions and every property the generator and the emulator
 * do not use. The other default tables (contact, lead, incident, task, systemuser) have no captured
 * source and are deliberately left out (see the header written below).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../src/csdl';
import { DEFAULT_METADATA_XML } from '../src/emulator/schema/default-metadata';

const repoRoot = path.resolve(__dirname, '..');
const defaultFixtures = path.resolve(repoRoot, '../shared/fixtures/real');
const defaultOut = path.resolve(repoRoot, 'src/emulator/schema/default-optionsets.ts');

/** Source files, with their provenance (../shared/fixtures/real/SOURCES.md). */
const SOURCES = [
  { file: 'retrievemetadatachanges-account.json', upstream: 'src/__tests__/data/account-metadata.json' },
  { file: 'retrievemetadatachanges-opportunity.json', upstream: 'src/__tests__/data/opportunity-metadata.json' },
];
const UPSTREAM = 'scottdurow/dataverse-gen';
const UPSTREAM_COMMIT = '5986b2631dfcb15ebf1d3218c4de0f6f9657810a';

const CASTS: Record<string, string> = {
  Picklist: 'PicklistAttributeMetadata',
  MultiSelectPicklist: 'MultiSelectPicklistAttributeMetadata',
  State: 'StateAttributeMetadata',
  Status: 'StatusAttributeMetadata',
  Boolean: 'BooleanAttributeMetadata',
};

interface RawLabel {
  LocalizedLabels?: { Label?: string; LanguageCode?: number; MetadataId?: string | null }[] | null;
  UserLocalizedLabel?: { Label?: string; LanguageCode?: number; MetadataId?: string | null } | null;
}
interface RawOption {
  '@odata.type'?: string;
  Value: number;
  Color?: string | null;
  ExternalValue?: string | null;
  State?: number;
  DefaultStatus?: number;
  InvariantName?: string;
  Label?: RawLabel | null;
}
interface RawOptionSet {
  Name?: string;
  MetadataId?: string;
  IsGlobal?: boolean;
  IsCustomOptionSet?: boolean;
  IsManaged?: boolean;
  IntroducedVersion?: string | null;
  OptionSetType?: string;
  DisplayName?: RawLabel | null;
  Options?: RawOption[] | null;
  TrueOption?: RawOption | null;
  FalseOption?: RawOption | null;
}
interface RawAttribute {
  '@odata.type'?: string;
  LogicalName: string;
  SchemaName?: string;
  AttributeType?: string;
  AttributeTypeName?: { Value?: string } | null;
  MetadataId?: string;
  IsCustomAttribute?: boolean | null;
  DisplayName?: RawLabel | null;
  DefaultFormValue?: number | null;
  OptionSet?: RawOptionSet | null;
}
interface RawEntity {
  LogicalName: string;
  SchemaName?: string;
  EntitySetName?: string;
  MetadataId?: string;
  Attributes?: RawAttribute[];
}

/** A label in the one language the sources carry (1033), with the MetadataId Dataverse returns for it. */
function label(l: RawLabel | null | undefined, where: string): [string, string | null] | undefined {
  const user = l?.UserLocalizedLabel ?? l?.LocalizedLabels?.[0];
  if (!user || typeof user.Label !== 'string') return undefined;
  if (user.LanguageCode !== 1033) throw new Error(`cut-optionsets: ${where}: expected labels in language 1033, got ${String(user.LanguageCode)}`);
  return [user.Label, user.MetadataId ?? null];
}

function option(o: RawOption, where: string): Record<string, unknown> {
  const l = label(o.Label, `${where} option ${o.Value}`);
  const out: Record<string, unknown> = { value: o.Value, label: l?.[0] ?? String(o.Value), labelId: l?.[1] ?? null };
  if (o.Color !== null && o.Color !== undefined) out['color'] = o.Color;
  if (o.ExternalValue !== null && o.ExternalValue !== undefined) out['externalValue'] = o.ExternalValue;
  if (o.State !== undefined) out['state'] = o.State;
  if (o.DefaultStatus !== undefined) out['defaultStatus'] = o.DefaultStatus;
  if (o.InvariantName !== undefined) out['invariantName'] = o.InvariantName;
  return out;
}

function attributeKind(a: RawAttribute): string | undefined {
  if (a.AttributeTypeName?.Value === 'MultiSelectPicklistType' || (a['@odata.type'] ?? '').endsWith('MultiSelectPicklistAttributeMetadata')) return 'MultiSelectPicklist';
  return a.AttributeType !== undefined && a.AttributeType in CASTS ? a.AttributeType : undefined;
}

/** The trimmed option-set metadata of one table, keeping only the columns `columns` has. */
export function cutEntity(entity: RawEntity, columns: Set<string>): Record<string, unknown> {
  const attributes: Record<string, unknown>[] = [];
  for (const a of entity.Attributes ?? []) {
    const kind = attributeKind(a);
    const set = a.OptionSet;
    if (!kind || !set || !columns.has(a.LogicalName)) continue;
    const where = `${entity.LogicalName}.${a.LogicalName}`;
    const raw = kind === 'Boolean' ? [set.FalseOption, set.TrueOption].filter((o): o is RawOption => o != null) : (set.Options ?? []);
    const displayName = label(set.DisplayName, `${where} option set`);
    const attrDisplayName = label(a.DisplayName, where);
    attributes.push({
      logicalName: a.LogicalName,
      schemaName: a.SchemaName ?? a.LogicalName,
      kind,
      metadataId: a.MetadataId,
      ...(attrDisplayName ? { displayName: attrDisplayName[0], displayNameId: attrDisplayName[1] } : {}),
      ...(a.DefaultFormValue !== null && a.DefaultFormValue !== undefined ? { defaultFormValue: a.DefaultFormValue } : {}),
      optionSet: {
        name: set.Name,
        metadataId: set.MetadataId,
        isGlobal: set.IsGlobal === true,
        isCustomOptionSet: set.IsCustomOptionSet === true,
        isManaged: set.IsManaged !== false,
        introducedVersion: set.IntroducedVersion ?? null,
        ...(displayName ? { displayName: displayName[0], displayNameId: displayName[1] } : {}),
        options: raw.map((o) => option(o, where)),
      },
    });
  }
  attributes.sort((x, y) => (String(x['logicalName']) < String(y['logicalName']) ? -1 : 1));
  return {
    logicalName: entity.LogicalName,
    schemaName: entity.SchemaName ?? entity.LogicalName,
    entitySetName: entity.EntitySetName,
    metadataId: entity.MetadataId,
    attributes,
  };
}

const TYPES = `/** One choice, as the source returned it (labels in language 1033). */
export interface EmbeddedOption {
  value: number;
  label: string;
  /** MetadataId of the label (Dataverse returns one on every LocalizedLabel). */
  labelId: string | null;
  color?: string;
  externalValue?: string;
  /** StatusOptionMetadata: the statecode this status belongs to. */
  state?: number;
  /** StateOptionMetadata: the status a row gets when it enters this state. */
  defaultStatus?: number;
  /** StateOptionMetadata. */
  invariantName?: string;
}

/** The option set of one column. For Boolean columns \`options\` is [FalseOption, TrueOption]. */
export interface EmbeddedOptionSet {
  name: string;
  metadataId: string;
  isGlobal: boolean;
  isCustomOptionSet: boolean;
  isManaged: boolean;
  introducedVersion: string | null;
  displayName?: string;
  displayNameId?: string | null;
  options: EmbeddedOption[];
}

/** A Choice, Choices, State, Status or Yes/No column. */
export interface EmbeddedAttribute {
  logicalName: string;
  schemaName: string;
  kind: 'Picklist' | 'MultiSelectPicklist' | 'State' | 'Status' | 'Boolean';
  metadataId: string;
  displayName?: string;
  displayNameId?: string | null;
  defaultFormValue?: number;
  optionSet: EmbeddedOptionSet;
}

/** The option-set columns of one table. */
export interface EmbeddedEntityOptionSets {
  logicalName: string;
  schemaName: string;
  entitySetName: string;
  metadataId: string;
  attributes: EmbeddedAttribute[];
}
`;

/** One option per line: compact, and a changed label shows as a one-line diff. */
function render(entities: Record<string, unknown>[]): string {
  const lines = ['['];
  for (const e of entities) {
    const { attributes, ...head } = e as { attributes: Record<string, unknown>[] };
    lines.push(`  { ${JSON.stringify(head).slice(1, -1)}, "attributes": [`);
    for (const a of attributes) {
      const { optionSet, ...attr } = a as { optionSet: { options: unknown[] } };
      const { options, ...set } = optionSet;
      lines.push(`    { ${JSON.stringify(attr).slice(1, -1)}, "optionSet": { ${JSON.stringify(set).slice(1, -1)}, "options": [`);
      for (const o of options) lines.push(`      ${JSON.stringify(o)},`);
      lines.push('    ] } },');
    }
    lines.push('  ] },');
  }
  lines.push(']');
  return lines.join('\n');
}

function main(): void {
  const fixtures = path.resolve(process.argv[2] ?? defaultFixtures);
  const out = path.resolve(process.argv[3] ?? defaultOut);
  const model = loadModel(DEFAULT_METADATA_XML);
  const entities: Record<string, unknown>[] = [];
  const provenance: string[] = [];
  let sourceBytes = 0;
  for (const s of SOURCES) {
    const bytes = fs.readFileSync(path.join(fixtures, s.file));
    sourceBytes += bytes.length;
    const sha1 = createHash('sha1').update(bytes).digest('hex').slice(0, 12);
    provenance.push(` *   ${s.file} (sha1 ${sha1}) = ${UPSTREAM} ${s.upstream} @ ${UPSTREAM_COMMIT}`);
    const doc = JSON.parse(bytes.toString('utf8')) as { EntityMetadata?: RawEntity[] };
    for (const e of doc.EntityMetadata ?? []) {
      const type = [...model.entityTypes.values()].find((t) => t.name === e.LogicalName);
      if (!type) throw new Error(`cut-optionsets: ${e.LogicalName} is not in the emulator's default $metadata`);
      entities.push(cutEntity(e, new Set(type.properties.map((p) => p.name))));
    }
  }
  entities.sort((a, b) => (String(a['logicalName']) < String(b['logicalName']) ? -1 : 1));
  const kept = entities.map((e) => `${String(e['logicalName'])} (${(e['attributes'] as unknown[]).length} columns)`).join(', ');
  const ts = [
    '/**',
    ' * GENERATED by scripts/cut-optionsets.ts — do not edit by hand; re-run `npx tsx scripts/cut-optionsets.ts`.',
    ' *',
    ' * Real option-set (Choice) metadata of the emulator\'s default tables, captured from a Dynamics 365',
    ' * online organisation as raw `RetrieveMetadataChanges` responses, published by',
    ` * ${UPSTREAM} under the MIT License (its LICENSE at the commit below; that copyright and`,
    ' * permission notice covers this data). Files as recorded in ../shared/fixtures/real/SOURCES.md:',
    ...provenance,
    ` * Kept: ${kept}: the Picklist, MultiSelectPicklist, State, Status and Boolean columns that the`,
    ' * default $metadata has, with values, labels (language 1033) and MetadataIds. Dropped: descriptions,',
    " * the source org's own solution columns, and every property the generator and the emulator do not use.",
    ' * Not included: contact, lead, incident, task and systemuser. There is no captured source for them, and',
    ' * the emulator does not present made-up option sets as if they came from Dataverse. Their EntityDefinitions',
    ' * attribute queries answer an empty `value`, and their FormattedValue annotations use the standard labels',
    ' * in src/emulator/dataverse/format.ts.',
    ' */',
    '',
    TYPES,
    '/** Label `npm run generate` and the demo put in generated file headers for these option sets. */',
    "export const DEFAULT_OPTION_SETS_LABEL = 'dynamics-odata emulator default option sets (src/emulator/schema/default-optionsets.ts)';",
    '',
    '/** The embedded option-set metadata, by table (sorted by logical name, columns too). */',
    `export const DEFAULT_OPTION_SETS: readonly EmbeddedEntityOptionSets[] = ${render(entities)};`,
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, ts);
  console.log(`cut-optionsets: ${SOURCES.length} files (${sourceBytes} bytes) -> ${path.relative(repoRoot, out)} (${Buffer.byteLength(ts)} bytes): ${kept}`);
}

if (require.main === module) main();
