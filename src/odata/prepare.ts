/**
 * Checks of odata-query's object syntax (filter conditions, expands, order-by and select lists)
 * before odata-query sees it, returning the copy to hand to it.
 *
 * odata-query trusts its input, and this is what it does with input it does not expect:
 * - it copies object keys into the expression verbatim, so `{ "name eq 'x' or statecode": 0 }` injects;
 * - it drops empty lists and objects, so `{ or: [] }` and `{ statecode: 1, or: [] }` match every row;
 * - it writes a column's `or` list without parentheses (`(a) or (b) and c`), drops a column's `not`,
 *   and keeps only the last object of a lambda list: each changes what the query matches;
 * - it recurses without a bound (a stack overflow on deep or cyclic input), and writes a shared
 *   sub-object every time it occurs (exponential work for `o = { and: [o, o] }` repeated);
 * - it reads any object with a `type` key as a typed literal and writes its other keys verbatim, and
 *   writes `duration`/`binary` values between quotes without escaping them;
 * - it throws raw TypeErrors (`{ in: 'x' }`) and URIErrors (a lone surrogate in a string).
 *
 * Each is answered here: a DynamicsError `invalid_argument` naming the path of the offending part
 * (`query.filter.or[2].name`), or a rewrite into an equivalent form odata-query writes correctly.
 */
import { DynamicsError, ErrorCode } from '../errors';
import { describe, invalidArgument } from './fail';
import { normalizeGuid } from './keys';
import { isQueryFunction, queryFunctionText, takesColumnValues } from './queryFunctions';
import { MAX_BATCH_URL_LENGTH } from './url';

/**
 * Deepest nesting of objects and arrays accepted in one filter or expand. Real queries nest a handful
 * of levels; much deeper input overflows odata-query's stack (and a server's parser).
 */
export const MAX_QUERY_DEPTH = 100;

/**
 * Most values (objects, arrays, literals) one query may hold. Each costs at least one character of
 * URL, so a query with more cannot fit in any Dataverse URL ({@link MAX_BATCH_URL_LENGTH}); the bound
 * also stops a small object that shares sub-objects from expanding into an exponentially long string.
 */
export const MAX_QUERY_VALUES = MAX_BATCH_URL_LENGTH;

/** One walk over a caller's query: bounds its depth and size, and finds cycles. */
export class QueryWalk {
  #values = 0;
  readonly #open = new Set<object>();

  /** Counts one value. */
  visit(path: string): void {
    this.#values += 1;
    if (this.#values > MAX_QUERY_VALUES) {
      throw invalidArgument(clipPath(path), `a query of at most ${MAX_QUERY_VALUES} values (conditions, list items, literals): more cannot fit in a Dataverse URL`);
    }
  }

  /** Counts an object or array and opens it; {@link leave} closes it. */
  enter(value: object, path: string, depth: number): void {
    this.visit(path);
    if (depth > MAX_QUERY_DEPTH) throw invalidArgument(clipPath(path), `at most ${MAX_QUERY_DEPTH} levels of nested objects and arrays`);
    if (this.#open.has(value)) throw invalidArgument(clipPath(path), 'no cycle, but this object contains itself');
    this.#open.add(value);
  }

  leave(value: object): void {
    this.#open.delete(value);
  }
}

/** A path 100 levels deep is long; the error keeps its start and its end. */
function clipPath(path: string): string {
  return path.length <= 240 ? path : `${path.slice(0, 80)}…${path.slice(-150)}`;
}

/** `invalidArgument` with a description of the value in place of its JSON. */
function refuse(path: string, expected: string, ...got: [] | [unknown]): DynamicsError {
  return new DynamicsError(`${clipPath(path)}: expected ${expected}${got.length > 0 ? `, got ${describe(got[0])}` : ''}`, { code: ErrorCode.invalidArgument });
}

/** A plain object: `{…}` or `Object.create(null)`, not an array, a Date, a Map or a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const hasOwn = (value: object, key: string): boolean => Object.prototype.hasOwnProperty.call(value, key);

/** An object with these own properties, `__proto__` included (assignment would set the prototype instead). */
function objectOf(entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** `{ a: { b: value } }` for the chain `['a', 'b']`. */
function nest(chain: readonly string[], value: unknown): Record<string, unknown> {
  return chain.reduceRight<unknown>((inner, key) => objectOf([[key, inner]]), value) as Record<string, unknown>;
}

// eslint-disable-next-line no-misleading-character-class
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Refuses a string with a lone surrogate: it has no UTF-8 form, and encodeURIComponent throws a URIError on it. */
export function checkWellFormed(text: string, path: string): void {
  if (LONE_SURROGATE.test(text)) throw invalidArgument(clipPath(path), 'well-formed Unicode text (found a lone surrogate)', text);
}

const NAME = '[A-Za-z_][A-Za-z0-9_]{0,127}';
/** A column, or a path through navigation properties (`primarycontactid/fullname`). */
const COLUMN_PATH = new RegExp(`^${NAME}(?:/${NAME}){0,15}$`);

const COLUMN_EXPECTED =
  'keys that are column names or navigation paths such as "name" or "primarycontactid/fullname", or and / or / not ' +
  '(odata-query copies keys into the expression as they are; write functions such as tolower(name) as expression text)';

function checkColumnKey(key: string, path: string): void {
  if (!COLUMN_PATH.test(key)) throw invalidArgument(clipPath(path), COLUMN_EXPECTED, key);
}

// ---------------------------------------------------------------------------------------------
// $filter

const COMPARISON: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'has']);
const STRING_FUNCTION: ReadonlySet<string> = new Set(['startswith', 'endswith', 'contains', 'matchespattern']);
type Logical = 'and' | 'or' | 'not';
const isLogical = (key: string): key is Logical => key === 'and' || key === 'or' || key === 'not';

