/**
 * `$filter` for the emulator: a tokenizer, a recursive-descent parser (OData v4 URL conventions §5.1.1,
 * precedence `not` > comparisons > `and` > `or`) and a compiler to a row predicate.
 *
 * String comparisons are case- and accent-insensitive, as Dataverse's SQL collation
 * (Latin1_General_CI_AI) makes them. Dataverse query functions
 * (`Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a','b'])`, dp/webapi/query/filter-rows.md)
 * are supported for the common ones listed in {@link QUERY_FUNCTIONS}.
 */
import { clip } from '../../net/excerpt';
import { GUID_PATTERN } from '../../net/guid';
import { dvErrors } from './errors';
import { arityOf, ODATA_FUNCTIONS, specialCondition } from './shared/conditions';
import { queryNesting, type NestingGuard } from './shared/depth';

/** Value category of a column or literal, enough to compare like Dataverse does. */
export type ValueKind = 'string' | 'number' | 'boolean' | 'guid' | 'date' | 'null' | 'other';

export type FilterExpr =
  | { k: 'lit'; kind: ValueKind; value: string | number | boolean | null; numberType?: NumberType }
  | { k: 'prop'; path: string[] }
  | { k: 'cmp'; op: CmpOp; left: FilterExpr; right: FilterExpr }
  | { k: 'and' | 'or'; left: FilterExpr; right: FilterExpr }
  | { k: 'not'; expr: FilterExpr }
  | { k: 'fn'; name: string; args: FilterExpr[] }
  | { k: 'qfn'; name: string; params: Map<string, FilterExpr | FilterExpr[]> }
  /** `nav/any(x:body)`, `nav/all(x:body)`, `nav/any()`: `body`'s paths are relative to the related row (the variable removed). */
  | { k: 'lambda'; op: 'any' | 'all'; nav: string[]; body?: FilterExpr };

export type CmpOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
const CMP_OPS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

type Token =
  | { t: 'str'; v: string; quote: "'" | '"' }
  /** `at`: the character position where the word starts (ODataLib's messages give it). */
  | { t: 'word'; v: string; at: number }
  | { t: 'punct'; v: '(' | ')' | ',' | '/' | '[' | ']' | '=' };

const DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const NUMBER_RE = /^-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDfFlL]?$/;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** The Edm type ODataLib gives a numeric literal: by its suffix, its form, and (for integers) the smallest type that holds it. */
export type NumberType = 'Int32' | 'Int64' | 'Decimal' | 'Double' | 'Single';

/** Largest magnitude of each numeric Edm type (Int64 and Decimal as the nearest doubles). */
const NUMBER_RANGES: Record<string, { min: number; max: number; clr: string }> = {
  'Edm.Byte': { min: 0, max: 255, clr: 'System.Byte' },
  'Edm.SByte': { min: -128, max: 127, clr: 'System.SByte' },
  'Edm.Int16': { min: -32768, max: 32767, clr: 'System.Int16' },
  'Edm.Int32': { min: -2147483648, max: 2147483647, clr: 'System.Int32' },
  'Edm.Int64': { min: -9223372036854775808, max: 9223372036854775807, clr: 'System.Int64' },
  'Edm.Decimal': { min: -79228162514264337593543950335, max: 79228162514264337593543950335, clr: 'System.Decimal' },
  'Edm.Single': { min: -3.4028234663852886e38, max: 3.4028234663852886e38, clr: 'System.Single' },
  'Edm.Double': { min: -Number.MAX_VALUE, max: Number.MAX_VALUE, clr: 'System.Double' },
};

/** Whether `value` lies within the range of the numeric Edm type `edmType` (any value for other types). */
export function fitsEdmNumber(value: number, edmType: string): boolean {
  const range = NUMBER_RANGES[edmType];
  return Number.isFinite(value) && (range === undefined || (value >= range.min && value <= range.max));
}

const LITERAL_TYPE_BY_SUFFIX: Record<string, string> = { m: 'Edm.Decimal', l: 'Edm.Int64', f: 'Edm.Single', d: 'Edm.Double' };

