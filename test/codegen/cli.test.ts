/**
 * `dynamics-odata generate` argument handling and the config file: clear errors that name the
 * option or field, environments chosen by --env, entity selection, stale files removed, user
 * files left alone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../src/cli/generate';
import { CodegenError, generate, loadEnvironment, readOptionSets } from '../../src/codegen';

const SMALL = path.join(__dirname, 'fixtures/small/metadata.xml');
const REAL = path.resolve(__dirname, '../../../shared/fixtures/real');
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-cli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (stdout.push(String(s)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
  try {
    const code = await run(args);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}

describe('dynamics-odata generate', () => {
  it('generates from --metadata into --out, only the --entities asked for', async () => {
    const out = path.join(dir, 'out');
    const r = await cli(['--metadata', SMALL, '--out', out, '--entities', 'account,contacts']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/generated 7 files \(2 tables\) in .*out from metadata\.xml: 7 written, 0 removed, 0 unchanged/);
    expect(fs.readdirSync(out).sort()).toEqual(['account.ts', 'complex-types.ts', 'contact.ts', 'enums.ts', 'index.ts', 'operations.ts', 'schema.ts']);
    // Operations bound to tables that were not generated are left out with them.
    const ops = fs.readFileSync(path.join(out, 'operations.ts'), 'utf8');
    expect(ops).toContain('export function Merge_Account(');
    expect(ops).not.toContain('RetrieveUserQueues');
  });

  it('a second run writes nothing, and a narrower run removes stale generated files but not the user\'s', async () => {
    const out = path.join(dir, 'out');
    expect((await cli(['--metadata', SMALL, '--out', out])).code).toBe(0);
    fs.writeFileSync(path.join(out, 'my-helpers.ts'), 'export const mine = 1;\n');
    const again = await cli(['--metadata', SMALL, '--out', out]);
    expect(again.stdout).toMatch(/0 written, 0 removed, 13 unchanged/);
    const narrower = await cli(['--metadata', SMALL, '--out', out, '--entities', 'account']);
    expect(narrower.stdout).toMatch(/removed/);
    expect(fs.existsSync(path.join(out, 'contact.ts'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'my-helpers.ts'))).toBe(true);
  });

  it.each([
    [[], /give a source: --url <environment>, --metadata <file>, or --config <file>/],
    [['--metadata', 'x.xml'], /--out <dir> is required/],
    [['--metadata', 'x.xml', '--url', 'https://a.example', '--out', 'o'], /--url and --metadata are exclusive/],
    [['--metadata', 'x.xml', '--out', 'o', '--bogus'], /Unknown option '--bogus'/],
    [['--metadata', 'x.xml', '--out', 'o', '--api-version', 'v9'], /--api-version: expected a version such as 9.2, got 'v9'/],
    [['--metadata', 'x.xml', '--out', 'o', '--language', 'fr'], /--language: expected a language code such as 1033, got 'fr'/],
    [['--metadata', 'x.xml', '--out', 'o', '--entities', ' , '], /--entities: expected a comma-separated list/],
  ])('usage error %j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('usage: dynamics-odata generate');
  });

  it('names the file it cannot read, and the tables it does not know', async () => {
    const missing = await cli(['--metadata', path.join(dir, 'nope.xml'), '--out', path.join(dir, 'o')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/metadata: cannot read .*nope\.xml \(ENOENT\)/);
    const unknown = await cli(['--metadata', SMALL, '--out', path.join(dir, 'o'), '--entities', 'acount,contact']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/entities: no table named 'acount' \(did you mean account\?\)/);
    const notCsdl = path.join(dir, 'login.html');
    fs.writeFileSync(notCsdl, '<html><body>Sign in to your account</body></html>');
    const html = await cli(['--metadata', notCsdl, '--out', path.join(dir, 'o')]);
    expect(html.code).toBe(1);
    expect(html.stderr).toMatch(/invalid CSDL: expected an <edmx:Edmx> root element, got "<html>/);
  });

  it('takes the environment from a config file, chosen with --env', async () => {
    const config = path.join(dir, 'dynamics-odata.config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        environments: {
          dev: { source: { metadata: SMALL }, out: 'gen/dev', entities: ['account'] },
          // (Not the trimmed frodata excerpt: its navigation properties name types it no longer has, which is invalid CSDL.)
          prod: { source: { metadata: SMALL }, out: 'gen/prod', options: { languageCode: 1033 } },
        },
      }),
    );
    const dev = await cli(['--config', config, '--env', 'dev']);
    expect(dev.code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'gen/dev'))).toContain('account.ts');
    expect(fs.existsSync(path.join(dir, 'gen/dev/contact.ts'))).toBe(false);
    const prod = await cli(['--config', config, '--env', 'prod']);
    expect(prod.code).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'gen/prod'))).toEqual(expect.arrayContaining(['contact.ts', 'email.ts', 'activitypointer.ts']));
    const which = await cli(['--config', config]);
    expect(which.code).toBe(2);
    expect(which.stderr).toMatch(/several environments \(dev, prod\): choose one with --env <name>/);
    const typo = await cli(['--config', config, '--env', 'qa']);
    expect(typo.stderr).toMatch(/has no environment 'qa' \(it has dev, prod\)/);
  });
});

describe('config validation', () => {
  const write = (json: unknown): string => {
    const f = path.join(dir, 'c.json');
    fs.writeFileSync(f, typeof json === 'string' ? json : JSON.stringify(json));
    return f;
  };

  it('names the field at fault', () => {
    expect(() => loadEnvironment(write({ environments: { dev: { source: { url: 'http://x.example' }, out: 'o' } } }))).toThrow(/environments\.dev\.source\.url: expected an https:\/\/ environment URL/);
    expect(() => loadEnvironment(write({ environments: { dev: { source: 'm.xml', out: 'o' } } }))).toThrow(/environments\.dev\.source: expected \{ "url": "https:\/\/<environment>" \} or \{ "metadata": "<file>" \}/);
    expect(() => loadEnvironment(write({ environments: { dev: { source: { metadata: 'm.xml' } } } }))).toThrow(/environments\.dev\.out: /);
    expect(() => loadEnvironment(write({ environments: { dev: { source: { metadata: 'm.xml' }, out: 'o', entites: ['account'] } } }))).toThrow(/environments\.dev: Unrecognized key: "entites"/);
    expect(() => loadEnvironment(write({ environments: { dev: { source: { metadata: 'm.xml' }, out: 'o', options: { apiVersion: '9' } } } }))).toThrow(/environments\.dev\.options\.apiVersion/);
    expect(() => loadEnvironment(write({ environments: {} }))).toThrow(/environments: expected at least one environment/);
    expect(() => loadEnvironment(write('{ nope'))).toThrow(/is not valid JSON/);
    expect(() => loadEnvironment(path.join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json \(ENOENT\)/);
  });

  it('resolves paths against the config file and picks the only environment', () => {
    const env = loadEnvironment(write({ environments: { dev: { source: { metadata: 'm.xml' }, out: 'o', optionSets: 'os.json' } } }));
    expect(env).toEqual({ name: 'dev', metadata: path.join(dir, 'm.xml'), out: path.join(dir, 'o'), optionSets: path.join(dir, 'os.json') });
  });
});

describe('generate() options', () => {
  it('requires exactly one source', async () => {
    await expect(generate({ out: dir })).rejects.toThrow(/source: give exactly one of metadata .* or url/);
    await expect(generate({ metadata: SMALL, url: 'https://x.example', out: dir })).rejects.toThrow(CodegenError);
    await expect(generate({ url: 'http://x.example', out: dir })).rejects.toThrow(/url: expected https:\/\//);
    await expect(generate({ url: 'https://user:pw@x.example', out: dir })).rejects.toThrow(/url: must not contain credentials/);
  });

  it('says what is wrong, as a CodegenError, for a CA file that cannot be read and a token provider that hands out no token', async () => {
    const config = path.join(dir, 'ca-config.json');
    fs.writeFileSync(config, JSON.stringify({ environments: { dev: { source: { metadata: SMALL }, out: 'o', options: { caFile: 'missing-ca.pem' } } } }));
    const unreadable = await generate({ config, write: false }).catch((e: unknown) => e);
    expect(unreadable).toBeInstanceOf(CodegenError);
    expect({ code: (unreadable as CodegenError).code, message: (unreadable as Error).message }).toEqual({ code: 'invalid_config', message: expect.stringMatching(/options\.caFile: cannot read .*missing-ca\.pem \(ENOENT\)/) });
    const noToken = await generate({ url: 'https://127.0.0.1:9', auth: { getToken: async () => null as unknown as { token: string } }, write: false }).catch((e: unknown) => e);
    expect(noToken).toBeInstanceOf(CodegenError);
    expect({ code: (noToken as CodegenError).code, message: (noToken as Error).message }).toEqual({ code: 'invalid_option', message: 'auth: getToken() resolved without a token (expected { token: string })' });
  });
});

describe('option sets', () => {
  it('reads the real RetrieveMetadataChanges responses: picklists, state/status, booleans, multi-select', () => {
    const catalog = readOptionSets([
      JSON.parse(fs.readFileSync(path.join(REAL, 'retrievemetadatachanges-account.json'), 'utf8')),
      JSON.parse(fs.readFileSync(path.join(REAL, 'retrievemetadatachanges-opportunity.json'), 'utf8')),
    ]);
    const account = catalog.get('account')!;
    expect(account.get('accountcategorycode')).toMatchObject({
      kind: 'picklist',
      schemaName: 'AccountCategoryCode',
      optionSetName: 'account_accountcategorycode',
      options: [
        { value: 1, label: 'Preferred Customer' },
        { value: 2, label: 'Standard' },
      ],
    });
    expect(account.get('statecode')!.kind).toBe('state');
    expect(account.get('statuscode')!.kind).toBe('status');
    expect(account.get('creditonhold')).toMatchObject({ kind: 'boolean', options: [{ value: 0 }, { value: 1, label: 'Yes' }] });
    expect(account.get('cdsify_multiselect')!.kind).toBe('multiselect');
    expect([...account.values()].filter((c) => c.kind === 'picklist').length).toBe(20);
    expect(catalog.get('opportunity')!.size).toBeGreaterThan(15);
  });

  it('picks labels by language code, falling back to the user label', () => {
    const catalog = readOptionSets(JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/small/option-sets.json'), 'utf8')), { languageCode: 1036 });
    expect(catalog.get('account')!.get('accountcategorycode')!.options).toEqual([
      { value: 1, label: 'Client privilégié' },
      { value: 2, label: 'Standard' },
    ]);
  });

  it('rejects other JSON with the path at fault', () => {
    expect(() => readOptionSets({ EntityMetadata: [{ Attributes: [] }] }, { source: 'os.json' })).toThrow(/option sets \(os\.json\): .* at EntityMetadata\.0\.LogicalName/);
    expect(() => readOptionSets({ value: [{ LogicalName: 'account', Attributes: [{ LogicalName: 'x', OptionSet: { Options: [{ Value: 'one' }] } }] }] })).toThrow(/at value\.0\.Attributes\.0\.OptionSet\.Options\.0\.Value/);
  });
});