const UNDEFINED_CONDITION = 'a value (odata-query would silently drop an undefined condition and match every row)';
const EMPTY_CONDITION = 'a non-empty condition (odata-query would silently drop an empty one and match every row)';

/**
 * What an empty list means, and what to do instead. They are refused rather than sent: odata-query
 * drops an empty `and`/`or`/`not`, which widens the query (`{ statecode: 1, or: [] }` would be
 * `statecode eq 1`), and Dataverse has no literal for "no row".
 */
const EMPTY_LIST: Readonly<Record<Logical | 'in', string>> = {
  or: 'a non-empty list: an empty `or` would match no row, but odata-query drops it and the query would match every row; skip the query when the list is empty',
  and: 'a non-empty list: odata-query drops an empty `and`, which widens the query; leave `and` out when the list is empty',
  not: 'a non-empty condition: odata-query drops an empty `not`, and the query would match every row',
  in: 'a non-empty list: an empty `in` matches no row; skip the query when the list is empty',
};

/** Returned by {@link prepareColumn} when every operator of a column moved out into a separate condition. */
const HOISTED = Symbol('hoisted');
const NOT_SCALAR = Symbol('not a scalar');

interface Scope {
  /** Inside an `any`/`all` body, where the key `''` is the collection item itself. */
  lambda: boolean;
  /**
   * Column name → Edm type of the filtered table (the client's runtime model), so that a value is
   * written as its column needs: a GUID unquoted, a date as a date. Not used inside `any`/`all` or
   * through navigation paths, whose tables are others.
   */
  columns?: Readonly<Record<string, string>>;
}

const NUMERIC_EDM: ReadonlySet<string> = new Set(['Edm.Int16', 'Edm.Int32', 'Edm.Int64', 'Edm.Byte', 'Edm.SByte', 'Edm.Decimal', 'Edm.Double', 'Edm.Single']);
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The Edm type the model gives the column of `chain`, when it is a column of the filtered table itself. */
function edmOf(chain: readonly string[], scope: Scope): string | undefined {
  if (scope.lambda || chain.length !== 1 || scope.columns === undefined) return undefined;
  return hasOwn(scope.columns, chain[0]) ? scope.columns[chain[0]] : undefined;
}

/**
 * A prepared literal written as its column's Edm type requires (OData ABNF: `guidValue` and
 * `dateTimeOffsetValue` are unquoted): a string compared with an `Edm.Guid` column becomes an unquoted
 * GUID, an ISO string compared with a date column an unquoted date. A value that cannot be of the
 * column's type is refused here, instead of Dataverse's 400 about incompatible operand types.
 */
