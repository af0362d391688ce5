/**
 * Bounds on nesting, so that no request can exhaust the stack of a recursive parser or evaluator (a
 * `$filter` nested 2,000 levels deep used to answer 500 "Maximum call stack size exceeded"). Dataverse
 * runs ODataLib, which bounds the same things: its URI parsers stop at a recursion limit
 * (`ODataUriParserSettings`, 800 recursive steps, several per level of parentheses, with "The recursion
 * limit has been exceeded.") and its payload reader at `MessageQuotas.MaxNestingDepth` (100).
 *
 * A parser takes a {@link NestingGuard} and enters it once per level it recurses into; a future parser
 * (FetchXML's nested `filter` and `link-entity`) takes one with its own error.
 */
import { DataverseHttpError, dvErrors } from '../errors';

/** Levels of nesting a query option may have: parentheses, `not`, function calls, nested `$expand`. */
export const MAX_QUERY_NESTING = 100;

/** Levels of nesting a JSON request body may have (objects and arrays), as ODataLib's MaxNestingDepth. */
export const MAX_BODY_NESTING = 100;

/**
 * Counts the levels a recursive parser is in and fails past its limit.
 *
 * @example
 * const guard = queryNesting();
 * const parsePrimary = () => guard.within(() => parseExpression());
 */
export class NestingGuard {
  private depth = 0;

  constructor(
    /** Deepest level allowed. */
    readonly limit: number,
    /** The error a request nested deeper gets. */
    private readonly tooDeep: (limit: number) => DataverseHttpError,
  ) {}

  /** Goes one level deeper; throws the guard's error past the limit. Pair with {@link leave}. */
  enter(): void {
    this.depth += 1;
    if (this.depth > this.limit) {
      this.depth -= 1;
      throw this.tooDeep(this.limit);
    }
  }

  leave(): void {
    this.depth -= 1;
  }

  /** Runs `f` one level deeper. */
  within<T>(f: () => T): T {
    this.enter();
    try {
      return f();
    } finally {
      this.leave();
    }
  }
}

/** A guard for the query options' parsers, failing with ODataLib's 400. */
export function queryNesting(): NestingGuard {
  return new NestingGuard(MAX_QUERY_NESTING, () => dvErrors.recursionLimit());
}

/**
 * Whether a parsed JSON value nests objects and arrays deeper than `limit` (`{}` and `[]` are one
 * level). Walks without recursion, so the check itself cannot overflow.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}
