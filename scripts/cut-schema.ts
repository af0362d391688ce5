/**
 * Cuts the emulator's compact default `$metadata` out of a real Dataverse CSDL document and writes it
 * to `src/emulator/schema/default-metadata.ts` as a string constant (tsc copies no XML to dist/).
 *
 *   npx tsx scripts/cut-schema.ts [source.xml] [out.ts]
 *
 * Defaults: `../shared/fixtures/real/metadata-v9.0-onprem-bcgov-lcrb.xml` → the file above.
 * The cut keeps the core tables, their base types, WhoAmI and a few operations (see the lists below);
 * navigation properties and bindings whose target is not kept are dropped, so the result is
 * self-consistent. This is an XML filter (fast-xml-parser in order-preserving mode), not a CSDL reader:
 * the emulator reads the result with the generator's `loadModel`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

const repoRoot = path.resolve(__dirname, '..');
const defaultSource = path.resolve(repoRoot, '../shared/fixtures/real/metadata-v9.0-onprem-bcgov-lcrb.xml');
const defaultOut = path.resolve(repoRoot, 'src/emulator/schema/default-metadata.ts');

/** Tables kept, with the base types they inherit from (crmbaseentity, activitypointer, principal). */
const ENTITY_TYPES = new Set([
  'crmbaseentity',
  'principal',
  'activitypointer',
  'account',
  'contact',
  'lead',
  'opportunity',
  'systemuser',
  'incident',
  'task',
]);

/** Operations kept: WhoAmI, a function and an action of each shape, and the query functions the emulator's $filter understands. */
const OPERATIONS = new Set([
  'WhoAmI',
  'RetrieveVersion',
  'PublishXml',
  'msdyn_GDPROptoutContact',
  'RetrieveAllChildUsersSystemUser',
  'In',
  'NotIn',
  'Between',
  'NotBetween',
  'ContainValues',
  'DoesNotContainValues',
  'EqualUserId',
  'NotEqualUserId',
  'On',
  'OnOrAfter',
  'OnOrBefore',
  'Today',
  'Yesterday',
  'Tomorrow',
  'LastXDays',
  'NextXDays',
  'LastXHours',
  'NextXHours',
]);

/** Complex types kept because a kept operation returns them. */
const COMPLEX_TYPES = new Set(['WhoAmIResponse', 'RetrieveVersionResponse']);

/**
 * Alternate key added on account(accountnumber). The source document declares alternate keys only on
 * metadata types; a customer's environment has this annotation once they define the key
 * (use-alternate-key-reference-record.md), and the emulator's tests need one.
 */
const ADDED_ALTERNATE_KEYS: Record<string, string[][]> = { account: [['accountnumber']] };

/**
 * What the source (a v9.0 document from before 2023) lacks and the emulator needs, written in the
 * CSDL form Dataverse serves, in one place so the header of the output can list it:
 *
 * - the bulk messages, actions bound to a collection of `crmbaseentity`
 *   (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/createmultiple,
 *   …/updatemultiple, …/upsertmultiple, …/deletemultiple);
 * - a custom table with a file column and an image column, as a customer's environment has them
 *   (https://learn.microsoft.com/power-apps/developer/data-platform/file-column-data: the file column is
 *   an `Edm.Guid` with `<name>_name` beside it; image-column-data: an `Edm.Binary` with `<name>id`,
 *   `<name>_timestamp` and `<name>_url`);
 * - an elastic table, with `partitionid`, `ttlinseconds` and the alternate key of the primary key and
 *   the partition (https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables,
 *   `KeyForNoSqlEntityWithPKPartitionId`).
 */
const SYSTEM_COLUMNS =
  '<Property Name="createdon" Type="Edm.DateTimeOffset"/><Property Name="modifiedon" Type="Edm.DateTimeOffset"/><Property Name="versionnumber" Type="Edm.Int64"/>' +
  '<Property Name="statecode" Type="Edm.Int32"/><Property Name="statuscode" Type="Edm.Int32"/><Property Name="_ownerid_value" Type="Edm.Guid"/>' +
  '<Property Name="_createdby_value" Type="Edm.Guid"/><Property Name="_modifiedby_value" Type="Edm.Guid"/>';