function coerce(value: unknown, edm: string | undefined, column: string, path: string): unknown {
  if (edm === undefined || value === null || (isPlainObject(value) && hasOwn(value, 'type'))) return value;
  const refuseAs = (expected: string): never => {
    throw invalidArgument(clipPath(path), `${expected} (the model gives ${column} the type ${edm})`, value);
  };
  if (edm === 'Edm.Guid') {
    if (typeof value !== 'string') refuseAs('a GUID');
    return { type: 'guid', value: normalizeGuid(value, clipPath(path)) };
  }
  if (edm === 'Edm.DateTimeOffset') {
    if (value instanceof Date) return value;
    if (typeof value !== 'string' || !ISO_DATE_TIME.test(value)) refuseAs("a Date or an ISO 8601 date and time such as '2024-05-01T08:30:00Z'");
    return { type: 'raw', value };
  }
  if (edm === 'Edm.Date') {
    if (value instanceof Date) return { type: 'raw', value: value.toISOString().slice(0, 10) };
    if (typeof value !== 'string' || !ISO_DATE.test(value)) refuseAs("a Date or a date such as '2024-05-01'");
    return { type: 'raw', value };
  }
  if (NUMERIC_EDM.has(edm) && typeof value !== 'number') refuseAs('a number');
  if (edm === 'Edm.Boolean' && typeof value !== 'boolean') refuseAs('true or false');
  if (edm === 'Edm.String' && typeof value !== 'string') refuseAs('a string');
  return value;
}

/** An item of a query function's list (`between`, `notIn`, …): checked like any value compared with the column. */
function coerceFunctionValue(value: unknown, edm: string | undefined, column: string, path: string): unknown {
  const s = scalar(value, path);
  if (s === NOT_SCALAR) return value;
  return coerce(s, edm, column, path);
}

/** The literals of a prepared `in` list, one by one (the typed form `{ type, value: [...] }` spread out). */
function inItems(prepared: unknown): unknown[] {
  if (Array.isArray(prepared)) return prepared;
  const typed = prepared as { type: string; value: unknown[] };
  return typed.value.map((value) => ({ type: typed.type, value }));
}

function scalar(value: unknown, path: string): unknown {
  if (typeof value === 'string') {
    checkWellFormed(value, path);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgument(clipPath(path), 'a finite number', value);
    return value;
  }
  if (typeof value === 'boolean' || value === null) return value;
  if (value instanceof Date) {
    // toISOString() throws a RangeError for an invalid Date.
    if (Number.isNaN(value.getTime())) throw invalidArgument(clipPath(path), 'a valid Date', 'Invalid Date');
    return value;
  }
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
    throw invalidArgument(clipPath(path), 'a string, number, boolean, null, Date or condition object', String(value));
  }
  return NOT_SCALAR;
}

const TYPED_LITERALS = ['guid', 'raw', 'duration', 'binary', 'decimal'];
/** ISO 8601 duration as OData writes it (`duration'P1DT2H'`, OData ABNF `durationValue`). */
const DURATION = /^-?P(?=\d|T\d)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$/;
/** base64 or base64url (OData ABNF `binaryValue`). */
const BINARY = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DECIMAL = /^[+-]?\d+(?:\.\d+)?$/;

function typedValue(type: string, value: unknown, path: string): unknown {
  switch (type) {
    case 'guid':
      return normalizeGuid(value, clipPath(path));
    case 'raw':
      // Expression text the caller wrote: sent as written, like a top-level filter string.
      if (typeof value !== 'string' || value.trim() === '') throw invalidArgument(clipPath(path), 'raw expression text', value);
      checkWellFormed(value, path);
      return value;
    case 'duration':
      // odata-query writes duration'<value>' without escaping a quote in it.
      if (typeof value !== 'string' || !DURATION.test(value)) throw invalidArgument(clipPath(path), "an ISO 8601 duration such as 'P1DT2H'", value);
      return value;
    case 'binary':
      if (typeof value !== 'string' || !BINARY.test(value)) throw invalidArgument(clipPath(path), 'base64 text', value);
      return value;
    default:
      if (!(typeof value === 'string' ? DECIMAL.test(value) : typeof value === 'number' && Number.isFinite(value))) {
        throw invalidArgument(clipPath(path), 'a decimal number such as "12.50"', value);
      }
      return value;
  }
}

