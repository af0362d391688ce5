/**
 * All three real `$metadata` documents generate and their full output compiles under strict
 * options; importing three entities loads exactly three generated files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generate } from '../../src/codegen';
import { REAL, errors, tsc } from './tsc';

const DOCS = ['metadata-v9.0-onprem-bcgov-lcrb.xml', 'metadata-v9.0-onprem-bcgov-embc-connectedservice.xml', 'metadata-v9.1-online-crm4.xml'];

describe.each(DOCS)('%s', (doc) => {
  let out: string;
  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'dyn-gen-'));
    await generate({ metadata: path.join(REAL, doc), out });
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('compiles in full under strict options (tsc --noEmit)', async () => {
    const result = await tsc({ include: [`${out}/*.ts`] });
    expect(errors(result)).toBe('');
    expect(result.code).toBe(0);
    expect(fs.readdirSync(out).some((f) => f === 'account.ts')).toBe(true);
    // No file turns type checking off.
    for (const f of ['account.ts', 'operations.ts', 'index.ts']) expect(fs.readFileSync(path.join(out, f), 'utf8')).not.toMatch(/@ts-nocheck|@ts-ignore/);
  }, 300_000);

  it('a file importing 3 entities makes the checker load those 3 generated files and no other', async () => {
    const usage = path.join(out, 'usage.ts');
    fs.writeFileSync(
      usage,
      [
        "import type { AccountCreate } from './account';",
        "import { ContactSchema } from './contact';",
        "import { systemuserMeta } from './systemuser';",
        "const input: AccountCreate = { name: 'Contoso', 'primarycontactid@odata.bind': '/contacts(00000000-0000-0000-0000-000000000001)' };",
        'export const used = [input, ContactSchema, systemuserMeta.entitySet];',
        '',
      ].join('\n'),
    );
    try {
      const result = await tsc({ files: [usage] });
      expect(errors(result)).toBe('');
      const generatedLoaded = result.loaded.filter((f) => path.dirname(f) === fs.realpathSync(out) || path.dirname(f) === out).map((f) => path.basename(f));
      expect(generatedLoaded.sort()).toEqual(['account.ts', 'contact.ts', 'systemuser.ts', 'usage.ts']);
    } finally {
      fs.rmSync(usage, { force: true });
    }
  }, 120_000);
});