function numberTypeOf(word: string, value: number): NumberType {
  const suffix = word[word.length - 1]?.toLowerCase();
  if (suffix === 'm') return 'Decimal';
  if (suffix === 'f') return 'Single';
  if (suffix === 'd') return 'Double';
  if (suffix === 'l') return 'Int64';
  if (/[.eE]/.test(word)) return 'Double';
  if (fitsEdmNumber(value, 'Edm.Int32')) return 'Int32';
  if (fitsEdmNumber(value, 'Edm.Int64')) return 'Int64';
  return fitsEdmNumber(value, 'Edm.Decimal') ? 'Decimal' : 'Double';
}

/** A numeric literal, or undefined when it is not one a double can hold (`1e999` overflows to Infinity). */
function numberLiteral(word: string): { value: number; numberType: NumberType } | undefined {
  const value = Number(word.replace(/[mMdDfFlL]$/, ''));
  if (!Number.isFinite(value)) return undefined;
  return { value, numberType: numberTypeOf(word, value) };
}

/** Classifies a bare literal word (as in keys and function parameters); undefined for identifiers and numbers out of range. */
export function literalOf(word: string): { kind: ValueKind; value: string | number | boolean | null } | undefined {
  if (word === 'null') return { kind: 'null', value: null };
  if (word === 'true' || word === 'false') return { kind: 'boolean', value: word === 'true' };
  if (GUID_PATTERN.test(word)) return { kind: 'guid', value: word.toLowerCase() };
  if (DATE_RE.test(word)) return { kind: 'date', value: word };
  if (NUMBER_RE.test(word)) {
    const n = numberLiteral(word);
    return n ? { kind: 'number', value: n.value } : undefined;
  }
  return undefined;
}

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === "'" || c === '"') {
      // OData doubles the quote to escape it inside a string literal ('O''Brien').
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw dvErrors.syntax(`There is an unterminated string literal at position ${i} in '${text}'.`);
        if (text[i] === c) {
          if (text[i + 1] === c) {
            v += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += text[i];
        i++;
      }
      out.push({ t: 'str', v, quote: c });
    } else if ('(),/[]='.includes(c)) {
      out.push({ t: 'punct', v: c as '(' });
      i++;
    } else {
      const start = i;
      while (i < text.length && !" \t\r\n(),/'\"[]=".includes(text[i] as string)) i++;
      out.push({ t: 'word', v: text.slice(start, i), at: start });
    }
  }
  return out;
}

/**
 * Recursive descent over the tokens. Every place it recurses into (parentheses, `not`, a function's
 * arguments, an alias's value) goes one level deeper in `guard`, so nesting is bounded; chains of
 * `and`/`or` are loops, not recursion.
 */