/** odata-query's typed literals (`guid(id)`, `{ type: 'raw', value }`, …); `list` for the `{ type, value: [...] }` form of `in`. */
function prepareTyped(value: Record<string, unknown>, path: string, walk: QueryWalk, depth: number, list: boolean): Record<string, unknown> {
  walk.enter(value, path, depth);
  const type = value.type;
  // `json` uses the deprecated escape(), which writes Latin-1 (%E9) instead of UTF-8 (%C3%A9);
  // Dataverse has no JSON literals anyway.
  if (type === 'json') throw refuse(path, 'no JSON literal (Dataverse does not support them)', value);
  if (type === 'alias') throw refuse(path, 'no parameter alias (write the value itself)', value);
  if (typeof type !== 'string' || !TYPED_LITERALS.includes(type)) {
    throw refuse(path, "a typed literal such as guid(id), { type: 'guid' | 'raw' | 'duration' | 'binary' | 'decimal', value } (odata-query reads any object with a `type` key as one)", value);
  }
  const extra = Object.keys(value).find((key) => key !== 'type' && key !== 'value');
  if (extra !== undefined) throw invalidArgument(clipPath(path), 'a typed literal { type, value } with no other key (odata-query would copy it into the expression)', extra);
  let out: unknown;
  if (list) {
    const items = value.value;
    if (!Array.isArray(items)) throw refuse(`${path}.value`, 'an array of values', items);
    if (items.length === 0) throw refuse(`${path}.value`, EMPTY_LIST.in, items);
    walk.enter(items, `${path}.value`, depth + 1);
    out = items.map((item: unknown, index) => {
      walk.visit(path);
      return typedValue(type, item, `${path}.value[${index}]`);
    });
    walk.leave(items);
  } else {
    walk.visit(path);
    out = typedValue(type, value.value, path);
  }
  walk.leave(value);
  return { type, value: out };
}

/** A value compared with a column: a scalar or a typed literal. */
function literal(value: unknown, path: string, walk: QueryWalk, depth: number): unknown {
  if (value === undefined) throw refuse(path, UNDEFINED_CONDITION, undefined);
  const s = scalar(value, path);
  if (s !== NOT_SCALAR) {
    walk.visit(path);
    return s;
  }
  if (isPlainObject(value) && hasOwn(value, 'type')) return prepareTyped(value, path, walk, depth, false);
  throw refuse(path, 'a value: a string, number, boolean, null, Date or typed literal such as guid(id)', value);
}

function prepareIn(value: unknown, path: string, walk: QueryWalk, depth: number): unknown {
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    if (value.length === 0) throw refuse(path, EMPTY_LIST.in, value);
    const out = value.map((item: unknown, index) => literal(item, `${path}[${index}]`, walk, depth + 1));
    walk.leave(value);
    return out;
  }
  if (isPlainObject(value) && hasOwn(value, 'type')) return prepareTyped(value, path, walk, depth, true);
  throw refuse(path, "a non-empty array of values, or a typed list such as { type: 'guid', value: [id1, id2] }", value);
}

/** The body of `any`/`all`: a condition on the item (`''`) or its columns, or odata-query's string shorthand. */
function prepareLambda(op: 'any' | 'all', value: unknown, path: string, walk: QueryWalk, depth: number): unknown {
  if (typeof value === 'string') {
    checkWellFormed(value, path);
    walk.visit(path);
    // odata-query writes a string lambda into quotes without doubling `'` (any → `x eq 'v'`,
    // all → `x ne 'v'`); the equivalent object form has its value escaped.
    return { '': op === 'any' ? value : { ne: value } };
  }
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    if (value.length === 0) throw refuse(path, `a non-empty list of conditions for ${op}`, value);
    const out = value.map((item: unknown, index) => prepareCondition(item, `${path}[${index}]`, walk, depth + 1, { lambda: true }));
    walk.leave(value);
    // odata-query merges the objects of a lambda list, keeping only the last condition of each key.
    return out.length === 1 ? out[0] : { and: out };
  }
  return prepareCondition(value, path, walk, depth, { lambda: true });
}

/**
 * A column's `and`/`or`/`not`, moved out as a condition of its own: odata-query writes a column's
 * `or` list without parentheses (`(a) or (b) and c` reads as `a or (b and c)`) and drops a column's
 * `not`. `{ name: { or: [{ eq: 'a' }, { startswith: 'b' }] } }` becomes
 * `{ or: [{ name: { eq: 'a' } }, { name: { startswith: 'b' } }] }`, which it writes correctly.
 */
