/**
 * `dynamics-odata generate`: typed models from `$metadata`, a file or a live environment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
// The package entry, not codegen/generate: it is the composition root that gives `--url` its
// authentication from the DYNAMICS_* variables (the generator itself does not load src/auth).
import { CodegenError, generate, type DownloadProgress, type GenerateOptions } from '../codegen';

const USAGE = `usage: dynamics-odata generate (--url <environment> | --metadata <file>) --out <dir> [options]

  --url <environment>     download <environment>/api/data/v9.2/$metadata, authenticating with the
                          DYNAMICS_* / AZURE_* variables the client uses (see README)
  --metadata <file>       a saved $metadata document
  --out <dir>             output folder (generated files no longer produced are removed)
  --entities <a,b,...>    only these tables (logical names or entity sets); default: all
  --option-sets <file>    option-set metadata JSON (RetrieveMetadataChanges or EntityDefinitions response)
  --config <file>         environments file; default: ./dynamics-odata.config.json when present
  --env <name>            environment in the config file
  --api-version <x.y>     Web API version for --url; default 9.2
  --ca-file <pem>         CA certificate(s) to trust for --url (e.g. the emulator's)
  --language <code>       option-set label language, e.g. 1033
  --max-response-bytes <n>  largest download accepted for --url, raw and decompressed, in bytes
                          (or with KiB, MiB, GiB); default 128MiB
  --quiet                 print nothing but errors
  -h, --help              this help`;

function formatBytes(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} kB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function progressPrinter(stream: NodeJS.WriteStream): (p: DownloadProgress) => void {
  let lastPrinted = 0;
  return (p) => {
    const total = p.totalBytes !== undefined ? ` of ${formatBytes(p.totalBytes)}` : '';
    if (stream.isTTY) {
      stream.write(`\rdownloading ${p.what}: ${formatBytes(p.receivedBytes)}${total}${p.done ? ' done\n' : ''}`);
    } else if (p.done || p.receivedBytes - lastPrinted >= 1024 * 1024) {
      // Logs (CI) get a line per MB rather than a carriage-return animation.
      lastPrinted = p.receivedBytes;
      stream.write(`downloading ${p.what}: ${formatBytes(p.receivedBytes)}${total}${p.done ? ' done' : ''}\n`);
    }
  };
}

/** `268435456`, `256MiB`, `1GiB` → bytes; undefined for anything else (the range is checked by generate). */
function parseBytes(text: string): number | undefined {
  const m = /^(\d{1,15})\s*(KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'kib' | 'mib' | 'gib'] ?? 1;
  return Number(m[1]) * unit;
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        metadata: { type: 'string' },
        out: { type: 'string' },
        entities: { type: 'string' },
        'option-sets': { type: 'string' },
        config: { type: 'string' },
        env: { type: 'string' },
        'api-version': { type: 'string' },
        'ca-file': { type: 'string' },
        language: { type: 'string' },
        'max-response-bytes': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`dynamics-odata generate: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const quiet = values['quiet'] === true;
  const options: GenerateOptions = {};
  const usageError = (message: string): number => {
    process.stderr.write(`dynamics-odata generate: ${message}\n\n${USAGE}\n`);
    return 2;
  };

  if (str('url') !== undefined && str('metadata') !== undefined) return usageError('--url and --metadata are exclusive: give one source');
  if (str('url') !== undefined) options.url = str('url')!;
  if (str('metadata') !== undefined) options.metadata = path.resolve(str('metadata')!);
  const config = str('config') ?? (options.url === undefined && options.metadata === undefined && fs.existsSync('dynamics-odata.config.json') ? 'dynamics-odata.config.json' : undefined);
  if (config !== undefined) options.config = config;
  if (str('env') !== undefined) {
    if (config === undefined) return usageError('--env needs a config file (--config, or ./dynamics-odata.config.json)');
    options.environment = str('env')!;
  }
  if (options.url === undefined && options.metadata === undefined && config === undefined) return usageError('give a source: --url <environment>, --metadata <file>, or --config <file>');
  if (str('out') !== undefined) options.out = str('out')!;
  else if (config === undefined) return usageError('--out <dir> is required');
  if (str('entities') !== undefined) {
    const list = str('entities')!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (list.length === 0) return usageError('--entities: expected a comma-separated list of table names, e.g. account,contact');
    options.entities = list;
  }
  if (str('option-sets') !== undefined) options.optionSets = path.resolve(str('option-sets')!);
  if (str('api-version') !== undefined) {
    if (!/^\d+\.\d+$/.test(str('api-version')!)) return usageError(`--api-version: expected a version such as 9.2, got '${str('api-version')}'`);
    options.apiVersion = str('api-version')!;
  }
  if (str('language') !== undefined) {
    const code = Number(str('language'));
    if (!Number.isInteger(code) || code <= 0) return usageError(`--language: expected a language code such as 1033, got '${str('language')}'`);
    options.languageCode = code;
  }
  if (str('max-response-bytes') !== undefined) {
    const bytes = parseBytes(str('max-response-bytes')!);
    if (bytes === undefined) return usageError(`--max-response-bytes: expected a number of bytes such as 268435456 or 256MiB, got '${str('max-response-bytes')}'`);
    options.maxResponseBytes = bytes;
  }
  if (str('ca-file') !== undefined) {
    try {
      options.ca = fs.readFileSync(str('ca-file')!, 'utf8');
    } catch (err) {
      return usageError(`--ca-file: cannot read ${str('ca-file')} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (!quiet) options.onProgress = progressPrinter(process.stderr);

  try {
    const result = await generate(options);
    for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
    if (!quiet) {
      const t = result.timingsInMs;
      process.stdout.write(
        `generated ${result.files.length} files (${result.entityTypes} tables) in ${result.outDir} from ${result.source.label}: ` +
          `${result.written.length} written, ${result.removed.length} removed, ${result.files.length - result.written.length} unchanged ` +
          `(${Math.round(t.source + t.model + t.emit + t.write)} ms)\n`,
      );
    }
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`dynamics-odata generate: ${message}\n`);
    return err instanceof CodegenError && (err.code === 'invalid_option' || err.code === 'invalid_config') ? 2 : 1;
  }
}