class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
    private readonly aliases: ReadonlyMap<string, string>,
    private readonly guard: NestingGuard = queryNesting(),
  ) {}

  parse(): FilterExpr {
    if (this.tokens.length === 0) throw dvErrors.syntax('Expression expected at position 0 in \'\'.');
    const e = this.or();
    if (this.pos < this.tokens.length) this.fail(`Syntax error at position ${this.pos}`);
    return e;
  }

  /** A single operand (used for alias values). */
  parseOperand(): FilterExpr {
    const e = this.primary();
    if (this.pos < this.tokens.length) this.fail(`Syntax error at position ${this.pos}`);
    return e;
  }

  private fail(msg: string): never {
    throw dvErrors.syntax(`${msg} in '${this.source}'.`);
  }
  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private isWord(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.t === 'word' && t.v === v;
  }
  private isPunct(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.t === 'punct' && t.v === v;
  }
  private expectPunct(v: string): void {
    if (!this.isPunct(v)) this.fail(`'${v}' expected at position ${this.pos}`);
    this.pos++;
  }

  private or(): FilterExpr {
    let left = this.and();
    while (this.isWord('or')) {
      this.pos++;
      left = { k: 'or', left, right: this.and() };
    }
    return left;
  }
  private and(): FilterExpr {
    let left = this.not();
    while (this.isWord('and')) {
      this.pos++;
      left = { k: 'and', left, right: this.not() };
    }
    return left;
  }
  private not(): FilterExpr {
    if (this.isWord('not')) {
      this.pos++;
      return { k: 'not', expr: this.guard.within(() => this.not()) };
    }
    return this.comparison();
  }
  private comparison(): FilterExpr {
    const left = this.primary();
    const t = this.peek();
    if (t && t.t === 'word' && CMP_OPS.has(t.v)) {
      this.pos++;
      return { k: 'cmp', op: t.v as CmpOp, left, right: this.primary() };
    }
    return left;
  }
  private primary(): FilterExpr {
    const t = this.peek();
    if (!t) this.fail(`Expression expected at position ${this.pos}`);
    if (t.t === 'punct' && t.v === '(') {
      this.pos++;
      const e = this.guard.within(() => this.or());
      this.expectPunct(')');
      return e;
    }
    if (t.t === 'str') {
      this.pos++;
      return { k: 'lit', kind: 'string', value: t.v };
    }
    if (t.t !== 'word') this.fail(`Expression expected at position ${this.pos}`);
    this.pos++;
    const v = t.v;
    if (v.startsWith('@')) {
      // Parameter alias (OData URL conventions §5.1.1.13): `?$filter=contains(@p1,'x')&@p1=name`.
      const value = this.aliases.get(v);
      if (value === undefined) this.fail(`The parameter alias '${v}' has no value`);
      return this.guard.within(() => new Parser(tokenize(value), value, new Map(), this.guard).parseOperand());
    }
    if (v === 'null') return { k: 'lit', kind: 'null', value: null };
    if (v === 'true' || v === 'false') return { k: 'lit', kind: 'boolean', value: v === 'true' };
    if (GUID_PATTERN.test(v)) return { k: 'lit', kind: 'guid', value: v.toLowerCase() };
    if (DATE_RE.test(v)) return { k: 'lit', kind: 'date', value: v };
    if (NUMBER_RE.test(v)) {
      // ODataLib parses a numeric literal into its Edm type and refuses one that overflows it.
      const n = numberLiteral(v);
      if (!n) this.fail(`Unrecognized '${LITERAL_TYPE_BY_SUFFIX[v[v.length - 1]?.toLowerCase() ?? ''] ?? 'Edm.Double'}' literal '${v}' at '${t.at}'`);
      return { k: 'lit', kind: 'number', value: n.value, numberType: n.numberType };
    }
    if (!IDENT_RE.test(v)) this.fail(`Syntax error: character '${v[0]}' is not valid at position ${this.pos - 1}`);
    if (this.isPunct('(')) return this.guard.within(() => this.call(v));
    const path = [v];
    while (this.isPunct('/')) {
      this.pos++;
      const next = this.peek();
      if (next && next.t === 'word' && (next.v === 'any' || next.v === 'all') && this.tokens[this.pos + 1]?.t === 'punct' && (this.tokens[this.pos + 1] as { v: string }).v === '(') {
        this.pos += 2;
        return this.guard.within(() => this.lambda(next.v as 'any' | 'all', path));
      }
      if (!next || next.t !== 'word' || !IDENT_RE.test(next.v)) this.fail(`Property name expected at position ${this.pos}`);
      path.push(next.v);
      this.pos++;
    }
    return { k: 'prop', path };
  }
  /**
   * The rest of `nav/any(` or `nav/all(` (OData URL conventions §5.1.1.10): `)` for `any()`, or
   * `x:body)`. The tokenizer keeps `x:x` together (a colon also sits inside date literals), so the
   * variable is split off here; paths in the body must start with it, and lose it.
   */
  private lambda(op: 'any' | 'all', nav: string[]): FilterExpr {
    if (this.isPunct(')')) {
      this.pos++;
      if (op === 'all') this.fail(`'all' requires a lambda expression at position ${this.pos}`);
      return { k: 'lambda', op, nav };
    }
    const head = this.peek();
    const colon = head && head.t === 'word' ? head.v.indexOf(':') : -1;
    if (!head || head.t !== 'word' || colon <= 0) this.fail(`A lambda variable followed by ':' expected at position ${this.pos}`);
    const variable = head.v.slice(0, colon);
    const rest = head.v.slice(colon + 1);
    if (rest === '') this.pos++;
    else this.tokens[this.pos] = { t: 'word', v: rest, at: head.at + colon + 1 };
    const body = relativeTo(this.or(), variable, (m) => this.fail(m));
    this.expectPunct(')');
    return { k: 'lambda', op, nav, body };
  }
  private call(name: string): FilterExpr {
    this.expectPunct('(');
    const qualified = name.startsWith('Microsoft.Dynamics.CRM.') || name.startsWith('mscrm.');
    if (qualified) {
      const params = new Map<string, FilterExpr | FilterExpr[]>();
      while (!this.isPunct(')')) {
        const p = this.peek();
        if (!p || p.t !== 'word') this.fail(`Parameter name expected at position ${this.pos}`);
        this.pos++;
        this.expectPunct('=');
        if (this.isPunct('[')) {
          this.pos++;
          const items: FilterExpr[] = [];
          while (!this.isPunct(']')) {
            items.push(this.primary());
            if (this.isPunct(',')) this.pos++;
            else if (!this.isPunct(']')) this.fail(`',' or ']' expected at position ${this.pos}`);
          }
          this.pos++;
          params.set(p.v, items);
        } else {
          params.set(p.v, this.primary());
        }
        if (this.isPunct(',')) this.pos++;
        else if (!this.isPunct(')')) this.fail(`',' or ')' expected at position ${this.pos}`);
      }
      this.pos++;
      return { k: 'qfn', name: name.slice(name.lastIndexOf('.') + 1), params };
    }
    const args: FilterExpr[] = [];
    while (!this.isPunct(')')) {
      args.push(this.or());
      if (this.isPunct(',')) this.pos++;
      else if (!this.isPunct(')')) this.fail(`',' or ')' expected at position ${this.pos}`);
    }
    this.pos++;
    return { k: 'fn', name, args };
  }
}