function hoist(chain: readonly string[], op: Logical, value: unknown, path: string, walk: QueryWalk, depth: number, scope: Scope): Record<string, unknown> {
  if (value === undefined) throw refuse(path, UNDEFINED_CONDITION, undefined);
  let items: Array<{ item: unknown; where: string }>;
  let opened: object | undefined;
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    opened = value;
    if (value.length === 0) throw refuse(path, EMPTY_LIST[op], value);
    items = value.map((item: unknown, index) => ({ item, where: `${path}[${index}]` }));
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) throw refuse(path, EMPTY_LIST[op], value);
    // `not` of an object negates all of it; `and`/`or` of an object combine its keys, as at the top level.
    if (op === 'not') items = [{ item: value, where: path }];
    else {
      walk.enter(value, path, depth);
      opened = value;
      items = keys.map((key) => ({ item: objectOf([[key, value[key]]]), where: path }));
    }
  } else {
    throw refuse(path, `a non-empty list of conditions on this column for ${op}, such as [{ eq: 'a' }, { startswith: 'b' }]`, value);
  }
  const conditions = items.map(({ item, where }) => {
    if (!isPlainObject(item)) {
      throw refuse(where, "a condition on this column such as { eq: 'a' } (to match any of several values use { in: [...] }; expression text goes at the top level)", item);
    }
    const pieces: unknown[] = [];
    const prepared = prepareColumn(chain, item, where, walk, depth + 1, pieces, scope);
    const all = [...(prepared === HOISTED ? [] : [nest(chain, prepared)]), ...pieces];
    return all.length === 1 ? all[0] : { and: all };
  });
  if (opened !== undefined) walk.leave(opened);
  return objectOf([[op, conditions]]);
}

/**
 * The value of one column in a condition: a literal, a typed literal, or an object of operators and
 * nested columns. A column's `and`/`or`/`not` are moved out into `pieces` (see {@link hoist}).
 */
function prepareColumn(chain: readonly string[], value: unknown, path: string, walk: QueryWalk, depth: number, pieces: unknown[], scope: Scope): unknown {
  if (value === undefined) throw refuse(path, UNDEFINED_CONDITION, undefined);
  const s = scalar(value, path);
  const column = chain[chain.length - 1];
  const edm = edmOf(chain, scope);
  if (s !== NOT_SCALAR) {
    walk.visit(path);
    return coerce(s, edm, column, path);
  }
  if (Array.isArray(value)) {
    throw refuse(path, 'a value or an object of operators; to match any of several values use { in: [...] } (odata-query would write an array with the column name as the operator)', value);
  }
  if (!isPlainObject(value)) throw refuse(path, 'a value or a plain condition object such as { gt: 1 }', value);
  if (hasOwn(value, 'type')) return prepareTyped(value, path, walk, depth, false);
  walk.enter(value, path, depth);
  const ops = Object.keys(value);
  if (ops.length === 0) throw refuse(path, EMPTY_CONDITION, value);
  const out: Array<[string, unknown]> = [];
  // Query functions name a column of the filtered table (`PropertyName`), not a path or a lambda item.
  const ownColumn = !scope.lambda && chain.length === 1;
  for (const op of ops) {
    const known = COMPARISON.has(op) || STRING_FUNCTION.has(op) || op === 'in' || op === 'any' || op === 'all' || isLogical(op) || isQueryFunction(op);
    if (!known) checkColumnKey(op, path);
    const where = `${path}.${op}`;
    const item = value[op];
    if (item === undefined) throw refuse(where, UNDEFINED_CONDITION, undefined);
    if (COMPARISON.has(op)) out.push([op, coerce(literal(item, where, walk, depth + 1), edm, column, where)]);
    else if (op === 'in') {
      const items = inItems(prepareIn(item, where, walk, depth + 1)).map((v, i) => coerce(v, edm, column, `${where}[${i}]`));
      // Dataverse has no `in` operator (it answers "The method or operation is not implemented"):
      // a column of the table goes through Microsoft.Dynamics.CRM.In; a path or a lambda item, which
      // a query function cannot name, through an `or` of equalities.
      if (ownColumn) pieces.push(objectOf([['and', [queryFunctionText('in', column, items, where)]]]));
      else pieces.push(objectOf([['or', items.map((v) => nest(chain, objectOf([['eq', v]])))]]));
    } else if (isQueryFunction(op)) {
      if (!ownColumn) {
        throw refuse(where, `${op} on a column of the filtered table itself: Dataverse's query functions name their column (PropertyName), so they work neither through a navigation path nor inside any/all`);
      }
      walk.visit(where);
      const list = Array.isArray(item);
      if (list) walk.enter(item, where, depth + 1);
      const values = list && takesColumnValues(op) ? item.map((v: unknown, i) => coerceFunctionValue(v, edm, column, `${where}[${i}]`)) : item;
      const text = queryFunctionText(op, column, values, where);
      if (list) walk.leave(item);
      pieces.push(objectOf([['and', [text]]]));
    } else if (STRING_FUNCTION.has(op)) {
      if (typeof item !== 'string') throw refuse(where, 'a string', item);
      checkWellFormed(item, where);
      walk.visit(where);
      out.push([op, item]);
    } else if (op === 'any' || op === 'all') {
      // odata-query names the lambda variable after the key, which must then be a plain name.
      if (column === '' || column.includes('/')) {
        throw refuse(where, `${op} under a column name, not a path: write { a: { b: { ${op}: … } } } rather than { 'a/b': { ${op}: … } }`);
      }
      out.push([op, prepareLambda(op, item, where, walk, depth + 1)]);
    } else if (isLogical(op)) pieces.push(hoist(chain, op, item, where, walk, depth + 1, scope));
    else {
      const nested = prepareColumn([...chain, op], item, where, walk, depth + 1, pieces, scope);
      if (nested !== HOISTED) out.push([op, nested]);
    }
  }
  walk.leave(value);
  return out.length === 0 ? HOISTED : objectOf(out);
}