const ADDED_SCHEMA_XML = [
  '<EntityType Name="sample_document" BaseType="mscrm.crmbaseentity"><Key><PropertyRef Name="sample_documentid"/></Key>' +
    '<Property Name="sample_documentid" Type="Edm.Guid"/><Property Name="sample_name" Type="Edm.String" Unicode="false" MaxLength="100"/>' +
    '<Property Name="sample_code" Type="Edm.String" Unicode="false" MaxLength="100"/>' +
    '<Property Name="sample_file" Type="Edm.Guid"/><Property Name="sample_file_name" Type="Edm.String" Unicode="false"/>' +
    '<Property Name="sample_attachment" Type="Edm.Guid"/><Property Name="sample_attachment_name" Type="Edm.String" Unicode="false"/>' +
    '<Property Name="sample_image" Type="Edm.Binary"/><Property Name="sample_imageid" Type="Edm.Guid"/>' +
    '<Property Name="sample_image_timestamp" Type="Edm.Int64"/><Property Name="sample_image_url" Type="Edm.String" Unicode="false"/>' +
    SYSTEM_COLUMNS +
    '<Annotation Term="OData.Community.Keys.V1.AlternateKeys"><Collection><Record Type="OData.Community.Keys.V1.AlternateKey"><PropertyValue Property="Key"><Collection>' +
    '<Record Type="OData.Community.Keys.V1.PropertyRef"><PropertyValue Property="Alias" String="sample_code"/><PropertyValue Property="Name" PropertyPath="sample_code"/></Record>' +
    '</Collection></PropertyValue></Record></Collection></Annotation></EntityType>',
  '<EntityType Name="sample_sensordata" BaseType="mscrm.crmbaseentity"><Key><PropertyRef Name="sample_sensordataid"/></Key>' +
    '<Property Name="sample_sensordataid" Type="Edm.Guid"/><Property Name="partitionid" Type="Edm.String" Unicode="false" MaxLength="100"/>' +
    '<Property Name="ttlinseconds" Type="Edm.Int32"/><Property Name="sample_name" Type="Edm.String" Unicode="false" MaxLength="100"/>' +
    '<Property Name="sample_deviceid" Type="Edm.String" Unicode="false" MaxLength="100"/><Property Name="sample_value" Type="Edm.Int32"/>' +
    SYSTEM_COLUMNS +
    '<Annotation Term="OData.Community.Keys.V1.AlternateKeys"><Collection><Record Type="OData.Community.Keys.V1.AlternateKey"><PropertyValue Property="Key"><Collection>' +
    '<Record Type="OData.Community.Keys.V1.PropertyRef"><PropertyValue Property="Alias" String="sample_sensordataid"/><PropertyValue Property="Name" PropertyPath="sample_sensordataid"/></Record>' +
    '<Record Type="OData.Community.Keys.V1.PropertyRef"><PropertyValue Property="Alias" String="partitionid"/><PropertyValue Property="Name" PropertyPath="partitionid"/></Record>' +
    '</Collection></PropertyValue></Record></Collection></Annotation></EntityType>',
  '<ComplexType Name="CreateMultipleResponse"><Property Name="Ids" Type="Collection(Edm.Guid)" Nullable="false"/></ComplexType>',
  '<Action Name="CreateMultiple" IsBound="true"><Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/><Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/><ReturnType Type="mscrm.CreateMultipleResponse" Nullable="false"/></Action>',
  '<Action Name="UpdateMultiple" IsBound="true"><Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/><Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/></Action>',
  '<Action Name="UpsertMultiple" IsBound="true"><Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/><Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/></Action>',
  '<Action Name="DeleteMultiple" IsBound="true"><Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/><Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/></Action>',
];
const ADDED_ENTITY_SETS_XML = [
  '<EntitySet Name="sample_documents" EntityType="Microsoft.Dynamics.CRM.sample_document"/>',
  '<EntitySet Name="sample_sensordatas" EntityType="Microsoft.Dynamics.CRM.sample_sensordata"/>',
];

function parseFragment(xml: string): Node[] {
  return new XMLParser(xmlOptions).parse(xml) as Node[];
}

/** Publisher prefix of the source organisation's custom solution. */
const CUSTOM_PREFIX = 'adoxio_';

type Node = Record<string, unknown> & { ':@'?: Record<string, string> };

const xmlOptions = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
} as const;