/** `expr` with every property path that starts with the lambda `variable` made relative to the related row. */
function relativeTo(expr: FilterExpr, variable: string, fail: (message: string) => never): FilterExpr {
  switch (expr.k) {
    case 'prop':
      if (expr.path[0] !== variable || expr.path.length < 2) fail(`The property '${expr.path.join('/')}' inside a lambda must start with its variable '${variable}/'`);
      return { k: 'prop', path: expr.path.slice(1) };
    case 'cmp':
      return { ...expr, left: relativeTo(expr.left, variable, fail), right: relativeTo(expr.right, variable, fail) };
    case 'and':
    case 'or':
      return { ...expr, left: relativeTo(expr.left, variable, fail), right: relativeTo(expr.right, variable, fail) };
    case 'not':
      return { k: 'not', expr: relativeTo(expr.expr, variable, fail) };
    case 'fn':
      return { ...expr, args: expr.args.map((a) => relativeTo(a, variable, fail)) };
    case 'lambda':
      return { ...expr, nav: expr.nav[0] === variable ? expr.nav.slice(1) : fail(`The navigation '${expr.nav.join('/')}' inside a lambda must start with its variable '${variable}/'`) };
    default:
      return expr;
  }
}

/** Parses a `$filter` value (already percent-decoded once). */
export function parseFilter(text: string, aliases: ReadonlyMap<string, string> = new Map()): FilterExpr {
  return new Parser(tokenize(text), text, aliases).parse();
}

/** Resolves a property path of the filtered entity type to its value kind (undefined: no such property). */
export interface FilterScope {
  qualifiedType: string;
  kindOf(path: string[]): ValueKind | undefined;
  /**
   * A collection-valued navigation property (`any`/`all`): the related table's scope and runtime, and
   * the rows a row reaches through it. Undefined: no such collection.
   */
  collection?(nav: string[]): { scope: FilterScope; runtime: FilterRuntime; related(row: Record<string, unknown>): Record<string, unknown>[] } | undefined;
  /** The column a path reads: its Edm type and `entity.column` name, for checking the literals compared with it. */
  columnOf?(path: string[]): FilterColumn | undefined;
}

