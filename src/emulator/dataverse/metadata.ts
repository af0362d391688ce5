/**
 * The part of Dataverse's metadata API that code generators use (query-metadata-web-api.md,
 * retrieve-metadata-name-metadataid.md):
 *
 * - `GET EntityDefinitions` and `EntityDefinitions(LogicalName='x')` / `EntityDefinitions(<MetadataId>)`:
 *   LogicalName, SchemaName, EntitySetName, PrimaryIdAttribute, PrimaryNameAttribute and MetadataId of
 *   every table in the `$metadata` (entity types with an entity set, or not abstract);
 * - `EntityDefinitions(…)/Attributes/Microsoft.Dynamics.CRM.<Picklist|MultiSelectPicklist|State|Status|Boolean>AttributeMetadata`
 *   with `$select` and `$expand=OptionSet,GlobalOptionSet` (nested `$select` too), the same for one
 *   attribute (`Attributes(LogicalName='y')/…`), and its `…/OptionSet` alone.
 *
 * Option sets come from embedded real metadata (`schema/default-optionsets.ts`), kept for the columns
 * the loaded `$metadata` has; a table without embedded option sets answers an empty `value`. The
 * rest of the metadata API (uncast `Attributes`, other attribute types, relationships, `$filter`) is
 * not emulated and says so with a 501 in Dataverse's error shape rather than answering something wrong.
 */
import type { EmbeddedAttribute, EmbeddedEntityOptionSets, EmbeddedOption, EmbeddedOptionSet } from '../schema/default-optionsets';
import { DataverseHttpError, dvErrors } from './errors';
import { parseKey, parseQueryString, rejectDuplicateOptions, type PathSegment } from './query';
import type { ServiceSchema } from './schema';
import type { EntityTypeModel } from '../../csdl';

type Json = Record<string, unknown>;

const NS = 'Microsoft.Dynamics.CRM';
const LANGUAGE = 1033;

/** Attribute metadata types the emulator serves, by the kind of column they describe. */
const CAST_BY_KIND: Record<EmbeddedAttribute['kind'], string> = {
  Picklist: 'PicklistAttributeMetadata',
  MultiSelectPicklist: 'MultiSelectPicklistAttributeMetadata',
  State: 'StateAttributeMetadata',
  Status: 'StatusAttributeMetadata',
  Boolean: 'BooleanAttributeMetadata',
};
const KIND_BY_CAST = new Map(Object.entries(CAST_BY_KIND).map(([k, v]) => [v, k as EmbeddedAttribute['kind']]));

/** Attribute properties the emulator models; `$select` of any other is answered 501. */
const ATTRIBUTE_PROPERTIES = ['MetadataId', 'LogicalName', 'SchemaName', 'EntityLogicalName', 'AttributeType', 'AttributeTypeName', 'DisplayName', 'DefaultFormValue'];
const ENTITY_PROPERTIES = ['MetadataId', 'LogicalName', 'SchemaName', 'EntitySetName', 'PrimaryIdAttribute', 'PrimaryNameAttribute'];
const NAVIGATIONS = ['OptionSet', 'GlobalOptionSet'];

/** A deterministic GUID from text, for entities that have no captured MetadataId. */
export type GuidFrom = (text: string) => string;

function label(text: string | undefined, id: string | null | undefined): Json {
  if (text === undefined) return { LocalizedLabels: [], UserLocalizedLabel: null };
  const l = { Label: text, LanguageCode: LANGUAGE, IsManaged: true, MetadataId: id ?? null, HasChanged: null };
  return { LocalizedLabels: [l], UserLocalizedLabel: { ...l } };
}

/** One option as Dataverse serialises OptionMetadata / StateOptionMetadata / StatusOptionMetadata. */
function option(o: EmbeddedOption, kind: EmbeddedAttribute['kind']): Json {
  const out: Json = {};
  if (kind === 'State') out['@odata.type'] = `#${NS}.StateOptionMetadata`;
  if (kind === 'Status') out['@odata.type'] = `#${NS}.StatusOptionMetadata`;
  Object.assign(out, {
    Value: o.value,
    Color: o.color ?? null,
    IsManaged: true,
    ExternalValue: o.externalValue ?? null,
    ParentValues: [],
    Tag: null,
    IsHidden: false,
    MetadataId: null,
    HasChanged: null,
  });
  if (kind === 'State') Object.assign(out, { DefaultStatus: o.defaultStatus ?? null, InvariantName: o.invariantName ?? null });
  if (kind === 'Status') Object.assign(out, { State: o.state ?? null, TransitionData: null });
  out['Label'] = label(o.label, o.labelId);
  out['Description'] = label(undefined, undefined);
  return out;
}

