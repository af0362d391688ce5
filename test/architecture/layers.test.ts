/**
 * The layering of src/ (./rules.cjs), enforced: the repository passes, and the same rules catch
 * deliberate bad imports in a scratch tree (a lower layer importing a higher one, axios or MSAL
 * outside their layer, the emulator importing runtime client code).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const CRUISER = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const RULES = path.join(__dirname, 'rules.cjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

async function cruise(cwd: string): Promise<Violation[]> {
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, [CRUISER, '--config', RULES, '--output-type', 'json', 'src'], { cwd, maxBuffer: 64 * 1024 * 1024 }));
  } catch (error) {
    // dependency-cruiser exits non-zero when it finds violations; the JSON report is still on stdout.
    const e = error as { stdout?: string; stderr?: string };
    if (!e.stdout) throw new Error(`dependency-cruiser failed: ${e.stderr ?? String(error)}`);
    stdout = e.stdout;
  }
  const report = JSON.parse(stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  expect(report.summary.totalCruised).toBeGreaterThan(0);
  return report.summary.violations;
}

describe('layering', () => {
  it('src/ follows the layering rules', async () => {
    const violations = await cruise(ROOT);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  describe('the rules catch deliberate bad imports', () => {
    let dir: string;
    let found: string[];

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'dynamics-odata-layers-'));
      const files: Record<string, string> = {
        'src/client/DynamicsClient.ts': 'export class DynamicsClient {}\n',
        'src/errors/index.ts': 'export class DynamicsError extends Error {}\n',
        // a lower layer importing a higher one
        'src/http/pipeline.ts': "import { DynamicsClient } from '../client/DynamicsClient';\nexport const x = DynamicsClient;\n",
        // axios and MSAL outside their layers
        'src/odata/query.ts': "import axios from 'axios';\nexport const y = axios;\n",
        'src/client/auth.ts': "import { ConfidentialClientApplication } from '@azure/msal-node';\nexport const z = ConfidentialClientApplication;\n",
        // the emulator importing runtime client code
        'src/emulator/api.ts': "import { DynamicsClient } from '../client/DynamicsClient';\nexport const w = DynamicsClient;\n",
        // allowed: the client importing errors
        'src/client/ok.ts': "import { DynamicsError } from '../errors';\nexport const ok = DynamicsError;\n",
        'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true }, include: ['src'] }),
      };
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      }
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      found = (await cruise(dir)).map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*node_modules\//, 'node_modules/')}`);
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a lower layer importing a higher one', () => {
      expect(found).toContain('layer-http: src/http/pipeline.ts → src/client/DynamicsClient.ts');
    });

    it('axios outside src/http and MSAL outside src/auth', () => {
      expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^axios-only-in-http: src\/odata\/query\.ts → node_modules\/axios\//), expect.stringMatching(/^msal-only-in-auth: src\/client\/auth\.ts → .*@azure\/msal-node/)]));
    });

    it('the emulator importing runtime client code', () => {
      expect(found).toContain('layer-emulator: src/emulator/api.ts → src/client/DynamicsClient.ts');
    });

    it('and nothing that is allowed', () => {
      expect(found.filter((v) => v.includes('src/client/ok.ts'))).toEqual([]);
    });
  });
});
