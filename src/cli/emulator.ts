/**
 * `dynamics-odata emulator`: runs the local Entra ID + Dataverse Web API until interrupted, and prints
 * the `DYNAMICS_*` variables an application needs (stdout holds only `KEY=VALUE` lines, so the output
 * can be sourced or saved as a `.env` file; status messages go to stderr).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmulator, type RefreshTokenReuse } from '../emulator';

const USAGE = `usage: dynamics-odata emulator [options]

Starts a local Entra ID + Dataverse Web API over HTTPS on 127.0.0.1 and prints the
DYNAMICS_* variables that point an application at it (DYNAMICS_ENABLED=true among them,
which the drop-in DynamicsService needs). Stops on Ctrl+C (SIGINT) or SIGTERM.

options:
  --port N          port on 127.0.0.1 (default: 0, a free port)
  --metadata FILE   CSDL $metadata document to serve (default: the built-in core schema)
  --seed N          create N deterministic accounts and contacts (default: 0)
  --data FILE       persist the in-memory store to this JSON file across restarts
  --ca-file PATH    where to write the CA certificate (default: <tmpdir>/dynamics-odata-emulator-<port>-ca.pem)
  --latency MS      network latency added to every Web API answer (default: 0)
  --operation-time MS
                    server time per operation: a $batch costs the sum of its parts, a bulk message
                    (CreateMultiple, ...) 491/9,200 of it per record, as Microsoft measured (default: 0)
  --refresh-token-reuse allow|reject
                    reject (default): a refresh token works once, stricter than Entra, to catch clients
                    that keep using a stale one; allow: it stays valid after use, as Entra documents
  -h, --help        show this help
`;

/** A command-line mistake: reported with the usage, exit code 2. */
class UsageError extends Error {}

function integerFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got '${value}'`);
  }
  return Number(value);
}

interface ParsedFlags {
  help: boolean;
  port?: number;
  metadata?: string;
  seed?: number;
  latencyInMs?: number;
  operationTimeInMs?: number;
  data?: string;
  caFile?: string;
  refreshTokenReuse?: RefreshTokenReuse;
}

function parseFlags(argv: string[]): ParsedFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        metadata: { type: 'string' },
        seed: { type: 'string' },
        latency: { type: 'string' },
        'operation-time': { type: 'string' },
        data: { type: 'string' },
        'ca-file': { type: 'string' },
        'refresh-token-reuse': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const metadata = values.metadata;
  if (metadata !== undefined && !existsSync(metadata)) throw new UsageError(`--metadata: no such file '${metadata}'`);
  const reuse = values['refresh-token-reuse'];
  if (reuse !== undefined && reuse !== 'allow' && reuse !== 'reject') throw new UsageError(`--refresh-token-reuse must be 'allow' or 'reject', got '${reuse}'`);
  const data = values.data;
  if (data !== undefined && !existsSync(dirname(resolve(data)))) throw new UsageError(`--data: the directory of '${data}' does not exist`);
  return {
    help: values.help === true,
    port: integerFlag('port', values.port, 0, 65535),
    seed: integerFlag('seed', values.seed, 0, 10_000_000),
    latencyInMs: integerFlag('latency', values.latency, 0, 60_000),
    operationTimeInMs: integerFlag('operation-time', values['operation-time'], 0, 60_000),
    ...(metadata !== undefined ? { metadata: resolve(metadata) } : {}),
    ...(data !== undefined ? { data: resolve(data) } : {}),
    ...(values['ca-file'] !== undefined ? { caFile: resolve(values['ca-file']) } : {}),
    ...(reuse !== undefined ? { refreshTokenReuse: reuse } : {}),
  };
}

/** Resolves when the process receives SIGINT or SIGTERM. */
function interrupted(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolveSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function run(argv: string[]): Promise<number> {
  let flags: ParsedFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`dynamics-odata emulator: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = performance.now();
  const signal = interrupted();
  const emulator = await startEmulator({
    ...(flags.port !== undefined ? { port: flags.port } : {}),
    ...(flags.metadata !== undefined ? { metadata: flags.metadata } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
    ...(flags.latencyInMs !== undefined ? { latencyInMs: flags.latencyInMs } : {}),
    ...(flags.operationTimeInMs !== undefined ? { operationTimeInMs: flags.operationTimeInMs } : {}),
    ...(flags.data !== undefined ? { dataFile: flags.data } : {}),
    ...(flags.refreshTokenReuse !== undefined ? { refreshTokenReuse: flags.refreshTokenReuse } : {}),
  });
  const caFile = flags.caFile ?? join(tmpdir(), `dynamics-odata-emulator-${emulator.port}-ca.pem`);
  try {
    mkdirSync(dirname(caFile), { recursive: true });
    writeFileSync(caFile, emulator.caPem);
  } catch (err) {
    await emulator.close();
    process.stderr.write(`dynamics-odata emulator: cannot write the CA certificate to '${caFile}': ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const lines = Object.entries(emulator.env(caFile)).map(([k, v]) => `${k}=${v}`);
  process.stdout.write(lines.join('\n') + '\n');
  process.stderr.write(
    `dynamics-odata emulator: ready in ${Math.round(performance.now() - started)} ms at ${emulator.url} ` +
      `(Web API ${emulator.apiUrl}); trust ${caFile} (e.g. NODE_EXTRA_CA_CERTS). Ctrl+C to stop.\n`,
  );
  const received = await signal;
  process.stderr.write(`dynamics-odata emulator: ${received} received, stopping\n`);
  await emulator.close();
  // A CA written to the default temporary path is of no use once the emulator is gone.
  if (flags.caFile === undefined) rmSync(caFile, { force: true });
  return 0;
}