/** An item of an `and`/`or`/`not` list: expression text or a condition object. */
function logicalItem(item: unknown, path: string, walk: QueryWalk, depth: number, scope: Scope): unknown {
  if (typeof item === 'string') {
    if (item.trim() === '') throw refuse(path, 'a non-empty filter expression (odata-query would drop an empty one and widen the query)', item);
    checkWellFormed(item, path);
    walk.visit(path);
    return item;
  }
  if (item === undefined) throw refuse(path, UNDEFINED_CONDITION, undefined);
  return prepareCondition(item, path, walk, depth, scope);
}

/** `and`/`or`/`not` at the level of a condition, always in the array form odata-query writes with parentheses at any depth. */
function prepareLogical(op: Logical, value: unknown, path: string, walk: QueryWalk, depth: number, scope: Scope): unknown[] {
  if (value === undefined) throw refuse(path, UNDEFINED_CONDITION, undefined);
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    if (value.length === 0) throw refuse(path, EMPTY_LIST[op], value);
    const out = value.map((item: unknown, index) => logicalItem(item, `${path}[${index}]`, walk, depth + 1, scope));
    walk.leave(value);
    return out;
  }
  if (!isPlainObject(value)) throw refuse(path, `a non-empty array of conditions or a condition object for ${op}`, value);
  if (Object.keys(value).length === 0) throw refuse(path, EMPTY_LIST[op], value);
  // `not` of an object negates all of it. The object form of `and`/`or` combines its keys; odata-query
  // writes it without the prefix inside a lambda or a column, so it becomes one condition per key.
  if (op === 'not') return [prepareCondition(value, path, walk, depth, scope)];
  return conditionParts(value, path, walk, depth, scope);
}

/** A condition object as one prepared condition per key (a column's hoisted pieces stay with it). */
function conditionParts(value: unknown, path: string, walk: QueryWalk, depth: number, scope: Scope, allowEmpty = false): Array<Record<string, unknown>> {
  if (!isPlainObject(value)) throw refuse(path, 'a condition object such as { name: "Contoso" }, or expression text', value);
  walk.enter(value, path, depth);
  const keys = Object.keys(value);
  if (keys.length === 0 && !allowEmpty) throw refuse(path, EMPTY_CONDITION, value);
  const parts: Array<Record<string, unknown>> = [];
  for (const key of keys) {
    const item = value[key];
    if (isLogical(key)) {
      parts.push(objectOf([[key, prepareLogical(key, item, `${path}.${key}`, walk, depth + 1, scope)]]));
      continue;
    }
    if (!(key === '' && scope.lambda)) checkColumnKey(key, path);
    const pieces: Array<Record<string, unknown>> = [];
    const prepared = prepareColumn([key], item, key === '' ? `${path}['']` : `${path}.${key}`, walk, depth + 1, pieces, scope);
    const all = [...(prepared === HOISTED ? [] : [objectOf([[key, prepared]])]), ...pieces];
    parts.push(all.length === 1 ? all[0] : { and: all });
  }
  walk.leave(value);
  return parts;
}

/**
 * Checks a condition object and returns the copy to hand to odata-query.
 *
 * @param allowEmpty - a top-level `{}` means no filter; anywhere else an empty object is refused.
 * @throws DynamicsError `invalid_argument` naming the path of the offending part.
 */
export function prepareCondition(value: unknown, path: string, walk: QueryWalk, depth = 0, scope: Scope = { lambda: false }, allowEmpty = false): Record<string, unknown> {
  const parts = conditionParts(value, path, walk, depth, scope, allowEmpty);
  if (parts.length === 1) return parts[0];
  // Parts with distinct keys merge back into one object: the caller's shape when nothing was hoisted
  // (odata-query joins keys with `and`). A hoisted `and` next to the caller's own `and` cannot merge.
  const keys = parts.map((part) => Object.keys(part));
  if (keys.every((k) => k.length === 1) && new Set(keys.map((k) => k[0])).size === parts.length) {
    return objectOf(parts.map((part, i) => [keys[i][0], part[keys[i][0]]] as const));
  }
  return { and: parts };
}