function tagOf(node: Node): string {
  return Object.keys(node).find((k) => k !== ':@') ?? '';
}
function children(node: Node): Node[] {
  const value = node[tagOf(node)];
  return Array.isArray(value) ? (value as Node[]) : [];
}
function attr(node: Node, name: string): string | undefined {
  return node[':@']?.[`@_${name}`];
}
function localName(qualified: string): string {
  const inner = qualified.replace(/^Collection\((.*)\)$/, '$1');
  return inner.slice(inner.lastIndexOf('.') + 1);
}
/** Columns and relationships of the source's own solution (`adoxio_*`), not part of the core tables. */
function isCustom(name: string | undefined): boolean {
  return name !== undefined && name.includes(CUSTOM_PREFIX);
}
function isEdm(type: string): boolean {
  return type.replace(/^Collection\((.*)\)$/, '$1').startsWith('Edm.');
}

function alternateKeyAnnotation(keys: string[][]): Node {
  const record = (props: string[]): Node => ({
    Record: [
      {
        PropertyValue: [
          {
            Collection: props.map((p) => ({
              Record: [
                { PropertyValue: [], ':@': { '@_Property': 'Alias', '@_String': p } },
                { PropertyValue: [], ':@': { '@_Property': 'Name', '@_PropertyPath': p } },
              ],
              ':@': { '@_Type': 'OData.Community.Keys.V1.PropertyRef' },
            })),
          },
        ],
        ':@': { '@_Property': 'Key' },
      },
    ],
    ':@': { '@_Type': 'OData.Community.Keys.V1.AlternateKey' },
  });
  return {
    Annotation: [{ Collection: keys.map(record) }],
    ':@': { '@_Term': 'OData.Community.Keys.V1.AlternateKeys' },
  };
}

/** Returns the cut CSDL XML. */
export function cutSchema(sourceXml: string): string {
  const doc = new XMLParser(xmlOptions).parse(sourceXml) as Node[];
  const edmx = doc.find((n) => tagOf(n) === 'edmx:Edmx');
  if (!edmx) throw new Error('cut-schema: no edmx:Edmx root element');
  const dataServices = children(edmx).find((n) => tagOf(n) === 'edmx:DataServices');
  if (!dataServices) throw new Error('cut-schema: no edmx:DataServices element');
  const schema = children(dataServices).find((n) => tagOf(n) === 'Schema');
  if (!schema) throw new Error('cut-schema: no Schema element');

  const keptSets = new Set<string>();
  for (const n of children(schema)) {
    if (tagOf(n) !== 'EntityContainer') continue;
    for (const s of children(n)) {
      if (tagOf(s) === 'EntitySet' && ENTITY_TYPES.has(localName(attr(s, 'EntityType') ?? ''))) keptSets.add(attr(s, 'Name') ?? '');
    }
  }

  const keepTypeRef = (type: string | undefined): boolean =>
    type === undefined || isEdm(type) || ENTITY_TYPES.has(localName(type)) || COMPLEX_TYPES.has(localName(type));

  const kept: Node[] = [];
  const found = new Set<string>();
  for (const n of children(schema)) {
    const tag = tagOf(n);
    const name = attr(n, 'Name') ?? '';
    if (tag === 'EntityType' && ENTITY_TYPES.has(name)) {
      found.add(name);
      const body = children(n).filter((c) => {
        const t = tagOf(c);
        if (t === 'Property') return keepTypeRef(attr(c, 'Type')) && !isCustom(attr(c, 'Name'));
        if (t === 'NavigationProperty') return ENTITY_TYPES.has(localName(attr(c, 'Type') ?? '')) && !isCustom(attr(c, 'Name'));
        return true;
      });
      const added = ADDED_ALTERNATE_KEYS[name];
      if (added && !body.some((c) => tagOf(c) === 'Annotation' && attr(c, 'Term') === 'OData.Community.Keys.V1.AlternateKeys')) {
        body.push(alternateKeyAnnotation(added));
      }
      kept.push({ EntityType: body, ':@': n[':@'] });
    } else if (tag === 'ComplexType' && COMPLEX_TYPES.has(name)) {
      kept.push(n);
    } else if ((tag === 'Action' || tag === 'Function') && OPERATIONS.has(name)) {
      const params = children(n).filter((c) => tagOf(c) === 'Parameter' || tagOf(c) === 'ReturnType');
      if (params.every((p) => keepTypeRef(attr(p, 'Type')))) kept.push(n);
    } else if (tag === 'Term') {
      kept.push(n);
    } else if (tag === 'EntityContainer') {
      const body = children(n)
        .filter((c) => {
          const t = tagOf(c);
          if (t === 'EntitySet') return keptSets.has(attr(c, 'Name') ?? '');
          if (t === 'ActionImport' || t === 'FunctionImport') return OPERATIONS.has(localName(attr(c, 'Action') ?? attr(c, 'Function') ?? ''));
          return false;
        })
        .map((c) =>
          tagOf(c) === 'EntitySet'
            ? {
                EntitySet: children(c).filter(
                  (b) => tagOf(b) !== 'NavigationPropertyBinding' || (keptSets.has(attr(b, 'Target') ?? '') && !isCustom(attr(b, 'Path'))),
                ),
                ':@': c[':@'],
              }
            : c,
        );
      for (const xml of ADDED_ENTITY_SETS_XML) body.push(...parseFragment(xml));
      kept.push({ EntityContainer: body, ':@': n[':@'] });
    }
  }
  // Added types go before the container, where Dataverse serves its types and operations.
  const container = kept.findIndex((n) => tagOf(n) === 'EntityContainer');
  kept.splice(container === -1 ? kept.length : container, 0, ...ADDED_SCHEMA_XML.flatMap(parseFragment));
  const missing = [...ENTITY_TYPES].filter((t) => !found.has(t));
  if (missing.length > 0) throw new Error(`cut-schema: the source lacks entity types ${missing.join(', ')}`);

  schema[tagOf(schema)] = kept;
  return new XMLBuilder({ ...xmlOptions, suppressEmptyNode: true, format: false }).build(doc) as string;
}

