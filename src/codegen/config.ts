/**
 * `dynamics-odata.config.json`: named environments (dev, test, prod), each with its own source,
 * output folder, entity selection and options.
 *
 * ```json
 * {
 *   "environments": {
 *     "dev":  { "source": { "url": "https://contoso-dev.crm4.dynamics.com" }, "out": "src/generated/dev", "entities": ["account", "contact"] },
 *     "prod": { "source": { "metadata": "metadata/prod.xml" }, "out": "src/generated/prod", "optionSets": "metadata/prod-option-sets.json" }
 *   },
 *   "defaultEnvironment": "dev"
 * }
 * ```
 * Relative paths are relative to the config file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { MAX_RESPONSE_BYTES_LIMIT } from './download';
import { CodegenError } from './errors';

const EnvironmentSchema = z.strictObject({
  source: z.union([z.strictObject({ url: z.url({ protocol: /^https$/, error: 'expected an https:// environment URL, e.g. https://contoso.crm4.dynamics.com' }) }), z.strictObject({ metadata: z.string().min(1) })], {
    error: 'expected { "url": "https://<environment>" } or { "metadata": "<file>" }',
  }),
  out: z.string().min(1),
  entities: z.array(z.string().min(1)).optional(),
  optionSets: z.string().min(1).optional(),
  options: z
    .strictObject({
      apiVersion: z.string().regex(/^\d+\.\d+$/).optional(),
      languageCode: z.number().int().positive().optional(),
      downloadOptionSets: z.boolean().optional(),
      caFile: z.string().min(1).optional(),
      maxResponseBytes: z.number().int().min(1).max(MAX_RESPONSE_BYTES_LIMIT).optional(),
    })
    .optional(),
});

const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  environments: z.record(z.string().min(1), EnvironmentSchema).refine((r) => Object.keys(r).length > 0, 'expected at least one environment'),
  defaultEnvironment: z.string().optional(),
});

/** One environment of the config file, paths resolved against the file's folder. */
export interface EnvironmentConfig {
  name: string;
  url?: string;
  metadata?: string;
  out: string;
  entities?: string[];
  optionSets?: string;
  apiVersion?: string;
  languageCode?: number;
  downloadOptionSets?: boolean;
  caFile?: string;
  maxResponseBytes?: number;
}

/**
 * Load one environment from a config file.
 *
 * @param file - path of `dynamics-odata.config.json`.
 * @param env - environment name; default: `defaultEnvironment`, or the only one.
 * @throws CodegenError `invalid_config` naming the file and field (`environments.dev.source`).
 */
export function loadEnvironment(file: string, env?: string): EnvironmentConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CodegenError('invalid_config', `config: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CodegenError('invalid_config', `config: ${file} is not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const parsed = ConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new CodegenError('invalid_config', `config: ${file} is invalid:\n  ${problems.join('\n  ')}`);
  }
  const names = Object.keys(parsed.data.environments);
  const chosen = env ?? parsed.data.defaultEnvironment ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) throw new CodegenError('invalid_config', `config: ${file} has several environments (${names.join(', ')}): choose one with --env <name> or set defaultEnvironment`);
  const e = parsed.data.environments[chosen];
  if (!e) throw new CodegenError('invalid_config', `config: ${file} has no environment '${chosen}' (it has ${names.join(', ')})`);
  const dir = path.dirname(path.resolve(file));
  const out: EnvironmentConfig = { name: chosen, out: path.resolve(dir, e.out) };
  if ('url' in e.source) out.url = e.source.url;
  else out.metadata = path.resolve(dir, e.source.metadata);
  if (e.entities) out.entities = e.entities;
  if (e.optionSets) out.optionSets = path.resolve(dir, e.optionSets);
  if (e.options?.apiVersion) out.apiVersion = e.options.apiVersion;
  if (e.options?.languageCode !== undefined) out.languageCode = e.options.languageCode;
  if (e.options?.downloadOptionSets !== undefined) out.downloadOptionSets = e.options.downloadOptionSets;
  if (e.options?.caFile) out.caFile = path.resolve(dir, e.options.caFile);
  if (e.options?.maxResponseBytes !== undefined) out.maxResponseBytes = e.options.maxResponseBytes;
  return out;
}