/** The option set entity (OptionSetMetadata, or BooleanOptionSetMetadata with TrueOption/FalseOption). */
function optionSet(set: EmbeddedOptionSet, kind: EmbeddedAttribute['kind']): Json {
  const out: Json = {};
  if (kind === 'Boolean') {
    const [falseOption, trueOption] = [set.options.find((o) => o.value === 0), set.options.find((o) => o.value === 1)];
    out['TrueOption'] = trueOption ? option(trueOption, kind) : null;
    out['FalseOption'] = falseOption ? option(falseOption, kind) : null;
  } else {
    out['Options'] = set.options.map((o) => option(o, kind));
    out['ParentOptionSetName'] = null;
  }
  Object.assign(out, {
    IsCustomOptionSet: set.isCustomOptionSet,
    IsGlobal: set.isGlobal,
    IsManaged: set.isManaged,
    Name: set.name,
    ExternalTypeName: null,
    OptionSetType: kind === 'MultiSelectPicklist' ? 'Picklist' : kind,
    IntroducedVersion: set.introducedVersion,
    MetadataId: set.metadataId,
    HasChanged: null,
    DisplayName: label(set.displayName, set.displayNameId),
  });
  return out;
}

function attributeProperties(a: EmbeddedAttribute, entity: string): Json {
  const out: Json = {
    MetadataId: a.metadataId,
    LogicalName: a.logicalName,
    SchemaName: a.schemaName,
    EntityLogicalName: entity,
    // Multi-select choice columns are AttributeType Virtual with AttributeTypeName MultiSelectPicklistType.
    AttributeType: a.kind === 'MultiSelectPicklist' ? 'Virtual' : a.kind,
    AttributeTypeName: { Value: `${a.kind}Type` },
    DisplayName: label(a.displayName, a.displayNameId),
  };
  if (a.kind !== 'Boolean') out['DefaultFormValue'] = a.defaultFormValue ?? null;
  return out;
}

interface ExpandItem {
  name: string;
  select?: string[];
}

/** Splits `$expand=OptionSet($select=Options),GlobalOptionSet` at top-level commas. */
function parseExpand(text: string): ExpandItem[] {
  const items: ExpandItem[] = [];
  let depth = 0;
  let start = 0;
  const parts: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) continue;
    const open = part.indexOf('(');
    const name = (open < 0 ? part : part.slice(0, open)).trim();
    const item: ExpandItem = { name };
    if (open >= 0) {
      if (!part.endsWith(')')) throw dvErrors.syntax(`Syntax error in $expand near '${part}'.`);
      for (const option of part.slice(open + 1, -1).split(';')) {
        const eq = option.indexOf('=');
        const key = option.slice(0, eq).trim();
        if (key === '$select') item.select = option.slice(eq + 1).split(',').map((s) => s.trim()).filter(Boolean);
        else throw notEmulated(`${key} inside $expand of metadata`);
      }
    }
    items.push(item);
  }
  return items;
}

function notEmulated(what: string): DataverseHttpError {
  return new DataverseHttpError(501, '0x80060888', `The dynamics-odata emulator does not emulate ${what}.`);
}

function pick(full: Json, select: string[] | undefined, allowed: string[], typeName: string): Json {
  if (!select) return full;
  const out: Json = {};
  for (const name of select) {
    if (!allowed.includes(name)) {
      throw notEmulated(`the property '${name}' of ${typeName} (it serves ${allowed.join(', ')})`);
    }
  }
  for (const [k, v] of Object.entries(full)) if (select.includes(k) || k === 'MetadataId') out[k] = v;
  return out;
}

interface MetadataQuery {
  select?: string[];
  expand: ExpandItem[];
}

function parseMetadataQuery(raw: string): MetadataQuery {
  const q: MetadataQuery = { expand: [] };
  const params = parseQueryString(raw);
  rejectDuplicateOptions(params);
  for (const p of params) {
    const name = p.name.trim();
    if (name === '$select') q.select = p.value.split(',').map((s) => s.trim()).filter(Boolean);
    else if (name === '$expand') q.expand = parseExpand(p.value);
    else if (name.startsWith('$')) throw notEmulated(`${name} on metadata queries`);
  }
  return q;
}

/** Context URL select list: selected properties, then expanded navigations (with their own select). */
function contextSelect(q: MetadataQuery): string {
  const items = [...(q.select ?? []), ...q.expand.map((e) => (e.select ? `${e.name}(${e.select.join(',')})` : e.name))];
  return items.length > 0 ? `(${items.join(',')})` : '';
}

interface EntityInfo {
  type: EntityTypeModel;
  metadataId: string;
  schemaName?: string;
  attributes: EmbeddedAttribute[];
}

/** Serves `EntityDefinitions` and provides option-set labels for FormattedValue annotations. */
export class MetadataApi {
  private readonly entities = new Map<string, EntityInfo>();
  private readonly byMetadataId = new Map<string, EntityInfo>();
  private readonly labels = new Map<string, Map<number, string>>();

