/**
 * Generated code is safe to import whatever the `$metadata` says (issue 11, item 11): a hostile
 * endpoint or a third-party file controls every name, label and file name the generator sees.
 * Names that are not CSDL SimpleIdentifiers are refused; every other piece of text that reaches a
 * comment or a string literal is escaped. Proven by running the generated code (a payload that
 * survived sets a global flag) and by `tsc --noEmit` over it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CodegenError, generate } from '../../src/codegen';
import { errors, tsc } from '../compile/tsc';
import { PAYLOAD, PWNED_FLAG, runGenerated } from './run-generated';

/** Closes a `/** *\/` comment, runs the payload, reopens one. */
const CLOSE_COMMENT = `x*/ ${PAYLOAD} /*`;
/** Ends a `//` line (U+2028 is a line terminator in JavaScript), runs the payload, comments out the rest. */
const LINE_BREAK = `x\u2028${PAYLOAD} //`;

function xmlAttr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

interface Names {
  namespace: string;
  alias: string;
  entityType: string;
  property: string;
  navigation: string;
  complexType: string;
  enumType: string;
  member: string;
  action: string;
  func: string;
  parameter: string;
  container: string;
  entitySet: string;
}

const SAFE: Names = {
  namespace: 'Microsoft.Dynamics.CRM',
  alias: 'mscrm',
  entityType: 'account',
  property: 'name',
  navigation: 'parentaccountid',
  complexType: 'WhoAmIResponse',
  enumType: 'AccessRights',
  member: 'ReadAccess',
  action: 'Merge',
  func: 'WhoAmI',
  parameter: 'Target',
  container: 'System',
  entitySet: 'accounts',
};

/** A small Dataverse-shaped document with every kind of name the generator emits, each replaceable. */
function metadata(override: Partial<Names> = {}): string {
  const n = { ...SAFE, ...override };
  const a = (t: string): string => xmlAttr(t);
  const q = (t: string): string => a(`${n.namespace}.${t}`);
  return `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="${a(n.namespace)}" Alias="${a(n.alias)}" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="${a(n.entityType)}">
        <Key><PropertyRef Name="accountid" /></Key>
        <Property Name="accountid" Type="Edm.Guid" />
        <Property Name="${a(n.property)}" Type="Edm.String" MaxLength="160" />
        <Property Name="industrycode" Type="Edm.Int32" />
        <Property Name="donotphone" Type="Edm.Boolean" />
        <Property Name="_parentaccountid_value" Type="Edm.Guid" />
        <Property Name="rights" Type="${q(n.enumType)}" />
        <NavigationProperty Name="${a(n.navigation)}" Type="${q(n.entityType)}">
          <ReferentialConstraint Property="_parentaccountid_value" ReferencedProperty="accountid" />
        </NavigationProperty>
      </EntityType>
      <ComplexType Name="${a(n.complexType)}"><Property Name="UserId" Type="Edm.Guid" Nullable="false" /></ComplexType>
      <EnumType Name="${a(n.enumType)}" IsFlags="true"><Member Name="None" Value="0" /><Member Name="${a(n.member)}" Value="1" /></EnumType>
      <Function Name="${a(n.func)}"><ReturnType Type="${q(n.complexType)}" Nullable="false" /></Function>
      <Action Name="${a(n.action)}" IsBound="true">
        <Parameter Name="entity" Type="${q(n.entityType)}" Nullable="false" />
        <Parameter Name="${a(n.parameter)}" Type="${q(n.entityType)}" Nullable="false" />
      </Action>
      <EntityContainer Name="${a(n.container)}">
        <EntitySet Name="${a(n.entitySet)}" EntityType="${q(n.entityType)}" />
        <FunctionImport Name="${a(n.func)}" Function="${q(n.func)}" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>`;
}

