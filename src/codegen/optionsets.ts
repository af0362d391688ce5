/**
 * Option-set (Choice) metadata, which `$metadata` does not carry: Choice columns are plain
 * `Edm.Int32` there. It comes from the Dataverse metadata API instead, either a
 * `RetrieveMetadataChanges` response or `EntityDefinitions(LogicalName='x')/Attributes/...`
 * responses (query-metadata-web-api.md), saved to a JSON file or downloaded live.
 */
import { z } from 'zod';
import { CodegenError } from './errors';

/** One choice of an option set. */
export interface OptionModel {
  value: number;
  label: string;
}

/** The options of one column. */
export interface ColumnOptionSet {
  /** Column logical name, e.g. `statuscode`. */
  column: string;
  /** Column schema name when known (`StatusCode`), used for readable identifiers. */
  schemaName?: string;
  /** `picklist`, `multiselect` (sent as `"1,2"`), `state`, `status`, or `boolean` (labels only). */
  kind: 'picklist' | 'multiselect' | 'state' | 'status' | 'boolean';
  /** Option set name, e.g. `account_statuscode`, or the global option set's name. */
  optionSetName?: string;
  isGlobal: boolean;
  options: OptionModel[];
}

/** Entity logical name → column logical name → options. */
export type OptionSetCatalog = Map<string, Map<string, ColumnOptionSet>>;

const Label = z
  .looseObject({
    UserLocalizedLabel: z.looseObject({ Label: z.string().nullish(), LanguageCode: z.number().nullish() }).nullish(),
    LocalizedLabels: z.array(z.looseObject({ Label: z.string().nullish(), LanguageCode: z.number().nullish() })).nullish(),
  })
  .nullish();
const Option = z.looseObject({ Value: z.number(), Label });
const OptionSet = z
  .looseObject({
    Name: z.string().nullish(),
    IsGlobal: z.boolean().nullish(),
    OptionSetType: z.string().nullish(),
    Options: z.array(Option).nullish(),
    TrueOption: Option.nullish(),
    FalseOption: Option.nullish(),
  })
  .nullish();
const Attribute = z.looseObject({
  '@odata.type': z.string().optional(),
  LogicalName: z.string(),
  SchemaName: z.string().nullish(),
  AttributeType: z.string().nullish(),
  AttributeTypeName: z.looseObject({ Value: z.string().nullish() }).nullish(),
  OptionSet,
  GlobalOptionSet: OptionSet,
});
const EntityMetadata = z.looseObject({ LogicalName: z.string(), Attributes: z.array(Attribute).nullish() });
const Envelope = z.looseObject({ EntityMetadata: z.array(EntityMetadata) });
const ValueEnvelope = z.looseObject({ value: z.array(EntityMetadata) });

/** Picks the schema for the shape the input claims to have, so a validation error points at the real problem. */
function schemaFor(input: unknown): z.ZodType {
  const has = (v: unknown, key: string): boolean => typeof v === 'object' && v !== null && key in v;
  if (Array.isArray(input)) return z.array(input.some((v) => has(v, 'EntityMetadata')) ? Envelope : EntityMetadata);
  if (has(input, 'EntityMetadata')) return Envelope;
  if (has(input, 'value')) return ValueEnvelope;
  return EntityMetadata;
}

type EntityMetadataInput = z.infer<typeof EntityMetadata>;
type LabelInput = z.infer<typeof Label>;

function labelText(label: LabelInput, languageCode: number | undefined): string | undefined {
  if (!label) return undefined;
  if (languageCode !== undefined) {
    const hit = label.LocalizedLabels?.find((l) => l.LanguageCode === languageCode)?.Label;
    if (hit) return hit;
  }
  return label.UserLocalizedLabel?.Label ?? label.LocalizedLabels?.[0]?.Label ?? undefined;
}

