import { DynamicsError, ErrorCode } from '../errors';
import { clip, MAX_QUOTED_CHARS, quote as quoteValue } from '../net/excerpt';

/** Values of an object argument read to quote it; past this it is described instead (see {@link quote}). */
const QUOTED_VALUES = 200;
const TOO_LARGE = Symbol('too large to quote');

/**
 * A short description of a value: never the whole of a large or cyclic object.
 *
 * @example describe([1, 2]) // '[1,2]'; describe(new Array(9)) // 'an array of 9 items'
 */
export function describe(value: unknown): string {
  if (Array.isArray(value)) {
    // A short list of literals reads best as itself; anything else by its size.
    if (value.length <= 5 && value.every((item) => item === null || ['string', 'number', 'boolean'].includes(typeof item))) return quote(value);
    return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as object).constructor?.name;
      return `an instance of ${typeof name === 'string' && name !== '' ? name.slice(0, 40) : 'a class'}`;
    }
    const keys = Object.keys(value);
    if (keys.length === 0) return '{}';
    const shown = keys.slice(0, 5).map((k) => quoteValue(k, 40)).join(', ');
    return `an object with the key${keys.length === 1 ? '' : 's'} ${shown}${keys.length > 5 ? ', …' : ''}`;
  }
  return quote(value);
}

/**
 * Quotes a caller's value for an error message, shortened: strings and small objects as JSON. An
 * object is read only up to {@link QUOTED_VALUES} values: a huge argument, or a small one whose shared
 * sub-objects make its JSON exponentially long, is described instead of being written out.
 */
export function quote(value: unknown, max: number = MAX_QUOTED_CHARS): string {
  if (value === null || typeof value !== 'object') return quoteValue(value, max);
  let read = 0;
  try {
    const text = JSON.stringify(value, (_key, item: unknown) => {
      read += 1;
      if (read > QUOTED_VALUES) throw TOO_LARGE;
      return item;
    });
    return clip(text ?? String(value), max);
  } catch {
    // Too large, a cycle, a BigInt, or a getter or toJSON that throws.
    return describe(value);
  }
}

/** A bad argument: nothing was sent. The message names the argument and what was expected. */
export function invalidArgument(argument: string, expected: string, ...got: [] | [unknown]): DynamicsError {
  return new DynamicsError(`${argument}: expected ${expected}${got.length > 0 ? `, got ${quote(got[0])}` : ''}`, {
    code: ErrorCode.invalidArgument,
  });
}

/** A response we could not understand: never a crash, always this. */
export function malformedResponse(message: string, options: { status?: number; cause?: unknown } = {}): DynamicsError {
  return new DynamicsError(message, { code: ErrorCode.malformedResponse, status: options.status, cause: options.cause });
}