/** Option sets of `account` whose labels, names and schema names are all hostile. */
function optionSets(label: (i: number) => string): object {
  const text = (s: string) => ({ UserLocalizedLabel: { Label: s, LanguageCode: 1033 } });
  return {
    EntityMetadata: [
      {
        LogicalName: 'account',
        Attributes: [
          {
            LogicalName: 'industrycode',
            SchemaName: `IndustryCode${CLOSE_COMMENT}`,
            AttributeType: 'Picklist',
            OptionSet: { Name: CLOSE_COMMENT, IsGlobal: false, OptionSetType: 'Picklist', Options: [1, 2, 3, 4, 5, 6].map((v) => ({ Value: v, Label: text(label(v)) })) },
          },
          {
            LogicalName: 'donotphone',
            SchemaName: LINE_BREAK,
            AttributeType: 'Boolean',
            OptionSet: { Name: LINE_BREAK, IsGlobal: false, OptionSetType: 'Boolean', TrueOption: { Value: 1, Label: text(label(7)) }, FalseOption: { Value: 0, Label: text(label(8)) } },
          },
        ],
      },
    ],
  };
}

/** Labels that break out of strings and comments in every way we know, with the payload after each. */
const HOSTILE_LABELS = [
  `'; ${PAYLOAD} '`,
  CLOSE_COMMENT,
  LINE_BREAK,
  `x\u2029${PAYLOAD} //`,
  `back\\slash'\r\n${PAYLOAD}`,
  `\`\${${PAYLOAD}}\``,
  `\u202Eevil\u202C ${PAYLOAD}`,
  `"></script>${PAYLOAD}\u0000\uD800`,
];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-hostile-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('the runner sees injected code run (so the assertions below can fail)', async () => {
  const result = await runGenerated([{ path: 'a.ts', content: `// Source: ${LINE_BREAK}\nexport const a = 1;\n` }]);
  expect(result.pwned).toBe(1);
});

