/**
 * Invalid CSDL is said, not silently modelled (issue 11, item 16): every rule the generator relies
 * on fails with a CodegenError `invalid_csdl` that names the element and the name at fault, and
 * `__proto__` (valid CSDL the generated objects and zod schemas cannot carry) with `unsupported_csdl`.
 */
import { CodegenError, generate, loadModel } from '../../src/codegen';

/** A minimal valid document around `types` (in schema N, alias n) and `container` (entity container C). */
function doc(types: string, container = '<EntitySet Name="as" EntityType="N.a"/>', references = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">${references}
  <edmx:DataServices>
    <Schema Namespace="N" Alias="n" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      ${types}
      <EntityContainer Name="C">${container}</EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>`;
}

const A = '<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/></EntityType>';

function failure(xml: string): unknown {
  try {
    loadModel(xml);
  } catch (err) {
    return err;
  }
  return 'accepted';
}

describe('invalid CSDL is refused with CodegenError invalid_csdl naming what is wrong', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['a mismatched closing tag', doc(`${A}<ComplexType Name="c"><Property Name="p" Type="Edm.String"/></EntityType>`), /not well-formed XML at line \d+, column \d+ .*closing tag/],
    ['an element never closed', doc(A).replace('</edmx:Edmx>', ''), /not well-formed XML/],
    ['a repeated attribute', doc(`<EntityType Name="a" Name="b"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/></EntityType>`), /not well-formed XML.*repeated/],
    ['two root elements', `${doc(A)}<edmx:Edmx/>`, /not well-formed XML|more than one root element/],
    ['a BaseType naming an undefined type', doc(`${A}<EntityType Name="b" BaseType="n.missing"/>`), /<EntityType Name="b"> in schema N: BaseType "N\.missing" names no type in the document/],
    ['a BaseType of the other kind', doc(`${A}<ComplexType Name="c"/><EntityType Name="b" BaseType="n.c"/>`), /<EntityType Name="b"> in schema N: BaseType "N\.c" is an ComplexType, not an EntityType/],
    ['a BaseType cycle', doc(`${A}<EntityType Name="b" BaseType="n.c"/><EntityType Name="c" BaseType="n.b"/>`), /<EntityType Name="b"> in schema N: its BaseType chain is a cycle \(N\.b → N\.c → N\.b\)/],
    ['a type deriving from itself', doc(`${A}<ComplexType Name="c" BaseType="N.c"/>`), /<ComplexType Name="c"> in schema N: its BaseType chain is a cycle/],
    ['a property Type naming an undefined type', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="p" Type="n.nowhere"/></EntityType>`), /<Property Name="p"> of N\.a: Type "N\.nowhere" names no type in the document/],
    ['a property Type in an unknown namespace', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="p" Type="Other.T"/></EntityType>`), /Type "Other\.T" names no type in the document \(its namespace is neither declared nor referenced\)/],
    ['a property Type that is not an Edm type', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Strin"/></EntityType>`), /<Property Name="id"> of N\.a: Type "Edm\.Strin" is not an Edm type/],
    ['a Key naming a missing property', doc(`<EntityType Name="a"><Key><PropertyRef Name="aid"/></Key><Property Name="id" Type="Edm.Guid"/></EntityType>`), /<PropertyRef Name="aid"> in the Key of N\.a: a has no property "aid"/],
    ['a Key naming a navigation property', doc(`<EntityType Name="a"><Key><PropertyRef Name="nav"/></Key><Property Name="id" Type="Edm.Guid"/><NavigationProperty Name="nav" Type="n.a"/></EntityType>`), /in the Key of N\.a: a has no property "nav"/],
    ['a NavigationProperty to an undefined type', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><NavigationProperty Name="owner" Type="Collection(n.systemuser)"/></EntityType>`), /<NavigationProperty Name="owner"> of N\.a: Type "N\.systemuser" names no type in the document/],
    ['a NavigationProperty to a complex type', doc(`<ComplexType Name="c"/><EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><NavigationProperty Name="nav" Type="n.c"/></EntityType>`), /<NavigationProperty Name="nav"> of N\.a: Type "N\.c" is an ComplexType, not an EntityType/],
    ['an EntitySet whose EntityType is undefined', doc(A, '<EntitySet Name="as" EntityType="N.a"/><EntitySet Name="bs" EntityType="N.b"/>'), /<EntitySet Name="bs"> in EntityContainer N\.C: EntityType "N\.b" names no type in the document/],
    ['duplicate property names', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="id" Type="Edm.String"/></EntityType>`), /<Property Name="id"> in EntityType N\.a: the name is declared twice/],
    ['a navigation property named like a property', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><NavigationProperty Name="id" Type="n.a"/></EntityType>`), /<NavigationProperty Name="id"> in EntityType N\.a: the name is declared twice/],
    ['duplicate entity set names', doc(A, '<EntitySet Name="as" EntityType="N.a"/><EntitySet Name="as" EntityType="N.a"/>'), /<EntitySet Name="as"> in EntityContainer N\.C: the name is declared twice/],
    ['an entity set named like a function import', doc(`${A}<Function Name="f"><ReturnType Type="Edm.String"/></Function>`, '<EntitySet Name="f" EntityType="N.a"/><FunctionImport Name="f" Function="N.f"/>'), /<FunctionImport Name="f"> in EntityContainer N\.C: the name is declared twice/],
    ['duplicate type names', doc(`${A}<ComplexType Name="a"/>`), /<ComplexType Name="a"> in schema N: the name is declared twice/],
    ['a FunctionImport naming no function', doc(A, '<EntitySet Name="as" EntityType="N.a"/><FunctionImport Name="f" Function="N.f"/>'), /<FunctionImport Name="f"> in EntityContainer N\.C: Function "N\.f" names no function/],
    ['duplicate enum members', doc(`${A}<EnumType Name="e"><Member Name="x" Value="1"/><Member Name="x" Value="2"/></EnumType>`), /<Member Name="x"> in EnumType N\.e: the name is declared twice/],
    ['an enum member Value that is not an integer', doc(`${A}<EnumType Name="e"><Member Name="x" Value="one"/></EnumType>`), /<Member Name="x">: Value "one" is not an integer/],
    ['an enum UnderlyingType that is not integral', doc(`${A}<EnumType Name="e" UnderlyingType="Edm.String"><Member Name="x"/></EnumType>`), /<EnumType Name="e"> in schema N: UnderlyingType "Edm\.String" is not Edm\.Byte/],
    ['duplicate parameters', doc(`${A}<Action Name="act"><Parameter Name="p" Type="Edm.String"/><Parameter Name="p" Type="Edm.Int32"/></Action>`), /<Parameter Name="p"> in Action N\.act: the name is declared twice/],
    ['a parameter of an undefined type', doc(`${A}<Action Name="act"><Parameter Name="p" Type="n.nope"/></Action>`), /<Parameter Name="p"> of N\.act: Type "N\.nope" names no type/],
    ['a ReturnType of an undefined type', doc(`${A}<Function Name="f"><ReturnType Type="Collection(n.nope)"/></Function>`), /<Function Name="f"> in schema N: ReturnType "N\.nope" names no type/],
    ['a bound operation without parameters', doc(`${A}<Action Name="act" IsBound="true"/>`), /<Action Name="act"> in schema N: a bound operation needs its binding parameter/],
    ['a MaxLength that is not a number', doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="p" Type="Edm.String" MaxLength="1e3"/></EntityType>`), /<Property Name="p">: MaxLength "1e3" is not a whole number or max/],
    ['two schemas with one namespace', doc(A).replace('</edmx:DataServices>', '<Schema Namespace="N" xmlns="http://docs.oasis-open.org/odata/ns/edm"/></edmx:DataServices>'), /<Schema Namespace="N">: the namespace is declared twice/],
  ];

  it.each(cases)('%s', (_what, xml, message) => {
    const err = failure(xml);
    expect(err).toBeInstanceOf(CodegenError);
    expect({ code: (err as CodegenError).code, message: (err as Error).message }).toEqual({ code: 'invalid_csdl', message: expect.stringMatching(message) });
  });

  it('quotes what is not CSDL without its control characters (no terminal escapes in the CLI)', () => {
    const err = failure('<html>\u001b]0;owned\u0007<body>Sign in</body></html>');
    expect((err as Error).message).toMatch(/expected an <edmx:Edmx> root element, got "<html>\\u001b\]0;owned\\u0007<body>/);
    expect((err as Error).message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('generate() refuses them too', async () => {
    await expect(generate({ metadata: doc(`${A}<EntityType Name="b" BaseType="n.b"/>`), write: false })).rejects.toMatchObject({ name: 'CodegenError', code: 'invalid_csdl' });
  });

  it('accepts types of a namespace the document references but does not include (a vocabulary)', () => {
    const ref = '<edmx:Reference Uri="https://example.com/Vocab.xml"><edmx:Include Namespace="Org.Example.V1" Alias="Ex"/></edmx:Reference>';
    const model = loadModel(doc(`<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="p" Type="Ex.Thing"/></EntityType>`, undefined, ref));
    expect(model.entityTypes.get('N.a')!.properties.find((p) => p.name === 'p')!.type).toEqual({ kind: 'primitive', edmType: 'Edm.Untyped' });
  });

  it('accepts a key property inherited from the base type', () => {
    const model = loadModel(doc(`<EntityType Name="base" Abstract="true"><Property Name="id" Type="Edm.Guid"/></EntityType><EntityType Name="a" BaseType="n.base"><Key><PropertyRef Name="id"/></Key></EntityType>`));
    expect(model.entityTypes.get('N.a')!.key).toEqual(['id']);
  });
});

describe('__proto__', () => {
  // A valid SimpleIdentifier, but `{ __proto__: … }` sets an object's prototype: zod dropped the column
  // from the schema (and never required it) while the TypeScript type kept it.
  it.each([
    ['a column', `<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><Property Name="__proto__" Type="Edm.String"/></EntityType>`, /<Property Name="__proto__"> in N\.a/],
    ['a navigation property', `<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/><NavigationProperty Name="__proto__" Type="n.a"/></EntityType>`, /<NavigationProperty Name="__proto__"> in N\.a/],
    ['an enum member', `${A}<EnumType Name="e"><Member Name="__proto__" Value="1"/></EnumType>`, /<Member Name="__proto__"> in N\.e/],
  ])('as %s is refused with CodegenError unsupported_csdl', async (_what, types, message) => {
    const err = await generate({ metadata: doc(types), write: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodegenError);
    expect({ code: (err as CodegenError).code, message: (err as Error).message }).toEqual({ code: 'unsupported_csdl', message: expect.stringMatching(message) });
  });
});