/** A column as the filter checks literals against it. */
export interface FilterColumn {
  edmType: string;
  /** `account.statecode`, as Dataverse names the attribute in its messages. */
  attribute: string;
}

/** What a compiled predicate needs at evaluation time. */
export interface FilterRuntime {
  get(row: Record<string, unknown>, path: string[]): unknown;
  /** Caller's systemuserid, for EqualUserId/NotEqualUserId. */
  userId: string;
  now: Date;
  /** Caller's business unit, for EqualBusinessId. Default: none matches. */
  businessUnitId?: string;
  /** The parent's id in the filtered table's hierarchy, for Under/Above. Default: no hierarchy. */
  parentOf?: (id: string) => string | undefined;
}

export type RowPredicate = (row: Record<string, unknown>, rt: FilterRuntime) => boolean;

/**
 * A comparable form of a stored value: strings folded (case- and accent-insensitive, as SQL's
 * Latin1_General_CI_AI collation compares them), dates as epoch milliseconds, GUIDs in lower case.
 */
export function sortKey(value: unknown, kind: ValueKind): string | number | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'string':
      return fold(String(value));
    case 'number':
      return typeof value === 'number' ? value : Number(value);
    case 'boolean':
      return value === true || value === 'true' ? 1 : 0;
    case 'date': {
      const t = Date.parse(String(value));
      return Number.isNaN(t) ? String(value) : t;
    }
    case 'guid':
      return String(value).toLowerCase();
    default:
      return typeof value === 'number' ? value : String(value);
  }
}

