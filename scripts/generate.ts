/**
 * `npm run generate`: regenerates the committed generator output from the emulator's default schema
 * (`src/emulator/schema/default-metadata.ts`) with its embedded real option sets
 * (`src/emulator/schema/default-optionsets.ts`), exactly as the emulator serves them from
 * `EntityDefinitions`:
 *
 * - `generated/`: every table;
 * - `src/cli/demo/models/`: the tables the demo tour uses (account, contact). The tour ships in the
 *   package (`dynamics-odata demo`), so its models must compile inside `src/` into `dist/`; they are
 *   written here by the generator rather than copied from `generated/`.
 *
 * Generating live from a running emulator gives byte-identical files (the demo checks that); this
 * reads the embedded data directly so both folders regenerate in well under a second with no server,
 * token or port. `test/codegen/generated-up-to-date.test.ts` fails when a committed folder differs
 * from what this produces.
 */
import * as path from 'node:path';
import type { GenerateOptions } from '../src/codegen';
import { generate } from '../src/codegen';
import { loadModel } from '../src/csdl';
import { MetadataApi } from '../src/emulator/dataverse/metadata';
import { buildSchema } from '../src/emulator/dataverse/schema';
import { stableGuid } from '../src/emulator/ids';
import { DEFAULT_METADATA_XML } from '../src/emulator/schema/default-metadata';
import { DEFAULT_OPTION_SETS, DEFAULT_OPTION_SETS_LABEL } from '../src/emulator/schema/default-optionsets';

const repoRoot = path.resolve(__dirname, '..');

/** Label of the default schema in generated file headers (the demo uses the same). */
export const DEFAULT_SOURCE_LABEL = 'dynamics-odata emulator default schema (src/emulator/schema/default-metadata.ts)';

/** The tables the demo tour types against (`src/cli/demo/models/`). */
export const DEMO_MODEL_TABLES: readonly string[] = ['account', 'contact'];

/** The embedded option sets in `EntityDefinitions` shape, rendered by the emulator's own metadata API. */
export function defaultOptionSets(): object[] {
  return new MetadataApi(buildSchema(loadModel(DEFAULT_METADATA_XML)), DEFAULT_OPTION_SETS, stableGuid).entityDefinitions();
}

/** The options `npm run generate` uses for `generated/` (shared with the up-to-date test). */
export function defaultGenerateOptions(): GenerateOptions {
  return {
    metadata: DEFAULT_METADATA_XML,
    sourceLabel: DEFAULT_SOURCE_LABEL,
    optionSets: defaultOptionSets(),
    optionSetsLabel: DEFAULT_OPTION_SETS_LABEL,
    out: path.join(repoRoot, 'generated'),
  };
}

/** Every folder `npm run generate` writes, with the options for each (the up-to-date test checks them all). */
export function generateTargets(): { folder: string; options: GenerateOptions }[] {
  const all = defaultGenerateOptions();
  return [
    { folder: 'generated', options: all },
    { folder: 'src/cli/demo/models', options: { ...all, entities: [...DEMO_MODEL_TABLES], out: path.join(repoRoot, 'src/cli/demo/models') } },
  ];
}

async function main(): Promise<void> {
  for (const { folder, options } of generateTargets()) {
    const result = await generate(options);
    process.stdout.write(`${folder}/: ${result.files.length} files (${result.entityTypes} tables), ${result.written.length} written, ${result.removed.length} removed\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