// ---------------------------------------------------------------------------------------------
// $select, $orderby, $expand

const SELECT_ITEM = /^[A-Za-z_][A-Za-z0-9_.]{0,127}(\/[A-Za-z_][A-Za-z0-9_.]{0,127})*$/;

/**
 * `$select`: a column name or a non-empty array of them.
 *
 * @throws DynamicsError `invalid_argument` naming `path` or the bad item.
 */
export function checkSelect(value: unknown, path: string): string[] {
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) || items.length === 0) throw refuse(path, 'a column name or a non-empty array of column names', value);
  items.forEach((item: unknown, index) => {
    if (typeof item !== 'string' || !SELECT_ITEM.test(item)) {
      throw invalidArgument(clipPath(`${path}[${index}]`), 'a column name such as "name" or "_parentaccountid_value"', item);
    }
  });
  return items as string[];
}

const ORDER_ITEM = new RegExp(`^${NAME}(?:/${NAME}){0,15}(?:\\s+(?:asc|desc))?$`);
const ORDER_EXPECTED = "'column [asc|desc]', or an array of those or of [column, 'asc' | 'desc']";

function checkOrderText(text: string, path: string): void {
  if (!text.split(',').every((item) => ORDER_ITEM.test(item.trim()))) throw invalidArgument(clipPath(path), ORDER_EXPECTED, text);
}

/**
 * `$orderby`: `'name desc'` (several separated by commas), or an array of such strings and
 * `[column, 'asc' | 'desc']` pairs. Column names are checked: odata-query writes them as they are.
 *
 * @throws DynamicsError `invalid_argument` naming `path` or the bad item.
 */
export function checkOrderBy(value: unknown, path: string): unknown {
  if (typeof value === 'string') {
    checkOrderText(value, path);
    return value;
  }
  if (!Array.isArray(value) || value.length === 0) throw refuse(path, ORDER_EXPECTED, value);
  value.forEach((item: unknown, index) => {
    const where = `${path}[${index}]`;
    if (typeof item === 'string') checkOrderText(item, where);
    else if (!(Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && COLUMN_PATH.test(item[0]) && (item[1] === 'asc' || item[1] === 'desc'))) {
      throw refuse(where, ORDER_EXPECTED, item);
    }
  });
  return value;
}

const EXPAND_ITEM_START = new RegExp(`^\\s*${NAME}(?:/${NAME})*`);

/**
 * Expression text of `$expand` (`primarycontactid($select=fullname)`, `a,b`) is sent as written;
 * each comma-separated item must still start with a navigation property name.
 */
function checkExpandText(text: string, path: string): void {
  checkWellFormed(text, path);
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth--;
    else if (!quoted && depth === 0 && ch === ',') {
      items.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) break;
  }
  items.push(text.slice(start));
  const ok =
    depth === 0 &&
    !quoted &&
    items.every((item) => {
      const m = EXPAND_ITEM_START.exec(item);
      if (!m) return false;
      const rest = item.slice(m[0].length).trim();
      return rest === '' || (rest.startsWith('(') && rest.endsWith(')'));
    });
  if (!ok) throw invalidArgument(clipPath(path), 'navigation property names, each optionally followed by (options), such as "primarycontactid($select=fullname)"', text);
}

const NAVIGATION = new RegExp(`^${NAME}$`);

/** Options of one expanded navigation property, as odata-query names them. */
const EXPAND_OPTIONS: ReadonlySet<string> = new Set(['select', 'filter', 'orderBy', 'top', 'expand', 'count', 'levels']);

function prepareExpandFilter(value: unknown, path: string, walk: QueryWalk, depth: number): unknown {
  if (typeof value === 'string') return logicalItem(value, path, walk, depth, { lambda: false });
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    if (value.length === 0) throw refuse(path, EMPTY_LIST.and, value);
    const items = value.map((item: unknown, index) => logicalItem(item, `${path}[${index}]`, walk, depth + 1, { lambda: false }));
    walk.leave(value);
    // odata-query joins a filter array with `and` and no parentheses; `{ and: [...] }` keeps each item's meaning.
    return items.length === 1 ? items[0] : { and: items };
  }
  return prepareCondition(value, path, walk, depth);
}

