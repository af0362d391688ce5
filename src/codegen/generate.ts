/**
 * `generate(options)`: read `$metadata` (a file, XML text, or live from an environment), model it,
 * emit TypeScript, and write the folder.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EntityTypeModel, ServiceModel } from '../csdl';
import type { Logger } from '../logger';
import { loadEnvironment } from './config';
import { loadModel } from './csdl';
import { parseJson } from '../net/body';
import { DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_LIMIT, describeFailure, download, type DownloadProgress } from './download';
import { GENERATED_MARKER, emit, type SourceInfo } from './emit';
import { CodegenError } from './errors';
import { canonicalCatalog, readOptionSets, type OptionSetCatalog } from './optionsets';

/** CA certificates to trust, as Node's `tls` takes them. */
export type CaCertificates = string | Buffer | Array<string | Buffer>;

/**
 * What {@link GenerateOptions.auth} must offer: `getToken()` resolving to a bearer token for the
 * environment. `MsalTokenProvider`, `fromTokenCredential(...)` and any `TokenProvider` fit. Declared
 * here, structurally, so that the generator never loads the client's authentication code.
 */
export interface GenerateTokenProvider {
  getToken(): Promise<{ token: string }>;
}

/**
 * How live generation authenticates when no `auth` is given: a token for `resource` (and the CA to
 * trust, when the variables name one) from environment variables. The `dynamics-odata/codegen` entry
 * point and the CLI supply one that reads the `DYNAMICS_*`/`AZURE_*` variables with the client's
 * MSAL provider; the generator itself only calls it.
 */
export type EnvironmentTokenSource = (env: Record<string, string | undefined>, resource: string) => Promise<{ token: string; ca?: CaCertificates }>;

/** Options of {@link generate}. Give exactly one source: `metadata`, `url`, or a `config` environment. */
export interface GenerateOptions {
  /** A `$metadata` file path, or the CSDL XML itself (text starting with `<`). */
  metadata?: string;
  /** Environment URL (`https://contoso.crm4.dynamics.com`): downloads `<url>/api/data/v<apiVersion>/$metadata`. */
  url?: string;
  /**
   * Token provider for `url` (e.g. `MsalTokenProvider`). Default: one built by `loadAuthConfig(env)`
   * from the same `DYNAMICS_*`/`AZURE_*` variables the client uses, with `resource` defaulting to `url`.
   */
  auth?: GenerateTokenProvider;
  /** Environment variables for the default `auth`. Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /** Output folder; created if missing. Generated files no longer produced are removed; other files are left alone. */
  out?: string;
  /** Tables to generate, by logical name (`account`) or entity set (`accounts`). Default: all. */
  entities?: string[];
  /** Option-set metadata: a JSON file path, or the parsed JSON (`RetrieveMetadataChanges` or `EntityDefinitions` response). */
  optionSets?: string | object;
  /**
   * Name of the option-set source in file headers. Default: the file's base name, `option sets (object)`,
   * or `<api root>/EntityDefinitions` when downloaded. (The hash next to it is of the option sets as
   * read, so the same option sets from a file, an object or a download give the same headers.)
   */
  optionSetsLabel?: string;
  /** Live only: download option sets of the selected `entities` (5 requests per table). Default: true when `entities` is given. */
  downloadOptionSets?: boolean;
  /** Web API version for `url`. Default: `'9.2'`. */
  apiVersion?: string;
  /** Label language for option sets (e.g. 1033). Default: the user's localized label. */
  languageCode?: number;
  /** PEM of CA certificates to trust for `url` (the emulator's). Default: `auth`'s `ca` from the environment, else Node's roots. */
  ca?: CaCertificates;
  /** A `dynamics-odata.config.json` to take the environment from; explicit options win over it. */
  config?: string;
  /** Environment name in `config`. Default: its `defaultEnvironment`, or its only environment. */
  environment?: string;
  /**
   * Live only: the largest response accepted, in bytes, raw and after decompression (a gzip or
   * brotli bomb fails at this size, without inflating further). Past it generation fails with
   * CodegenError `response_too_large`. Default: {@link DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES}
   * (134217728, 128 MiB; the largest real `$metadata` documents are tens of MB). At most
   * 536870888, the longest string JavaScript can hold.
   */
  maxResponseBytes?: number;
  /** Called as downloads progress (bytes). */
  onProgress?: (progress: DownloadProgress) => void;
  /** Where notes such as "option sets skipped" go. Default: none. */
  logger?: Logger;
  /** Name of the source in file headers. Default: the file's base name, the `$metadata` URL, or `inline $metadata`. */
  sourceLabel?: string;
  /** Write the files (default true); with false only the result is returned. */
  write?: boolean;
  /** Generator version in headers. Default: this package's version. */
  generatorVersion?: string;
}

