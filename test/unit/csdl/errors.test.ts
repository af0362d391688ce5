/**
 * src/csdl throws its own CsdlError; `dynamics-odata/codegen` keeps throwing CodegenError for the same
 * input (same code and message, the CsdlError as cause), so generator users see no change.
 */
import { buildModel as csdlBuildModel, CsdlError, loadModel as csdlLoadModel, readCsdl as csdlReadCsdl } from '../../../src/csdl';
import { CodegenError, generate, loadModel, readCsdl } from '../../../src/codegen';
import { startEmulator } from '../../../src/emulator';

const NOT_CSDL = '<html><body>Sign in</body></html>';
const NO_NAME = '<edmx:Edmx xmlns:edmx="x" Version="4.0"><edmx:DataServices><Schema Namespace="N"><EntityType/></Schema></edmx:DataServices></edmx:Edmx>';
const MINIMAL = '<edmx:Edmx xmlns:edmx="x" Version="4.0"><edmx:DataServices><Schema Namespace="N"><EntityType Name="t"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid"/></EntityType><EntityContainer Name="C"><EntitySet Name="ts" EntityType="N.t"/></EntityContainer></Schema></edmx:DataServices></edmx:Edmx>';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('CsdlError from src/csdl', () => {
  it.each([
    ['not an edmx document', NOT_CSDL, /expected an <edmx:Edmx> root element, got "<html>/],
    ['a missing required attribute', NO_NAME, /<EntityType> without the required Name attribute/],
    ['not XML text at all', 42 as unknown as string, /expected the XML text of a \$metadata document/],
  ])('is thrown for %s, with code invalid_csdl', (_what, xml, message) => {
    const err = thrown(() => csdlLoadModel(xml));
    expect(err).toBeInstanceOf(CsdlError);
    expect(err).not.toBeInstanceOf(CodegenError);
    expect(err).toMatchObject({ name: 'CsdlError', code: 'invalid_csdl', message: expect.stringMatching(message) });
  });

  it('is what startEmulator rejects a metadata document that is not CSDL with', async () => {
    const err = await startEmulator({ metadata: NOT_CSDL }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CsdlError);
    expect(err).toMatchObject({ code: 'invalid_csdl', message: expect.stringMatching(/expected an <edmx:Edmx> root element/) });
  });

  it('reads a valid document without the generator', () => {
    const model = csdlBuildModel(csdlReadCsdl(MINIMAL));
    expect(model.entityTypes.get('N.t')).toMatchObject({ identifier: 'T', fileName: 't', key: ['id'], entitySetName: 'ts' });
  });
});

describe('dynamics-odata/codegen rethrows it as CodegenError', () => {
  it.each([
    ['readCsdl', () => readCsdl(NOT_CSDL)],
    ['loadModel', () => loadModel(NO_NAME)],
  ])('%s', (_name, f) => {
    const err = thrown(f) as CodegenError;
    expect(err).toBeInstanceOf(CodegenError);
    expect({ name: err.name, code: err.code }).toEqual({ name: 'CodegenError', code: 'invalid_csdl' });
    expect(err.cause).toBeInstanceOf(CsdlError);
    expect(err.message).toBe((err.cause as CsdlError).message);
  });

  it('generate() rejects a document that is not CSDL with CodegenError invalid_csdl', async () => {
    await expect(generate({ metadata: NOT_CSDL, write: false })).rejects.toMatchObject({ name: 'CodegenError', code: 'invalid_csdl' });
  });
});