function main(): void {
  const source = path.resolve(process.argv[2] ?? defaultSource);
  const out = path.resolve(process.argv[3] ?? defaultOut);
  const bytes = fs.readFileSync(source);
  const sha1 = createHash('sha1').update(bytes).digest('hex').slice(0, 12);
  const xml = cutSchema(bytes.toString('utf8'));
  // One element per source line keeps diffs of the generated file readable.
  const lines = xml.split(/(?=<(?:EntityType|ComplexType|Function|Action|Term|EntityContainer|EntitySet|FunctionImport|ActionImport) )/);
  const relSource = path.relative(repoRoot, source).split(path.sep).join('/');
  const ts = [
    '/**',
    ' * GENERATED by scripts/cut-schema.ts — do not edit by hand; re-run `npx tsx scripts/cut-schema.ts`.',
    ` * Source: ${relSource} (sha1 ${sha1}), a real Dynamics 365 v9.0 $metadata`,
    ' * (bcgov/jag-lcrb-carla-public, Apache-2.0; see ../shared/fixtures/real/SOURCES.md).',
    ` * Kept: entity types ${[...ENTITY_TYPES].join(', ')}; operations ${[...OPERATIONS].join(', ')}.`,
    ' * Navigation properties and bindings to tables that were not kept are dropped, and so are the',
    ` * source organisation's custom columns and relationships (${CUSTOM_PREFIX}*).`,
    ' * Added (absent from the source): the alternate key account(accountnumber), as an',
    " * `OData.Community.Keys.V1.AlternateKeys` annotation — what a customer's environment has after defining it;",
    ' * the bulk messages (CreateMultiple, UpdateMultiple, UpsertMultiple, DeleteMultiple, CreateMultipleResponse),',
    ' * a custom table sample_document (file columns sample_file and sample_attachment, an image column sample_image, an alternate key',
    ' * sample_code) and an elastic table sample_sensordata (partitionid, ttlinseconds, the key of id and partition).',
    ' */',
    '',
    '/** The emulator\'s default CSDL `$metadata` document. */',
    'export const DEFAULT_METADATA_XML: string = [',
    ...lines.map((l) => `  ${JSON.stringify(l)},`),
    "].join('');",
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, ts);
  console.log(`cut-schema: ${relSource} (${bytes.length} bytes) -> ${path.relative(repoRoot, out)} (${xml.length} bytes of XML)`);
}

if (require.main === module) main();
