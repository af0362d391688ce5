/**
 * The conditions, filters and joins of a FetchXML query over the emulator's store: every row of the
 * entity joined with its link-entities (inner, outer, exists, in), filtered by the filters of each
 * table, the link-entities inside filters (any, not any, all, not all) tested per row. ./run.ts orders,
 * pages, shapes and aggregates what this returns.
 */
import type { RequestContext } from '../context';
import { compareValues, fold, sortKey, type ValueKind } from '../filter';
import type { ColumnInfo } from '../schema';
import type { Row } from '../store';
import { specialCondition, timeOf, type ConditionContext, type ValueTest } from '../shared/conditions';
import { invalid, type FetchCondition, type FetchFilterNode, type FetchQueryModel, type FetchTable } from './query';

/** One joined row: the entity's row, then each link-entity's (null when an outer link matched nothing). */
export type Tuple = (Row | null)[];

/**
 * Most joined rows the emulator builds for one query: fifteen one-to-many links can multiply a table
 * into billions of rows, which would take the emulator's memory. Dataverse's own answer to such a
 * query is a timeout; the emulator answers a 400 instead (not documented).
 */
export const MAX_JOINED_ROWS = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Conditions

/** A condition value converted to the column's kind, for comparing. */
function valueFor(column: ColumnInfo, text: string, attribute: string): unknown {
  switch (column.kind) {
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) invalid(`The value '${text}' of the condition on '${attribute}' is not a number.`);
      return n;
    }
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (t !== 'true' && t !== 'false' && t !== '1' && t !== '0') invalid(`The value '${text}' of the condition on '${attribute}' is not a boolean.`);
      return t === 'true' || t === '1';
    }
    case 'guid':
      return text.trim().replace(/^\{|\}$/g, '').toLowerCase();
    case 'date': {
      const t = timeOf(text.trim());
      if (Number.isNaN(t)) invalid(`The value '${text}' of the condition on '${attribute}' is not a date.`);
      return new Date(t).toISOString();
    }
    default:
      return text;
  }
}

