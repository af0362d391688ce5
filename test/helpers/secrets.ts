/**
 * Every way a library object ends up in a log, an error report or a debug dump: `util.inspect` at
 * any depth with hidden properties, `JSON.stringify`, `Object.entries`, spreading and
 * `structuredClone`. A secret must be reachable through none of them.
 */
import { inspect } from 'node:util';

/** The renderings of `value` a logger, an error reporter or a framework's debug dump could produce. */
export function renderings(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  out.inspect = inspect(value, { depth: Infinity, showHidden: true, maxArrayLength: Infinity, maxStringLength: Infinity });
  try {
    out.json = JSON.stringify(value) ?? '';
  } catch (error) {
    out.json = `(JSON.stringify threw ${(error as Error).name})`;
  }
  if (value !== null && typeof value === 'object') {
    out.entries = inspect(Object.entries(value), { depth: Infinity, showHidden: true, maxStringLength: Infinity });
    out.spread = inspect({ ...(value as object) }, { depth: Infinity, showHidden: true, maxStringLength: Infinity });
    try {
      out.structuredClone = inspect(structuredClone(value), { depth: Infinity, showHidden: true, maxStringLength: Infinity });
    } catch (error) {
      // Functions and class instances with methods cannot be cloned; nothing can leak that way.
      out.structuredClone = `(structuredClone threw ${(error as Error).name})`;
    }
  }
  return out;
}

/**
 * The `[what, rendering]` pairs in which any of `secrets` appears; `[]` when none does.
 * Secrets shorter than 8 characters are refused: they would match by accident.
 */
export function leaks(value: unknown, secrets: ReadonlyArray<string | undefined>): string[] {
  const wanted = secrets.filter((s): s is string => typeof s === 'string');
  for (const s of wanted) if (s.length < 8) throw new Error(`secret marker too short to search for: ${s.length} characters`);
  const found: string[] = [];
  for (const [how, text] of Object.entries(renderings(value))) {
    for (const secret of wanted) if (text.includes(secret)) found.push(`${how} contains ${secret.slice(0, 6)}…`);
  }
  return found;
}

/** A logger that records every line with its metadata, rendered as text. */
export function recordingLogger(): { lines: string[]; logger: { error: Log; warn: Log; info: Log; debug: Log } } {
  const lines: string[] = [];
  const log: Log = (message, meta) => {
    lines.push(`${message} ${meta === undefined ? '' : inspect(meta, { depth: Infinity, showHidden: true })}`);
  };
  return { lines, logger: { error: log, warn: log, info: log, debug: log } };
}

type Log = (message: string, meta?: Record<string, unknown>) => void;
