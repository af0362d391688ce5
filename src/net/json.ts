/**
 * Caller data written as a JSON request body. `JSON.stringify` throws a bare TypeError for a
 * BigInt or a cycle (and whatever a `toJSON` or a getter throws); this turns every such failure into
 * a `DynamicsError` `invalid_argument` naming the argument and, when it can be found, the path of
 * the value that cannot be written.
 */
import { DynamicsError, ErrorCode } from '../errors';
import { clip, quote } from './excerpt';

/** Values the search for the culprit looks at before it gives up (it only runs after a failure). */
const SEARCH_BUDGET = 100_000;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${quote(key, 40)}]`;
}

/** Why `value` cannot be written as JSON, with the path of the culprit; undefined when none is found. */
function findCulprit(root: unknown, argument: string): string | undefined {
  // Iterative depth-first walk: a value nested deeper than the call stack is exactly what may have failed.
  type Frame = { value: unknown; path: string; exit?: object };
  const stack: Frame[] = [{ value: root, path: argument }];
  const open = new Map<object, string>();
  let budget = SEARCH_BUDGET;
  while (stack.length > 0 && budget-- > 0) {
    const frame = stack.pop() as Frame;
    if (frame.exit !== undefined) {
      open.delete(frame.exit);
      continue;
    }
    let value = frame.value;
    if (value !== null && (typeof value === 'object' || typeof value === 'bigint')) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        try {
          value = toJSON.call(value) as unknown;
        } catch {
          return `${frame.path}.toJSON() threw`;
        }
      }
    }
    if (typeof value === 'bigint') return `${frame.path} is a BigInt (send it as a string, or as a number when it is below 2^53)`;
    if (value === null || typeof value !== 'object') continue;
    const seen = open.get(value);
    if (seen !== undefined) return `${frame.path} refers back to ${seen} (a cycle cannot be sent as JSON)`;
    open.set(value, frame.path);
    stack.push({ value: undefined, path: frame.path, exit: value });
    const keys: Array<string | number> = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      let child: unknown;
      try {
        child = (value as Record<string | number, unknown>)[key];
      } catch {
        return `reading ${childPath(frame.path, key)} threw`;
      }
      stack.push({ value: child, path: childPath(frame.path, key) });
    }
  }
  return undefined;
}

/**
 * `JSON.stringify(value)` for a request body.
 *
 * @param argument - what the error names, e.g. `'record'` or `'operations[2].body'`.
 * @throws DynamicsError `invalid_argument` when `value` cannot be written as JSON (a BigInt, a cycle,
 *   a throwing `toJSON` or getter, nesting deeper than the stack) or writes nothing (a function, a symbol, undefined).
 * @example serializeJson({ revenue: 10n }, 'record')
 *   // throws: record: expected a JSON-serialisable value, but record.revenue is a BigInt (…)
 */
export function serializeJson(value: unknown, argument: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    let culprit: string | undefined;
    try {
      culprit = findCulprit(value, argument);
    } catch {
      culprit = undefined;
    }
    const reason = culprit !== undefined ? `, but ${culprit}` : ` (${clip(cause instanceof Error ? cause.message : String(cause), 200)})`;
    throw new DynamicsError(`${argument}: expected a JSON-serialisable value${reason}`, { code: ErrorCode.invalidArgument, cause });
  }
  if (text === undefined) {
    throw new DynamicsError(`${argument}: expected a JSON-serialisable value, got ${typeof value === 'function' ? 'a function' : typeof value === 'symbol' ? 'a symbol' : quote(value)}`, {
      code: ErrorCode.invalidArgument,
    });
  }
  return text;
}