function kindOf(attr: z.infer<typeof Attribute>, set: NonNullable<z.infer<typeof OptionSet>>): ColumnOptionSet['kind'] | undefined {
  const typeName = attr.AttributeTypeName?.Value ?? '';
  const odataType = attr['@odata.type'] ?? '';
  if (typeName === 'MultiSelectPicklistType' || odataType.endsWith('MultiSelectPicklistAttributeMetadata')) return 'multiselect';
  switch (attr.AttributeType) {
    case 'Picklist':
      return 'picklist';
    case 'State':
      return 'state';
    case 'Status':
      return 'status';
    case 'Boolean':
      return 'boolean';
    default:
      break;
  }
  if (set.OptionSetType === 'Boolean') return 'boolean';
  if (set.OptionSetType === 'Picklist') return 'picklist';
  if (set.OptionSetType === 'State') return 'state';
  if (set.OptionSetType === 'Status') return 'status';
  return undefined;
}

/**
 * Turn option-set metadata JSON into a catalog.
 *
 * Accepts a `RetrieveMetadataChanges` response (`{ EntityMetadata: [...] }`), an
 * `EntityDefinitions` response (`{ value: [...] }` or one entity), or an array of either.
 *
 * @param input - parsed JSON.
 * @param options.languageCode - label language, e.g. 1033; default: the user's localized label.
 * @param options.source - named in error messages.
 * @throws CodegenError `invalid_option_sets` naming the offending path.
 */
export function readOptionSets(input: unknown, options: { languageCode?: number; source?: string } = {}): OptionSetCatalog {
  const parsed = schemaFor(input).safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new CodegenError(
      'invalid_option_sets',
      `option sets${options.source ? ` (${options.source})` : ''}: expected a RetrieveMetadataChanges or EntityDefinitions response (EntityMetadata[] with LogicalName and Attributes)${where}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const entities: EntityMetadataInput[] = [];
  const add = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(add);
    else if (v && typeof v === 'object' && 'EntityMetadata' in v) add((v as { EntityMetadata: unknown }).EntityMetadata);
    else if (v && typeof v === 'object' && 'value' in v && Array.isArray((v as { value: unknown }).value)) add((v as { value: unknown }).value);
    else entities.push(v as EntityMetadataInput);
  };
  add(parsed.data);

  const catalog: OptionSetCatalog = new Map();
  for (const entity of entities) {
    const columns = catalog.get(entity.LogicalName) ?? new Map<string, ColumnOptionSet>();
    for (const attr of entity.Attributes ?? []) {
      const set = attr.OptionSet ?? attr.GlobalOptionSet;
      if (!set) continue;
      const kind = kindOf(attr, set);
      if (!kind) continue;
      const raw = kind === 'boolean' ? [set.FalseOption, set.TrueOption].filter((o) => o != null) : (set.Options ?? []);
      const seen = new Set<number>();
      const opts: OptionModel[] = [];
      for (const o of raw) {
        if (seen.has(o.Value)) continue;
        seen.add(o.Value);
        opts.push({ value: o.Value, label: labelText(o.Label, options.languageCode) ?? String(o.Value) });
      }
      const column: ColumnOptionSet = { column: attr.LogicalName, kind, isGlobal: set.IsGlobal === true, options: opts };
      if (attr.SchemaName) column.schemaName = attr.SchemaName;
      const name = set.Name ?? attr.GlobalOptionSet?.Name;
      if (name) column.optionSetName = name;
      columns.set(attr.LogicalName, column);
    }
    catalog.set(entity.LogicalName, columns);
  }
  return catalog;
}

/**
 * The catalog as canonical JSON: tables with at least one option-set column, tables and columns
 * sorted by logical name. Hashing this instead of the source text makes every source that yields the
 * same option sets (a saved file, a parsed object, a live download) give the same file headers.
 */
export function canonicalCatalog(catalog: OptionSetCatalog): string {
  const tables = [...catalog.entries()]
    .filter(([, columns]) => columns.size > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([table, columns]) => [
      table,
      [...columns.values()]
        .sort((a, b) => (a.column < b.column ? -1 : a.column > b.column ? 1 : 0))
        .map((c) => [c.column, c.schemaName ?? null, c.kind, c.optionSetName ?? null, c.isGlobal, c.options.map((o) => [o.value, o.label])]),
    ]);
  return JSON.stringify(tables);
}