  constructor(schema: ServiceSchema, embedded: readonly EmbeddedEntityOptionSets[], guidFrom: GuidFrom) {
    const byName = new Map(embedded.map((e) => [e.logicalName, e]));
    for (const type of schema.model.entityTypes.values()) {
      // Abstract CSDL base types without an entity set (crmbaseentity, principal) are OData artefacts,
      // not tables; activitypointer is abstract in CSDL but a real table with a set.
      if ((type.abstract && type.entitySetName === undefined) || this.entities.has(type.name)) continue;
      const source = byName.get(type.name);
      const columns = new Set(type.properties.map((p) => p.name));
      const attributes = (source?.attributes ?? []).filter((a) => columns.has(a.logicalName));
      const info: EntityInfo = {
        type,
        metadataId: source?.metadataId ?? guidFrom(`dynamics-odata-emulator#EntityDefinitions#${type.name}`),
        ...(source ? { schemaName: source.schemaName } : {}),
        attributes,
      };
      this.entities.set(type.name, info);
      this.byMetadataId.set(info.metadataId, info);
      for (const a of attributes) {
        this.labels.set(`${type.name}/${a.logicalName}`, new Map(a.optionSet.options.map((o) => [o.value, o.label])));
      }
    }
  }

  /** Labels by value of the option-set column `entity.column`, when the embedded metadata has it. */
  optionLabels(entity: string, column: string): ReadonlyMap<number, string> | undefined {
    return this.labels.get(`${entity}/${column}`);
  }

  /** Every option-set column, in `EntityDefinitions` shape (the input `readOptionSets` takes). */
  entityDefinitions(): Json[] {
    return [...this.entities.values()]
      .filter((e) => e.attributes.length > 0)
      .map((e) => ({
        LogicalName: e.type.name,
        Attributes: e.attributes.map((a) => ({
          '@odata.type': `#${NS}.${CAST_BY_KIND[a.kind]}`,
          ...attributeProperties(a, e.type.name),
          OptionSet: optionSet(a.optionSet, a.kind),
        })),
      }));
  }

  /** Answers a GET under `EntityDefinitions`; `segs[0]` is the `EntityDefinitions` segment. */
  get(base: string, segs: PathSegment[], rawQuery: string): { status: number; body: Json } {
    const [head, s1, s2, s3, s4] = segs;
    const q = parseMetadataQuery(rawQuery);
    if (!head) throw dvErrors.segmentNotFound('EntityDefinitions');
    if (head.args === undefined) {
      if (s1) throw dvErrors.segmentNotFound(s1.name);
      if (q.expand.length > 0) throw notEmulated('$expand on EntityDefinitions');
      return {
        status: 200,
        body: {
          '@odata.context': `${base}/$metadata#EntityDefinitions${contextSelect(q)}`,
          value: [...this.entities.values()].map((e) => this.entityJson(e, q.select)),
        },
      };
    }
    const entity = this.findEntity(head.args);
    if (!s1) {
      if (q.expand.length > 0) throw notEmulated('$expand on EntityDefinitions');
      return { status: 200, body: { '@odata.context': `${base}/$metadata#EntityDefinitions${contextSelect(q)}/$entity`, ...this.entityJson(entity, q.select) } };
    }
    if (s1.name !== 'Attributes') throw notEmulated(`EntityDefinitions/${s1.name} (only option-set Attributes are served)`);
    // Context URLs name the table by logical name, as in retrieve-metadata-name-metadataid.md.
    const prefix = `${base}/$metadata#EntityDefinitions('${entity.type.name}')/Attributes`;
    if (s1.args === undefined) {
      // Collection: a cast is required, as for OptionSet in Dataverse itself.
      const kind = s2 ? this.castKind(s2) : undefined;
      if (!s2 || !kind) throw notEmulated(`EntityDefinitions(…)/Attributes${s2 ? `/${s2.name}` : ''} without a cast to an option-set attribute type (${Object.values(CAST_BY_KIND).join(', ')})`);
      if (s3) throw dvErrors.segmentNotFound(s3.name);
      const cast = CAST_BY_KIND[kind];
      const items = entity.attributes.filter((a) => a.kind === kind).map((a) => this.attributeJson(entity, a, q, cast));
      return { status: 200, body: { '@odata.context': `${prefix}/${NS}.${cast}${contextSelect(q)}`, value: items } };
    }
    const attribute = this.findAttribute(entity, s1.args);
    const cast = CAST_BY_KIND[attribute.kind];
    if (s2) {
      const kind = this.castKind(s2);
      if (kind !== attribute.kind) throw dvErrors.segmentNotFound(s2.name);
    }
    if (!s2 || !s3) {
      const json = this.attributeJson(entity, attribute, q, cast);
      // Without a cast the derived type is named, as in the uncast Attributes example of retrieve-metadata-name-metadataid.md.
      const body = s2 ? json : { '@odata.type': `#${NS}.${cast}`, ...json };
      return { status: 200, body: { '@odata.context': `${prefix}/${NS}.${cast}${contextSelect(q)}/$entity`, ...body } };
    }
    if (!NAVIGATIONS.includes(s3.name) || s3.args !== undefined || s4) throw dvErrors.segmentNotFound(s3.name);
    if (q.expand.length > 0) throw notEmulated('$expand on an option set');
    const set = optionSet(attribute.optionSet, attribute.kind);
    const body = pick(set, q.select, Object.keys(set), `${NS}.OptionSetMetadata`);
    return {
      status: 200,
      body: { '@odata.context': `${base}/$metadata#EntityDefinitions('${entity.type.name}')/Attributes(${attribute.metadataId})/${NS}.${cast}/${s3.name}${contextSelect(q)}/$entity`, ...body },
    };
  }