describe('names that are not CSDL SimpleIdentifiers', () => {
  const cases: Array<[string, Partial<Names>, RegExp]> = [
    ['an EntityType closing a JSDoc comment', { entityType: CLOSE_COMMENT }, /<EntityType Name="x\*\/ globalThis/],
    ['an EntityType with U+2028', { entityType: LINE_BREAK }, /<EntityType Name="x\\u2028globalThis/],
    ['a Property', { property: CLOSE_COMMENT }, /<Property Name="x\*\/ .*"> in EntityType Microsoft\.Dynamics\.CRM\.account/],
    ['a NavigationProperty', { navigation: LINE_BREAK }, /<NavigationProperty Name="x\\u2028/],
    ['a ComplexType', { complexType: CLOSE_COMMENT }, /<ComplexType Name="x\*\/ /],
    ['an EnumType', { enumType: CLOSE_COMMENT }, /<EnumType Name="x\*\/ /],
    ['an enum Member', { member: LINE_BREAK }, /<Member Name="x\\u2028/],
    ['an Action', { action: CLOSE_COMMENT }, /<Action Name="x\*\/ /],
    ['a Function', { func: CLOSE_COMMENT }, /<Function Name="x\*\/ /],
    ['a Parameter', { parameter: CLOSE_COMMENT }, /<Parameter Name="x\*\/ .*"> in Action Microsoft\.Dynamics\.CRM\.Merge/],
    ['an EntityContainer', { container: CLOSE_COMMENT }, /<EntityContainer Name="x\*\/ /],
    ['an EntitySet', { entitySet: 'accounts`; export const x = `' }, /<EntitySet Name="accounts`; export/],
    ['a Schema Namespace', { namespace: `N.${CLOSE_COMMENT}` }, /<Schema Namespace="N\.x\*\/ /],
    ['a Schema Alias', { alias: CLOSE_COMMENT }, /<Schema Alias="x\*\/ /],
    ['a name of 129 characters', { property: `a${'b'.repeat(128)}` }, /<Property Name="abbb.*the name is not a SimpleIdentifier/],
  ];

  it.each(cases)('%s: refused with CodegenError invalid_csdl naming it, and nothing that ran', async (_what, names, message) => {
    const out = path.join(dir, 'refused');
    const result: unknown = await generate({ metadata: metadata(names), out, write: false }).catch((e: unknown) => e);
    if (!(result instanceof Error)) {
      // What today's code would hand the user: it must at least not run the payload.
      const run = await runGenerated((result as { files: { path: string; content: string }[] }).files);
      expect({ pwned: run.pwned }).toEqual({ pwned: undefined });
    }
    expect(result).toBeInstanceOf(CodegenError);
    expect({ code: (result as CodegenError).code, message: (result as Error).message }).toEqual({ code: 'invalid_csdl', message: expect.stringMatching(message) });
    expect((result as Error).message).toMatch(/SimpleIdentifier/);
    // The message quotes the name with its line terminators escaped: one line whatever the name.
    expect((result as Error).message).not.toMatch(/[\r\n\u2028\u2029]/);
  });

  it('accepts the names CSDL allows beyond ASCII (letters, marks, connectors), and the output runs', async () => {
    const result = await generate({ metadata: metadata({ property: 'nämé_ü', entitySet: 'accountsñ', member: 'Lecture' }), write: false });
    const run = await runGenerated(result.files);
    expect({ pwned: run.pwned, error: run.error }).toEqual({ pwned: undefined, error: undefined });
    expect(run.loaded).toContain('account.js');
  });
});

describe('text that reaches comments and strings', () => {
  const labels = (v: number): string => HOSTILE_LABELS[(v - 1) % HOSTILE_LABELS.length]!;
  let files: { path: string; content: string }[];
  let out: string;

  beforeAll(async () => {
    out = path.join(dir, 'escaped');
    // A metadata file whose name carries a line terminator, as a downloaded or third-party file may.
    const file = path.join(dir, `metadata\u2028${PAYLOAD.replace(/\//g, '')}.xml`);
    fs.writeFileSync(file, metadata());
    const result = await generate({
      metadata: file,
      out,
      optionSets: optionSets(labels),
      optionSetsLabel: LINE_BREAK,
      generatorVersion: `1.0.0\u2028${PAYLOAD} //`,
    });
    files = result.files;
    const bySourceLabel = await generate({ metadata: metadata(), sourceLabel: `${LINE_BREAK}\u2029${CLOSE_COMMENT}`, write: false });
    files = [...files, ...bySourceLabel.files.map((f) => ({ path: `label-${f.path}`, content: f.content.replace(/from '\.\//g, "from './label-") }))];
  });

  it('keeps every header on its comment lines', () => {
    for (const f of files) {
      const head = f.content.split('\n').slice(0, 3);
      for (const line of head.filter((l) => l.startsWith('//'))) expect(line).not.toMatch(/[\u2028\u2029\r]/);
      expect(f.content).not.toMatch(/[\u2028\u2029\u202E]/);
    }
  });

  it('importing the generated code runs no injected code, and the labels come back as given', async () => {
    // Every `…Labels` export of account.ts: the choice column's and the yes/no column's.
    const run = await runGenerated(files, "Object.entries(mod('account.js')).filter(([k]) => k.endsWith('Labels')).map(([, v]) => v).sort((a, b) => Object.keys(b).length - Object.keys(a).length)");
    expect(run.error).toBeUndefined();
    expect(run.pwned).toBeUndefined();
    expect(run.loaded).toContain('account.js');
    const expected: Record<string, string> = {};
    for (let v = 1; v <= 6; v++) expected[String(v)] = labels(v);
    expect(run.probe).toEqual([
      expected,
      { false: labels(8), true: labels(7) },
    ]);
  });

  it('type-checks under strict options (tsc --noEmit)', async () => {
    const result = await tsc({ include: [`${out}/*.ts`] });
    expect(errors(result)).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);
});

it(`(the flag ${PWNED_FLAG} is not set in this process either)`, () => {
  expect((globalThis as Record<string, unknown>)[PWNED_FLAG]).toBeUndefined();
});