/** What {@link generate} did. */
export interface GenerateResult {
  outDir?: string;
  /** Every file of the folder, relative paths, sorted. */
  files: { path: string; content: string }[];
  /** Files whose content changed (or that are new) and were written. */
  written: string[];
  /** Stale generated files removed. */
  removed: string[];
  entityTypes: number;
  source: SourceInfo;
  /** Human-readable notes (e.g. option sets skipped and why). */
  notes: string[];
  timingsInMs: { source: number; model: number; emit: number; write: number };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** This package's version, read from its package.json (found from src/ and dist/ alike). */
export function generatorVersion(): string {
  for (const candidate of [path.resolve(__dirname, '../../package.json'), path.resolve(__dirname, '../../../package.json')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dynamics-odata' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

/** Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      best = Math.min(best, cur[j]!);
    }
    if (best > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length]!;
}

/** Resolve `--entities` names to entity types; unknown names fail with suggestions. */
export function selectEntities(model: ServiceModel, names: string[]): Set<string> {
  const byName = new Map<string, EntityTypeModel>();
  const all = [...model.entityTypes.values()];
  for (const e of all) byName.set(e.name, e);
  for (const e of all) if (e.entitySetName !== undefined && !byName.has(e.entitySetName)) byName.set(e.entitySetName, e);
  const lower = new Map<string, EntityTypeModel>();
  for (const [k, e] of byName) if (!lower.has(k.toLowerCase())) lower.set(k.toLowerCase(), e);
  const out = new Set<string>();
  const unknown: string[] = [];
  for (const raw of names) {
    const n = raw.trim();
    if (!n) continue;
    const e = byName.get(n) ?? lower.get(n.toLowerCase());
    if (e) out.add(e.qualifiedName);
    else unknown.push(n);
  }
  if (unknown.length > 0) {
    const hints = unknown.map((u) => {
      const target = u.toLowerCase();
      const limit = Math.max(2, Math.floor(target.length / 4));
      const close = all
        .map((e) => ({ name: e.name, d: editDistance(target, e.name.toLowerCase(), limit) }))
        .filter((c) => c.d <= limit)
        .sort((a, b) => a.d - b.d || (a.name < b.name ? -1 : 1))
        .slice(0, 5)
        .map((c) => c.name);
      return `'${u}'${close.length > 0 ? ` (did you mean ${close.join(', ')}?)` : ''}`;
    });
    throw new CodegenError('invalid_option', `entities: no table named ${hints.join(', ')} in the $metadata (use logical names such as account, or entity sets such as accounts)`);
  }
  if (out.size === 0) throw new CodegenError('invalid_option', 'entities: expected at least one table name');
  return out;
}

async function tokenFor(options: GenerateOptions, url: string, fromEnvironment: EnvironmentTokenSource | undefined): Promise<{ token: string; ca?: CaCertificates }> {
  if (options.auth) {
    const result: unknown = await options.auth.getToken();
    const token = (result as { token?: unknown } | null | undefined)?.token;
    if (typeof token !== 'string' || token === '') throw new CodegenError('invalid_option', 'auth: getToken() resolved without a token (expected { token: string })');
    return { token };
  }
  if (!fromEnvironment) {
    throw new CodegenError('invalid_option', 'auth: live generation from url needs a token provider (auth), or the DYNAMICS_* variables through the dynamics-odata/codegen entry point');
  }
  return fromEnvironment(options.env ?? process.env, url);
}

const OPTION_SET_CASTS = [
  'PicklistAttributeMetadata',
  'MultiSelectPicklistAttributeMetadata',
  'StateAttributeMetadata',
  'StatusAttributeMetadata',
  'BooleanAttributeMetadata',
];

/** What every download of a run shares: the token's CA, the size limit, progress. */
function downloadOptions(auth: { ca?: CaCertificates }, options: GenerateOptions): { ca?: CaCertificates; maxResponseBytes: number; onProgress?: (progress: DownloadProgress) => void } {
  return {
    ...(auth.ca !== undefined ? { ca: auth.ca } : {}),
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_DOWNLOAD_MAX_RESPONSE_BYTES,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
}

/**
 * Option sets of each table from `EntityDefinitions(LogicalName='x')/Attributes/<cast>?$expand=OptionSet`
 * (query-metadata-web-api.md, "Retrieve attributes"). Returns undefined when the service does not
 * serve the metadata API (the emulator may not), after saying so.
 */
async function downloadOptionSets(
  apiRoot: string,
  entities: EntityTypeModel[],
  auth: { token: string; ca?: CaCertificates },
  options: GenerateOptions,
  notes: string[],
): Promise<unknown[] | undefined> {
  const results: unknown[] = [];
  for (const e of entities) {
    const attributes: unknown[] = [];
    for (const cast of OPTION_SET_CASTS) {
      const expand = cast === 'PicklistAttributeMetadata' || cast === 'MultiSelectPicklistAttributeMetadata' ? 'OptionSet,GlobalOptionSet' : 'OptionSet';
      const url = `${apiRoot}/EntityDefinitions(LogicalName='${encodeURIComponent(e.name)}')/Attributes/Microsoft.Dynamics.CRM.${cast}?$select=LogicalName,SchemaName,AttributeType&$expand=${expand}`;
      const res = await download(url, { token: auth.token, accept: 'application/json', what: `option sets of ${e.name}`, ...downloadOptions(auth, options) });
      if (res.status === 404 || res.status === 501 || (res.status === 400 && results.length === 0 && attributes.length === 0)) {
        notes.push(`option sets skipped: the service does not serve EntityDefinitions metadata (${describeFailure(res.status, res.body)}); pass --option-sets <file> to include them`);
        return undefined;
      }
      if (res.status !== 200) throw new CodegenError('download_failed', `option sets of ${e.name}: GET EntityDefinitions answered ${describeFailure(res.status, res.body)}`);
      const parsed = parseJson(res.body);
      const value = parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? (parsed.value as { value?: unknown }).value : undefined;
      if (!Array.isArray(value)) throw new CodegenError('download_failed', `option sets of ${e.name}: GET EntityDefinitions answered 200 with a body that is not a JSON collection (${describeFailure(res.status, res.body)})`);
      for (const a of value) {
        // The cast path does not echo AttributeType for every server version; the cast says it.
        if (a && typeof a === 'object') attributes.push({ AttributeType: cast.replace('AttributeMetadata', '').replace('MultiSelectPicklist', 'Virtual'), ...(a as object), ...(cast.startsWith('MultiSelect') ? { AttributeTypeName: { Value: 'MultiSelectPicklistType' } } : {}) });
      }
    }
    results.push({ LogicalName: e.name, Attributes: attributes });
  }
  return results;
}

/**
 * {@link generate} with its environment-variable authentication passed in: what the
 * `dynamics-odata/codegen` entry point and the CLI call. Without `fromEnvironment`, live generation
 * needs `options.auth`.
 *
 * @throws CodegenError naming the option at fault (`invalid_option`, `invalid_config`, `invalid_csdl`, `unsupported_csdl`, `download_failed`, `response_too_large`, `invalid_option_sets`).
 */
export async function generateWith(options: GenerateOptions, fromEnvironment?: EnvironmentTokenSource): Promise<GenerateResult> {
  const opts: GenerateOptions = { ...options };
  if (opts.config !== undefined) {
    const env = loadEnvironment(opts.config, opts.environment);
    if (opts.metadata === undefined && opts.url === undefined) {
      if (env.url !== undefined) opts.url = env.url;
      if (env.metadata !== undefined) opts.metadata = env.metadata;
    }
    opts.out ??= env.out;
    if (env.entities) opts.entities ??= env.entities;
    if (env.optionSets) opts.optionSets ??= env.optionSets;
    if (env.apiVersion) opts.apiVersion ??= env.apiVersion;
    if (env.languageCode !== undefined) opts.languageCode ??= env.languageCode;
    if (env.downloadOptionSets !== undefined) opts.downloadOptionSets ??= env.downloadOptionSets;
    if (env.caFile !== undefined && opts.ca === undefined) {
      try {
        opts.ca = fs.readFileSync(env.caFile, 'utf8');
      } catch (err) {
        throw new CodegenError('invalid_config', `options.caFile: cannot read ${env.caFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
      }
    }
    if (env.maxResponseBytes !== undefined) opts.maxResponseBytes ??= env.maxResponseBytes;
  }
  if (opts.maxResponseBytes !== undefined && !(Number.isSafeInteger(opts.maxResponseBytes) && opts.maxResponseBytes >= 1 && opts.maxResponseBytes <= MAX_RESPONSE_BYTES_LIMIT)) {
    throw new CodegenError('invalid_option', `maxResponseBytes: expected a whole number of bytes from 1 to ${MAX_RESPONSE_BYTES_LIMIT}`);
  }
  if ((opts.metadata === undefined) === (opts.url === undefined)) {
    throw new CodegenError('invalid_option', 'source: give exactly one of metadata (a $metadata file) or url (an environment URL)');
  }
  const write = opts.write ?? true;
  if (write && (typeof opts.out !== 'string' || opts.out.length === 0)) throw new CodegenError('invalid_option', 'out: expected the output folder');
  const notes: string[] = [];
  const t0 = performance.now();

  let xml: string;
  let label: string;
  let live: { apiRoot: string; auth: { token: string; ca?: CaCertificates } } | undefined;
  if (opts.metadata !== undefined) {
    if (opts.metadata.trimStart().startsWith('<')) {
      xml = opts.metadata;
      label = opts.sourceLabel ?? 'inline $metadata';
    } else {
      try {
        xml = fs.readFileSync(opts.metadata, 'utf8');
      } catch (err) {
        throw new CodegenError('invalid_option', `metadata: cannot read ${opts.metadata} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
      }
      label = opts.sourceLabel ?? path.basename(opts.metadata);
    }
  } else {
    let base: URL;
    try {
      base = new URL(opts.url!);
    } catch {
      throw new CodegenError('invalid_option', `url: expected an environment URL such as https://contoso.crm4.dynamics.com, got '${opts.url}'`);
    }
    if (base.protocol !== 'https:') throw new CodegenError('invalid_option', `url: expected https://, got ${base.protocol}//`);
    if (base.username || base.password) throw new CodegenError('invalid_option', 'url: must not contain credentials; authenticate with auth or the DYNAMICS_* variables');
    const apiVersion = opts.apiVersion ?? '9.2';
    const apiRoot = `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/data/v${apiVersion}`;
    const auth = await tokenFor(opts, base.origin, fromEnvironment);
    if (opts.ca !== undefined) auth.ca = opts.ca;
    const metadataUrl = `${apiRoot}/$metadata`;
    const res = await download(metadataUrl, { token: auth.token, accept: 'application/xml', what: '$metadata', ...downloadOptions(auth, opts) });
    if (res.status !== 200) throw new CodegenError('download_failed', `GET ${metadataUrl} answered ${describeFailure(res.status, res.body)}`);
    xml = res.body;
    label = opts.sourceLabel ?? metadataUrl;
    live = { apiRoot, auth };
  }
  const source: SourceInfo = { label, sha256: sha256(xml) };
  const t1 = performance.now();
  const model = loadModel(xml);
  const selected = opts.entities && opts.entities.length > 0 ? selectEntities(model, opts.entities) : undefined;
  const emittedEntities = [...model.entityTypes.values()].filter((e) => !selected || selected.has(e.qualifiedName));

  let optionSets: { catalog: OptionSetCatalog; source: SourceInfo } | undefined;
  if (opts.optionSets !== undefined) {
    let json: unknown = opts.optionSets;
    let osLabel = opts.optionSetsLabel ?? 'option sets (object)';
    if (typeof opts.optionSets === 'string') {
      try {
        json = JSON.parse(fs.readFileSync(opts.optionSets, 'utf8'));
      } catch (err) {
        throw new CodegenError('invalid_option_sets', `optionSets: cannot read ${opts.optionSets} as JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
      osLabel = opts.optionSetsLabel ?? path.basename(opts.optionSets);
    }
    const catalog = readOptionSets(json, { ...(opts.languageCode !== undefined ? { languageCode: opts.languageCode } : {}), source: osLabel });
    optionSets = { catalog, source: { label: osLabel, sha256: sha256(canonicalCatalog(catalog)) } };
  } else if (live && (opts.downloadOptionSets ?? selected !== undefined)) {
    const tables = emittedEntities.filter((e) => e.entitySetName !== undefined);
    const json = await downloadOptionSets(live.apiRoot, tables, live.auth, opts, notes);
    if (json) {
      const catalog = readOptionSets(json, { ...(opts.languageCode !== undefined ? { languageCode: opts.languageCode } : {}), source: 'EntityDefinitions' });
      optionSets = { catalog, source: { label: opts.optionSetsLabel ?? `${live.apiRoot}/EntityDefinitions`, sha256: sha256(canonicalCatalog(catalog)) } };
    }
  } else if (live) {
    notes.push('option sets not downloaded: choose tables with --entities (5 requests per table), or pass --option-sets <file>');
  }
  const t2 = performance.now();
  const files = emit(model, {
    source,
    ...(optionSets ? { optionSets } : {}),
    ...(selected ? { entityTypes: selected } : {}),
    generatorVersion: opts.generatorVersion ?? generatorVersion(),
  });
  const t3 = performance.now();

  const written: string[] = [];
  const removed: string[] = [];
  let outDir: string | undefined;
  if (write) {
    outDir = path.resolve(opts.out!);
    fs.mkdirSync(outDir, { recursive: true });
    const keep = new Set(files.map((f) => f.path));
    for (const name of fs.readdirSync(outDir)) {
      if (!name.endsWith('.ts') || keep.has(name)) continue;
      const full = path.join(outDir, name);
      // Only files this generator wrote; anything else in the folder is the user's.
      const head = fs.readFileSync(full, 'utf8').slice(0, GENERATED_MARKER.length);
      if (head === GENERATED_MARKER) {
        fs.unlinkSync(full);
        removed.push(name);
      }
    }
    for (const f of files) {
      // File names are derived from CSDL names (fileStem); none may leave the folder whatever the document says.
      if (path.basename(f.path) !== f.path || f.path.startsWith('.')) throw new CodegenError('invalid_csdl', `refusing to write ${JSON.stringify(f.path)} outside ${outDir}`);
      const full = path.join(outDir, f.path);
      let current: string | undefined;
      try {
        current = fs.readFileSync(full, 'utf8');
      } catch {
        current = undefined;
      }
      if (current === f.content) continue;
      fs.writeFileSync(full, f.content);
      written.push(f.path);
    }
  }
  const t4 = performance.now();
  for (const n of notes) opts.logger?.warn(n);
  const result: GenerateResult = {
    files,
    written,
    removed,
    entityTypes: emittedEntities.length,
    source,
    notes,
    timingsInMs: { source: t1 - t0, model: t2 - t1, emit: t3 - t2, write: t4 - t3 },
  };
  if (outDir !== undefined) result.outDir = outDir;
  return result;
}