/** SQL LIKE (`%`, `_`, `[…]`, `[^…]`) as a regular expression over folded text. */
function likePattern(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '%') out += '[\\s\\S]*';
    else if (c === '_') out += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        const body = pattern.slice(i + 1, end);
        out += `[${body.startsWith('^') ? '^' + body.slice(1).replace(/[\\\]]/g, '\\$&') : body.replace(/[\\\]^]/g, '\\$&')}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

function conditionTest(c: FetchCondition): (value: unknown, cx: ConditionContext) => boolean {
  const kind: ValueKind = c.column.kind;
  const has = (v: unknown) => v !== null && v !== undefined;
  const one = () => valueFor(c.column, c.values[0] as string, c.name);
  const cmp = (a: unknown, b: unknown) => compareValues(a, b, kind);
  switch (c.operator) {
    case 'eq': {
      const v = one();
      return (x) => has(x) && cmp(x, v) === 0;
    }
    case 'ne':
    case 'neq': {
      const v = one();
      return (x) => has(x) && cmp(x, v) !== 0;
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      const v = one();
      const op = c.operator;
      return (x) => {
        if (!has(x)) return false;
        const r = cmp(x, v);
        return op === 'gt' ? r > 0 : op === 'ge' ? r >= 0 : op === 'lt' ? r < 0 : r <= 0;
      };
    }
    case 'like':
    case 'not-like':
    case 'begins-with':
    case 'not-begin-with':
    case 'ends-with':
    case 'not-end-with': {
      const raw = c.values[0] as string;
      const pattern = c.operator.includes('begin') ? `${raw}%` : c.operator.includes('end') ? `%${raw}` : raw;
      const re = likePattern(fold(pattern));
      const negate = c.operator.startsWith('not-');
      return (x) => has(x) && re.test(fold(String(x))) !== negate;
    }
    case 'in':
    case 'not-in': {
      // A set of sort keys: a list of thousands of values is tested once per row, not value by value.
      const keys = new Set(c.values.map((t) => sortKey(valueFor(c.column, t, c.name), kind)));
      const negate = c.operator === 'not-in';
      return (x) => has(x) && keys.has(sortKey(x, kind)) !== negate;
    }
    case 'between':
    case 'not-between': {
      const [lo, hi] = c.values.map((t) => valueFor(c.column, t, c.name));
      const negate = c.operator === 'not-between';
      return (x) => has(x) && (cmp(x, lo) >= 0 && cmp(x, hi) <= 0) !== negate;
    }
    case 'null':
      return (x) => !has(x);
    case 'not-null':
      return (x) => has(x);
    default: {
      const test: ValueTest | undefined = specialCondition(c.operator, c.values);
      if (!test) invalid(`The value of the condition '${c.operator}' on '${c.name}' is not valid.`);
      return test;
    }
  }
}

type TuplePredicate = (tuple: Tuple) => boolean;
/** The test of a link-entity inside a filter, by its table index. */
type LinkTests = (table: number) => TuplePredicate;

function compileFilter(filter: FetchFilterNode, cx: (node: number) => ConditionContext, links: LinkTests): TuplePredicate {
  const parts: TuplePredicate[] = [
    ...filter.conditions.map((c): TuplePredicate => {
      const test = conditionTest(c);
      const context = cx(c.node);
      const name = c.column.name;
      return (tuple) => {
        const row = tuple[c.node];
        return row !== null && row !== undefined && test(row[name], context);
      };
    }),
    ...filter.filters.map((f) => compileFilter(f, cx, links)),
    ...(filter.links ?? []).map(links),
  ];
  if (filter.type === 'and') return (t) => parts.every((p) => p(t));
  return (t) => parts.some((p) => p(t));
}

// ---------------------------------------------------------------------------------------------
// Joins

const joinValue = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v).toLowerCase());

/** The rows of `set` by their value of `column` (as joins compare them). */
function indexBy(ctx: RequestContext, set: string, column: string): Map<string, Row[]> {
  const index = new Map<string, Row[]>();
  for (const row of ctx.env.store.allRows(set)) {
    const key = joinValue(row[column]);
    if (key === undefined) continue;
    const list = index.get(key);
    if (list) list.push(row);
    else index.set(key, [row]);
  }
  return index;
}

/**
 * Tests of the link-entities inside filters (filter-rows.md, "Filter on values in related records"):
 * the related rows are those whose `from` matches the parent's `to`, and the link's own filter is
 * what each must (or must not) satisfy. `any`: at least one satisfies it; `not any`: none does;
 * `all`: every one does, which holds when there is none; `not all`: at least one does not.
 */
function filterLinkTests(ctx: RequestContext, model: FetchQueryModel, cx: (node: number) => ConditionContext): LinkTests {
  const tests: LinkTests = (index) => {
    const table = model.tables[index] as FetchTable;
    const from = (table.from as ColumnInfo).name;
    const to = (table.to as ColumnInfo).name;
    const own = table.filter ? compileFilter(table.filter, cx, tests) : undefined;
    let related: Map<string, Row[]> | undefined;
    const satisfies = (tuple: Tuple, row: Row): boolean => {
      if (own === undefined) return true;
      const candidate = tuple.slice();
      candidate[index] = row;
      return own(candidate);
    };
    return (tuple) => {
      related ??= indexBy(ctx, table.set.name, from);
      const parent = tuple[table.parent as number];
      const key = parent ? joinValue(parent[to]) : undefined;
      const rows = key === undefined ? [] : (related.get(key) ?? []);
      switch (table.linkType) {
        case 'any':
          return rows.some((r) => satisfies(tuple, r));
        case 'not any':
          return !rows.some((r) => satisfies(tuple, r));
        case 'all':
          return rows.every((r) => satisfies(tuple, r));
        default:
          return !rows.every((r) => satisfies(tuple, r));
      }
    };
  };
  return tests;
}

export function joinedTuples(ctx: RequestContext, model: FetchQueryModel, cx: (node: number) => ConditionContext): Tuple[] {
  const n = model.tables.length;
  let tuples: Tuple[] = [];
  for (const row of ctx.env.store.allRows((model.tables[0] as FetchTable).set.name)) {
    const t: Tuple = new Array<Row | null>(n).fill(null);
    t[0] = row;
    tuples.push(t);
  }
  const linkTests = filterLinkTests(ctx, model, cx);
  for (let i = 1; i < n; i++) {
    const table = model.tables[i] as FetchTable;
    // A link-entity inside a filter is a test of its parent row (filterLinkTests), not a join.
    if (table.inFilter) continue;
    const index = indexBy(ctx, table.set.name, (table.from as ColumnInfo).name);
    const own = table.filter ? compileFilter(table.filter, cx, linkTests) : undefined;
    const to = (table.to as ColumnInfo).name;
    const next: Tuple[] = [];
    // exists and in: the parent row stays once if any linked row matches, and the link adds no row.
    const semi = table.linkType === 'exists' || table.linkType === 'in';
    for (const tuple of tuples) {
      const parent = tuple[table.parent as number];
      const key = parent ? joinValue(parent[to]) : undefined;
      let matched = false;
      for (const row of key === undefined ? [] : (index.get(key) ?? [])) {
        const candidate = tuple.slice();
        candidate[i] = row;
        // A link-entity's own filter decides which of its rows match, not which parent rows stay.
        if (own && !own(candidate)) continue;
        matched = true;
        if (semi) break;
        next.push(candidate);
      }
      if (matched && semi) next.push(tuple);
      if (!matched && table.linkType === 'outer') next.push(tuple);
      if (next.length > MAX_JOINED_ROWS) invalid(`The query joins more than ${MAX_JOINED_ROWS.toLocaleString('en-US')} rows, more than the emulator evaluates; narrow it with filters on the linked tables.`);
    }
    tuples = next;
  }
  const root = (model.tables[0] as FetchTable).filter;
  if (root) {
    const p = compileFilter(root, cx, linkTests);
    tuples = tuples.filter(p);
  }
  return tuples;
}