  private castKind(seg: PathSegment): EmbeddedAttribute['kind'] | undefined {
    if (seg.args !== undefined) return undefined;
    const name = seg.name.replace(/^(Microsoft\.Dynamics\.CRM|mscrm)\./, '');
    return name === seg.name ? undefined : KIND_BY_CAST.get(name);
  }

  private entityJson(e: EntityInfo, select: string[] | undefined): Json {
    const full: Json = {
      MetadataId: e.metadataId,
      LogicalName: e.type.name,
      SchemaName: e.schemaName ?? null,
      EntitySetName: e.type.entitySetName ?? null,
      PrimaryIdAttribute: e.type.key[0] ?? null,
      PrimaryNameAttribute: e.type.primaryNameAttribute ?? null,
    };
    return pick(full, select, ENTITY_PROPERTIES, `${NS}.EntityMetadata`);
  }

  private attributeJson(e: EntityInfo, a: EmbeddedAttribute, q: MetadataQuery, cast: string): Json {
    const out = pick(attributeProperties(a, e.type.name), q.select, ATTRIBUTE_PROPERTIES, `${NS}.${cast}`);
    for (const x of q.expand) {
      if (!NAVIGATIONS.includes(x.name)) throw dvErrors.unknownQueryProperty(x.name, `${NS}.${cast}`);
      // Either navigation gives the column's options, local or global (retrieve-metadata-name-metadataid.md).
      const set = optionSet(a.optionSet, a.kind);
      out[x.name] = pick(set, x.select, Object.keys(set), `${NS}.OptionSetMetadata`);
    }
    return out;
  }

  private findEntity(args: string): EntityInfo {
    const key = parseKey(args);
    if (key.single) {
      const id = String(key.single.value).toLowerCase();
      const found = key.single.kind === 'guid' ? this.byMetadataId.get(id) : undefined;
      if (!found) throw new DataverseHttpError(404, '0x80040217', `Could not find an entity with id ${id}.`);
      return found;
    }
    const name = key.named?.get('LogicalName');
    if (!name || key.named?.size !== 1 || name.kind !== 'string') throw dvErrors.badRequest(`Invalid key '${args}' for EntityDefinitions: use LogicalName='…' or the MetadataId.`);
    const found = this.entities.get(String(name.value));
    // CrmObjectNotFoundException as the metadata cache reports it for a retrieve by name.
    if (!found) throw new DataverseHttpError(404, '0x80040217', `Could not find an entity with name ${String(name.value)} and id 00000000-0000-0000-0000-000000000000.`);
    return found;
  }

  private findAttribute(e: EntityInfo, args: string): EmbeddedAttribute {
    const key = parseKey(args);
    let found: EmbeddedAttribute | undefined;
    let asked: string;
    if (key.single) {
      asked = String(key.single.value).toLowerCase();
      found = key.single.kind === 'guid' ? e.attributes.find((a) => a.metadataId === asked) : undefined;
    } else {
      const name = key.named?.get('LogicalName');
      if (!name || key.named?.size !== 1 || name.kind !== 'string') throw dvErrors.badRequest(`Invalid key '${args}' for Attributes: use LogicalName='…' or the MetadataId.`);
      asked = String(name.value);
      found = e.attributes.find((a) => a.logicalName === asked);
      if (!found && e.type.properties.some((p) => p.name === asked)) {
        throw notEmulated(`the metadata of column '${asked}' of ${e.type.name} (only option-set columns with embedded metadata are served)`);
      }
    }
    if (!found) throw new DataverseHttpError(404, '0x80040217', `Could not find an attribute with name ${asked} on entity ${e.type.name}.`);
    return found;
  }
}
