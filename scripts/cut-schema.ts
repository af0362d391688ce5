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
      kept.push({ EntityContainer: body, ':@': n[':@'] });
    }
  }
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
    " * `OData.Community.Keys.V1.AlternateKeys` annotation — what a customer's environment has after defining it.",
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