/** Orders two sort keys; null sorts first, as in SQL ascending order. */
export function compareKeys(a: string | number | null, b: string | number | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two stored values of one kind as Dataverse's SQL store would; null sorts first. */
export function compareValues(a: unknown, b: unknown, kind: ValueKind): number {
  return compareKeys(sortKey(a, kind), sortKey(b, kind));
}

const STRING_FUNCTIONS = new Set(['contains', 'startswith', 'endswith']);
/**
 * Dataverse query functions the emulator evaluates: In, NotIn, Between and NotBetween here, and every
 * function that names a FetchXML condition operator (dates, users, business units, hierarchies,
 * multi-select choices) through shared/conditions.ts.
 */
export const QUERY_FUNCTIONS = new Set(['In', 'NotIn', 'Between', 'NotBetween', ...Object.keys(ODATA_FUNCTIONS)]);

type Operand = {
  kind: ValueKind;
  eval: (row: Record<string, unknown>, rt: FilterRuntime) => unknown;
  /** For a column read: the column, so the literals compared with it can be checked. */
  column?: FilterColumn;
  /** For a numeric literal: its value and the Edm type ODataLib gives it. */
  number?: { value: number; numberType: NumberType };
};

/**
 * A numeric literal compared with a column must fit the column's type: Dataverse turns the condition
 * into a typed query and refuses a value that does not convert (it names the attribute and both
 * types). `statecode eq 3000000000` is refused, not silently matched against nothing.
 */
function checkNumberFits(column: FilterColumn | undefined, value: number, numberType: NumberType): void {
  if (!column || fitsEdmNumber(value, column.edmType)) return;
  const expected = NUMBER_RANGES[column.edmType]?.clr ?? column.edmType;
  throw dvErrors.invalidArgument(`Condition for attribute '${column.attribute}': expected argument(s) of type '${expected}' but received 'System.${numberType}'.`);
}

const EDM_NAME: Record<ValueKind, string> = {
  string: 'Edm.String',
  number: 'Edm.Int32',
  boolean: 'Edm.Boolean',
  guid: 'Edm.Guid',
  date: 'Edm.DateTimeOffset',
  null: 'null',
  other: 'Edm.Untyped',
};

const OP_KIND: Record<CmpOp, string> = {
  eq: 'Equal',
  ne: 'NotEqual',
  gt: 'GreaterThan',
  ge: 'GreaterThanOrEqual',
  lt: 'LessThan',
  le: 'LessThanOrEqual',
};

function compatible(a: ValueKind, b: ValueKind): boolean {
  if (a === b || a === 'null' || b === 'null' || a === 'other' || b === 'other') return true;
  // Dates may be compared with date-only literals and strings holding ISO dates are accepted by ODataLib promotion.
  return false;
}

/** Compiles a parsed filter against a scope; unknown properties and type mismatches throw Dataverse's 400s. */
export function compileFilter(expr: FilterExpr, scope: FilterScope): RowPredicate {
  const operand = (e: FilterExpr): Operand => {
    switch (e.k) {
      case 'lit': {
        const v = e.kind === 'date' ? normaliseDateLiteral(String(e.value)) : e.value;
        return {
          kind: e.kind,
          eval: () => v,
          ...(typeof e.value === 'number' && e.numberType ? { number: { value: e.value, numberType: e.numberType } } : {}),
        };
      }
      case 'prop': {
        const kind = scope.kindOf(e.path);
        if (kind === undefined) throw dvErrors.unknownQueryProperty(e.path[e.path.length - 1] as string, scope.qualifiedType);
        const path = e.path;
        const column = scope.columnOf?.(path);
        return { kind, eval: (row, rt) => rt.get(row, path), ...(column ? { column } : {}) };
      }
      case 'fn': {
        if (e.name === 'tolower' || e.name === 'toupper' || e.name === 'trim') {
          const [arg] = e.args;
          if (e.args.length !== 1 || !arg) throw dvErrors.syntax(`The function '${e.name}' takes one argument.`);
          const inner = operand(arg);
          const f = e.name === 'tolower' ? (s: string) => s.toLowerCase() : e.name === 'toupper' ? (s: string) => s.toUpperCase() : (s: string) => s.trim();
          return { kind: 'string', eval: (row, rt) => { const v = inner.eval(row, rt); return v === null || v === undefined ? null : f(String(v)); } };
        }
        const p = predicate(e);
        return { kind: 'boolean', eval: p };
      }
      default: {
        const p = predicate(e);
        return { kind: 'boolean', eval: p };
      }
    }
  };

  const predicate = (e: FilterExpr): RowPredicate => {
    switch (e.k) {
      case 'and':
      case 'or': {
        // A chain `a or b or c …` parses left-deep; it is compiled and evaluated as a list, so a
        // thousand-term `or` (a list of ids) costs no stack.
        const terms = chainOf(e).map(predicate);
        return e.k === 'and'
          ? (row, rt) => {
              for (const t of terms) if (!t(row, rt)) return false;
              return true;
            }
          : (row, rt) => {
              for (const t of terms) if (t(row, rt)) return true;
              return false;
            };
      }
      case 'not': {
        const inner = predicate(e.expr);
        return (row, rt) => !inner(row, rt);
      }
      case 'cmp':
        return comparison(e.op, operand(e.left), operand(e.right));
      case 'fn':
        return stringFunction(e);
      case 'qfn':
        return queryFunction(e);
      case 'lambda': {
        const collection = scope.collection?.(e.nav);
        if (!collection) throw dvErrors.unknownQueryProperty(e.nav[e.nav.length - 1] as string, scope.qualifiedType);
        const body = e.body === undefined ? undefined : compileFilter(e.body, collection.scope);
        const inner = collection.runtime;
        if (e.op === 'any') return (row) => collection.related(row).some((r) => body === undefined || body(r, inner));
        // `all` over an empty collection is true (OData URL conventions §5.1.1.10).
        return (row) => collection.related(row).every((r) => (body as RowPredicate)(r, inner));
      }
      case 'prop': {
        const o = operand(e);
        if (o.kind !== 'boolean') throw dvErrors.syntax(`The $filter expression must evaluate to a single boolean value.`);
        return (row, rt) => o.eval(row, rt) === true;
      }
      case 'lit':
        if (e.kind !== 'boolean') throw dvErrors.syntax(`The $filter expression must evaluate to a single boolean value.`);
        return () => e.value === true;
    }
  };

  const comparison = (op: CmpOp, l: Operand, r: Operand): RowPredicate => {
    if (l.number) checkNumberFits(r.column, l.number.value, l.number.numberType);
    if (r.number) checkNumberFits(l.column, r.number.value, r.number.numberType);
    if (!compatible(l.kind, r.kind)) {
      throw dvErrors.syntax(
        `A binary operator with incompatible types was detected. Found operand types '${EDM_NAME[l.kind]}' and '${EDM_NAME[r.kind]}' for operator kind '${OP_KIND[op]}'.`,
      );
    }
    const kind = l.kind === 'null' || l.kind === 'other' ? r.kind : l.kind;
    return (row, rt) => {
      const a = l.eval(row, rt);
      const b = r.eval(row, rt);
      const an = a === null || a === undefined;
      const bn = b === null || b === undefined;
      if (an || bn) {
        // SQL semantics as Dataverse applies them: only eq/ne with null are meaningful.
        if (op === 'eq') return an && bn;
        if (op === 'ne') return an !== bn;
        return false;
      }
      const c = compareValues(a, b, kind);
      switch (op) {
        case 'eq':
          return c === 0;
        case 'ne':
          return c !== 0;
        case 'gt':
          return c > 0;
        case 'ge':
          return c >= 0;
        case 'lt':
          return c < 0;
        case 'le':
          return c <= 0;
      }
    };
  };

  const stringFunction = (e: Extract<FilterExpr, { k: 'fn' }>): RowPredicate => {
    if (!STRING_FUNCTIONS.has(e.name)) throw dvErrors.syntax(`An unknown function with name '${e.name}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.`);
    const [a, b] = e.args;
    if (e.args.length !== 2 || !a || !b) throw dvErrors.syntax(`No function signature for the function with name '${e.name}' matches the specified arguments.`);
    const hay = operand(a);
    const needle = operand(b);
    if ((hay.kind !== 'string' && hay.kind !== 'other') || (needle.kind !== 'string' && needle.kind !== 'other')) {
      throw dvErrors.syntax(`No function signature for the function with name '${e.name}' matches the specified arguments. The function signatures considered are: ${e.name}(Edm.String Nullable=true, Edm.String Nullable=true).`);
    }
    const test =
      e.name === 'contains'
        ? (h: string, n: string) => h.includes(n)
        : e.name === 'startswith'
          ? (h: string, n: string) => h.startsWith(n)
          : (h: string, n: string) => h.endsWith(n);
    return (row, rt) => {
      const h = hay.eval(row, rt);
      const n = needle.eval(row, rt);
      if (h === null || h === undefined || n === null || n === undefined) return false;
      return test(fold(String(h)), fold(String(n)));
    };
  };

  const queryFunction = (e: Extract<FilterExpr, { k: 'qfn' }>): RowPredicate => {
    if (!QUERY_FUNCTIONS.has(e.name)) {
      throw dvErrors.syntax(`The query function 'Microsoft.Dynamics.CRM.${e.name}' is not supported by the emulator.`);
    }
    const nameParam = e.params.get('PropertyName');
    if (!nameParam || Array.isArray(nameParam) || nameParam.k !== 'lit' || typeof nameParam.value !== 'string') {
      throw dvErrors.syntax(`The query function '${e.name}' requires a PropertyName parameter.`);
    }
    const path = nameParam.value.split('/');
    const prop = operand({ k: 'prop', path });
    const values = (): unknown[] => {
      const pv = e.params.get('PropertyValues');
      if (!Array.isArray(pv)) throw dvErrors.syntax(`The query function '${e.name}' requires a PropertyValues array.`);
      return pv.map((x) => literalFor(x, prop));
    };
    const cmp = (a: unknown, b: unknown) => compareValues(a, b, prop.kind);
    switch (e.name) {
      case 'In':
      case 'NotIn': {
        // A set of sort keys: a list of thousands of values costs one lookup per row.
        const keys = new Set(values().map((x) => sortKey(x, prop.kind)));
        const negate = e.name === 'NotIn';
        return (row, rt) => {
          const v = prop.eval(row, rt);
          if (v === null || v === undefined) return false;
          return keys.has(sortKey(v, prop.kind)) !== negate;
        };
      }
      case 'Between':
      case 'NotBetween': {
        const vs = values();
        if (vs.length !== 2) throw dvErrors.syntax(`The query function '${e.name}' requires two PropertyValues.`);
        const negate = e.name === 'NotBetween';
        return (row, rt) => {
          const v = prop.eval(row, rt);
          if (v === null || v === undefined) return false;
          return (cmp(v, vs[0]) >= 0 && cmp(v, vs[1]) <= 0) !== negate;
        };
      }
      default: {
        const op = ODATA_FUNCTIONS[e.name] as string;
        const arity = arityOf(op);
        const text = (param: string): string => {
          const p = e.params.get(param);
          if (!p || Array.isArray(p) || p.k !== 'lit' || p.value === null) throw dvErrors.syntax(`The query function '${e.name}' requires a ${param} parameter.`);
          return String(p.value);
        };
        let args: string[] = [];
        if (arity === 'count' || arity === 'date' || arity === 'reference') args = [text('PropertyValue')];
        else if (arity === 'periodAndYear') args = [text('PropertyValue1'), text('PropertyValue2')];
        else if (arity === 'list') {
          const pv = e.params.get('PropertyValues');
          if (!Array.isArray(pv) || pv.length === 0) throw dvErrors.syntax(`The query function '${e.name}' requires a PropertyValues array.`);
          args = pv.map((x) => {
            if (x.k !== 'lit' || x.value === null) throw dvErrors.syntax('Query function parameters must be literals.');
            return String(x.value);
          });
        }
        const test = specialCondition(op, args);
        if (!test) throw dvErrors.syntax(`The value '${clip(args.join(','), 80)}' is not valid for the query function '${e.name}'.`);
        return (row, rt) =>
          test(prop.eval(row, rt), { now: rt.now, userId: rt.userId, businessUnitId: rt.businessUnitId ?? '', ...(rt.parentOf ? { parentOf: rt.parentOf } : {}) });
      }
    }
  };

  return predicate(expr);
}

/** The operands of a chain of one operator (`a and b and c`), left to right, collected without recursion. */
function chainOf(e: Extract<FilterExpr, { k: 'and' | 'or' }>): FilterExpr[] {
  const out: FilterExpr[] = [];
  const stack: FilterExpr[] = [e];
  while (stack.length > 0) {
    const x = stack.pop() as FilterExpr;
    if (x.k === e.k) stack.push(x.right, x.left);
    else out.push(x);
  }
  return out;
}

/** Literal inside a query function (Dataverse passes values as strings: `PropertyValues=['1','2']`), checked against the column. */
function literalFor(e: FilterExpr, prop: Operand): unknown {
  if (e.k !== 'lit') throw dvErrors.syntax('Query function parameters must be literals.');
  if (e.value === null) return null;
  const kind = prop.kind;
  if (kind === 'number') {
    const text = String(e.value).trim();
    const n = NUMBER_RE.test(text) ? numberLiteral(text) : undefined;
    if (!n) throw dvErrors.syntax(`The value '${clip(text, 80)}' is not a valid number for the query function's PropertyValues.`);
    checkNumberFits(prop.column, n.value, n.numberType);
    return n.value;
  }
  if (kind === 'boolean') return e.value === true || e.value === 'true';
  if (kind === 'guid') return String(e.value).toLowerCase();
  if (kind === 'date') return normaliseDateLiteral(String(e.value));
  return e.value;
}

function normaliseDateLiteral(v: string): string {
  const t = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t)) throw dvErrors.syntax(`The DateTimeOffset text '${v}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.`);
  return new Date(t).toISOString();
}

/** Case- and accent-insensitive folding for contains/startswith/endswith (SQL CI_AI collation). */
export function fold(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}