function prepareExpandOptions(value: Record<string, unknown>, path: string, walk: QueryWalk, depth: number): Record<string, unknown> {
  const out: Array<[string, unknown]> = [];
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (item === undefined) continue;
    // odata-query reads `orderby` as an unknown option and writes it as it is.
    const name = key === 'orderby' ? 'orderBy' : key;
    const where = `${path}.${key}`;
    if (name === 'skip') throw invalidArgument(clipPath(where), 'no $skip: Dataverse does not support it (query/page-results.md)', item);
    if (!EXPAND_OPTIONS.has(name)) {
      throw invalidArgument(clipPath(path), `options named ${[...EXPAND_OPTIONS].join(', ')} (odata-query copies other keys into the query as they are)`, key);
    }
    if (name === 'select') out.push([name, checkSelect(item, where)]);
    else if (name === 'filter') out.push([name, prepareExpandFilter(item, where, walk, depth + 1)]);
    else if (name === 'orderBy') out.push([name, checkOrderBy(item, where)]);
    else if (name === 'expand') out.push([name, prepareExpand(item, where, walk, depth + 1)]);
    else if (name === 'count') {
      if (typeof item !== 'boolean') throw invalidArgument(clipPath(where), 'true or false', item);
      out.push([name, item]);
    } else if (name === 'levels') {
      if (!(item === 'max' || (typeof item === 'number' && Number.isSafeInteger(item) && item > 0))) throw invalidArgument(clipPath(where), "a whole number ≥ 1, or 'max'", item);
      out.push([name, item]);
    } else {
      if (typeof item !== 'number' || !Number.isSafeInteger(item) || item < 0) throw invalidArgument(clipPath(where), 'a whole number ≥ 0', item);
      out.push([name, item]);
    }
  }
  return objectOf(out);
}

/** `{ primarycontactid: true, contact_customer_accounts: { select: [...], top: 5 } }`. */
function prepareExpandObject(value: Record<string, unknown>, path: string, walk: QueryWalk, depth: number): Record<string, unknown> {
  walk.enter(value, path, depth);
  const keys = Object.keys(value);
  if (keys.length === 0) throw refuse(path, 'navigation properties to expand, such as { primarycontactid: { select: ["fullname"] } }', value);
  const out: Array<[string, unknown]> = [];
  for (const key of keys) {
    // odata-query reads an object with any option key as options, and writes every key as one.
    if (EXPAND_OPTIONS.has(key) || key === 'orderby' || key === 'skip') {
      throw invalidArgument(clipPath(path), 'navigation property names as keys; options such as select go inside one: { primarycontactid: { select: [...] } }', key);
    }
    if (!NAVIGATION.test(key)) {
      throw invalidArgument(clipPath(path), 'navigation property names as keys, such as "primarycontactid" (odata-query copies keys into the query as they are)', key);
    }
    const where = `${path}.${key}`;
    const item = value[key];
    if (item === true) out.push([key, true]);
    else if (isPlainObject(item)) {
      walk.enter(item, where, depth + 1);
      out.push([key, Object.keys(item).length === 0 ? true : prepareExpandOptions(item, where, walk, depth + 1)]);
      walk.leave(item);
    } else throw refuse(where, 'true, or an object of options such as { select: ["fullname"], top: 5 }', item);
  }
  walk.leave(value);
  return objectOf(out);
}

/**
 * Checks an `$expand` (a navigation property, several, expression text, or odata-query's object form)
 * and returns the copy to hand to odata-query.
 *
 * @throws DynamicsError `invalid_argument` naming the path of the offending part.
 */
export function prepareExpand(value: unknown, path: string, walk: QueryWalk, depth = 0): unknown {
  const expected = 'a navigation property, an array of them, or an object of nested options';
  if (typeof value === 'string') {
    if (value.trim() === '') throw refuse(path, expected, value);
    checkExpandText(value, path);
    walk.visit(path);
    return value;
  }
  if (Array.isArray(value)) {
    walk.enter(value, path, depth);
    if (value.length === 0) throw refuse(path, expected, value);
    const out = value.map((item: unknown, index) => {
      const where = `${path}[${index}]`;
      if (typeof item === 'string' && item.trim() !== '') {
        checkExpandText(item, where);
        walk.visit(where);
        return item;
      }
      if (isPlainObject(item)) return prepareExpandObject(item, where, walk, depth + 1);
      throw refuse(where, 'a navigation property name or an object of nested options', item);
    });
    walk.leave(value);
    return out;
  }
  if (isPlainObject(value)) return prepareExpandObject(value, path, walk, depth);
  throw refuse(path, expected, value);
}
