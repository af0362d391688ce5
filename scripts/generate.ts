/**
 * `npm run generate`: regenerates `generated/` from the emulator's default schema
 * (`src/emulator/schema/default-metadata.ts`), with the real option sets of account and
 * opportunity from `../shared/fixtures/real/`. `test/codegen/generated-up-to-date.test.ts` fails
 * when the committed folder differs from what this produces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GenerateOptions } from '../src/codegen';
import { generate } from '../src/codegen';
import { DEFAULT_METADATA_XML } from '../src/emulator/schema/default-metadata';

const repoRoot = path.resolve(__dirname, '..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/real');

/** The options `npm run generate` uses (shared with the up-to-date test). */
export function defaultGenerateOptions(): GenerateOptions {
  const optionSets = ['retrievemetadatachanges-account.json', 'retrievemetadatachanges-opportunity.json'].map(
    (f) => JSON.parse(fs.readFileSync(path.join(fixtures, f), 'utf8')) as object,
  );
  return {
    metadata: DEFAULT_METADATA_XML,
    sourceLabel: 'dynamics-odata emulator default schema (src/emulator/schema/default-metadata.ts)',
    optionSets,
    optionSetsLabel: 'retrievemetadatachanges-account.json + retrievemetadatachanges-opportunity.json (../shared/fixtures/real)',
    out: path.join(repoRoot, 'generated'),
  };
}

async function main(): Promise<void> {
  const result = await generate(defaultGenerateOptions());
  process.stdout.write(
    `generated/: ${result.files.length} files (${result.entityTypes} tables), ${result.written.length} written, ${result.removed.length} removed\n`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
