/**
 * A typed FetchXML builder over the generated models
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/overview). Attribute names
 * are checked at compile time against the table's columns (lookups by their logical name,
 * `parentcustomerid`, as FetchXML names them), and the row type follows the selection: a column's
 * key (`_x_value` for an unaliased lookup), an alias, `alias.column` for a linked table's columns, an
 * aggregate's alias. FetchXML leaves null columns out of a row, so every selected key is optional.
 *
 * ```ts
 * const fx = fetchXml<Schema>();
 * const query = fx('account')
 *   .select('name', 'revenue')
 *   .where({ statecode: 0, revenue: { gt: 1000 }, or: [{ name: { like: 'C%' } }, { address1_city: 'Lisbon' }] })
 *   .link('contact', { from: 'parentcustomerid', to: 'accountid', alias: 'c', type: 'outer' }, (c) => c.select('fullname'))
 *   .orderBy('name');
 * for await (const row of client.fetchXml('accounts', query)) console.log(row.name, row['c.fullname']);
 * ```
 *
 * Builders are immutable: each method returns a new one, so a base query can be extended in several
 * ways. `toXml()` writes the `<fetch>` document; values are XML-escaped.
 */
import { invalidArgument } from '../fail';
import { escapeXml } from './xml';

// ---------------------------------------------------------------------------------------------
// Types over the generated schema

/** The schema entry (`{ read, model, … }`) whose model has logical name `L`; `never` when there is none. */
export type EntryOf<S, L extends string> = { [E in keyof S]: S[E] extends { model: { logicalName: L } } ? S[E] : never }[keyof S];

/** The read type of the table with logical name `L`, or an untyped record when the schema has no model for it. */
export type ReadOfLogical<S, L extends string> = [EntryOf<S, L>] extends [never] ? Record<string, unknown> : EntryOf<S, L> extends { read: infer R } ? R : Record<string, unknown>;

/** The primary key column of the table with logical name `L`, or `never`. */
type PrimaryKeyOf<S, L extends string> = [EntryOf<S, L>] extends [never] ? never : EntryOf<S, L> extends { model: { primaryKey: infer K extends string } } ? K : never;

/** Logical names of the tables a schema has models for (any string without a schema). */
export type LogicalNameOf<S> = string extends keyof S ? string : { [E in keyof S]: S[E] extends { model: { logicalName: infer L extends string } } ? L : never }[keyof S];

/** FetchXML attribute names of a read type: its columns, lookups by their logical name (`_x_value` → `x`). */
export type AttributeOf<R> = string extends keyof R ? string : { [K in keyof R & string]: K extends `_${infer N}_value` ? N : K extends `@${string}` ? never : K }[keyof R & string];

/** The read-type key an attribute's value comes back under when not aliased (`parentcustomerid` → `_parentcustomerid_value`). */
export type ResultKeyOf<R, A extends string> = A extends keyof R ? A : `_${A}_value` extends keyof R ? `_${A}_value` : A;

/** The value type of attribute `A` (null left out: FetchXML omits null columns). */
export type AttributeValue<R, A extends string> = A extends keyof R ? NonNullable<R[A]> : `_${A}_value` extends keyof R ? NonNullable<R[`_${A}_value`]> : unknown;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Aggregate functions of `<attribute aggregate='…'>` (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/aggregate-data). */
export type AggregateFunction = 'count' | 'countcolumn' | 'sum' | 'avg' | 'min' | 'max';

/** Date grouping of `<attribute groupby='true' dategrouping='…'>`. */
export type DateGrouping = 'day' | 'week' | 'month' | 'quarter' | 'year' | 'fiscal-period' | 'fiscal-year';

/** An aggregate: `[attribute, function]`, or `[attribute, 'countcolumn', { distinct: true }]`. */
export type AggregateSpec<A extends string> = readonly [A, AggregateFunction] | readonly [A, 'countcolumn', { distinct: boolean }];

/** A group: an attribute, or `[attribute, dategrouping]`. */
export type GroupSpec<A extends string> = A | readonly [A, DateGrouping];

type AggregateValue<R, Spec> = Spec extends readonly [infer A extends string, infer F]
  ? F extends 'count' | 'countcolumn' | 'sum' | 'avg'
    ? number
    : AttributeValue<R, A>
  : never;

type GroupValue<R, Spec> = Spec extends readonly [string, DateGrouping] ? number : Spec extends string ? AttributeValue<R, Spec> : never;

// ---------------------------------------------------------------------------------------------
// Conditions (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/operators)

/** A value in a condition: dates go as ISO 8601 text, booleans as 1/0. */
export type FetchValue = string | number | boolean | Date;

/** The operators of one condition, by their FetchXML names. Those without a value take `true`. */
export interface FetchOperators<V = FetchValue> {
  eq?: V;
  ne?: V;
  gt?: V;
  ge?: V;
  lt?: V;
  le?: V;
  like?: string;
  'not-like'?: string;
  'begins-with'?: string;
  'ends-with'?: string;
  in?: readonly V[];
  'not-in'?: readonly V[];
  between?: readonly [V, V];
  'not-between'?: readonly [V, V];
  null?: true;
  'not-null'?: true;
  on?: string | Date;
  'on-or-after'?: string | Date;
  'on-or-before'?: string | Date;
  today?: true;
  yesterday?: true;
  tomorrow?: true;
  'this-week'?: true;
  'this-month'?: true;
  'this-year'?: true;
  'last-month'?: true;
  'last-year'?: true;
  'last-x-hours'?: number;
  'next-x-hours'?: number;
  'last-x-days'?: number;
  'next-x-days'?: number;
  'last-x-weeks'?: number;
  'next-x-weeks'?: number;
  'last-x-months'?: number;
  'next-x-months'?: number;
  'last-x-years'?: number;
  'next-x-years'?: number;
  'olderthan-x-days'?: number;
  'eq-userid'?: true;
  'ne-userid'?: true;
  'eq-businessid'?: true;
  under?: string;
  'eq-or-under'?: string;
  'not-under'?: string;
  above?: string;
  'eq-or-above'?: string;
}

/** The condition on one attribute: a value (`eq`), `null` (the `null` operator), or operators. */
export type FetchCondition<V = FetchValue> = V | null | FetchOperators<V>;

/**
 * A `<filter>` as an object: each key is an attribute of the table (or `alias.attribute` of a linked
 * one, written as `entityname`), and keys combine with `and`; `and`/`or` take lists of nested filters.
 *
 * @example { statecode: 0, revenue: { gt: 1000 }, or: [{ name: { like: 'C%' } }, { 'c.fullname': { 'not-null': true } }] }
 */
export type FetchFilter<R> = string extends AttributeOf<R>
  ? UntypedFetchFilter
  : { readonly [A in AttributeOf<R>]?: FetchCondition<ConditionValue<AttributeValue<R, A>>> } & {
      readonly [linked: `${string}.${string}`]: FetchCondition | undefined;
    } & {
      and?: ReadonlyArray<FetchFilter<R>>;
      or?: ReadonlyArray<FetchFilter<R>>;
    };

/**
 * A filter on a table without a generated model: any attribute name, and `and`/`or` lists (an index
 * signature over every string would otherwise also claim `and` and `or` as attributes).
 */
export type UntypedFetchFilter = { readonly and?: ReadonlyArray<UntypedFetchFilter>; readonly or?: ReadonlyArray<UntypedFetchFilter> } & {
  readonly [attribute: string]: FetchCondition | ReadonlyArray<UntypedFetchFilter> | undefined;
};

type ConditionValue<V> = [V] extends [number] ? V : [V] extends [boolean] ? boolean : [V] extends [string] ? string | Date : FetchValue;

// ---------------------------------------------------------------------------------------------
// The builder

interface Order {
  attribute?: string;
  alias?: string;
  entityname?: string;
  descending: boolean;
}

interface LinkSpec {
  name: string;
  from: string;
  to: string;
  alias?: string;
  type: string;
  intersect?: boolean;
  node: Node;
}

/** The parts of an `<entity>` or `<link-entity>`, as built so far. */
interface Node {
  allAttributes: boolean;
  attributes: Array<{ name: string; alias?: string; aggregate?: string; distinct?: boolean; groupby?: boolean; dategrouping?: string }>;
  filter?: { type: 'and' | 'or'; conditions: unknown };
  filters: unknown[];
  orders: Order[];
  links: LinkSpec[];
  /** Link-entities written inside the node's filter (`any`, `not any`, `all`, `not all`). */
  filterLinks?: LinkSpec[];
}

interface FetchSettings {
  top?: number;
  distinct?: boolean;
  aggregate?: boolean;
  aggregateLimit?: number;
  noLock?: boolean;
}

const EMPTY: Node = { allAttributes: false, attributes: [], filters: [], orders: [], links: [] };

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function checkName(value: unknown, argument: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) throw invalidArgument(argument, 'a logical name such as "account" or "parentcustomerid"', value);
  return value;
}

/** Options of a `<link-entity>` (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/link-entity). */
export interface LinkOptions<FromAttr extends string = string, ToAttr extends string = string> {
  /** The attribute of the linked table that matches `to` (e.g. `parentcustomerid`). */
  from: FromAttr;
  /** The attribute of this table that `from` matches (e.g. `accountid`). */
  to: ToAttr;
  /** Names the linked table's columns in rows (`alias.column`). Default: its logical name. */
  alias?: string;
  /** `inner` (default): only rows with a match; `outer`: every row, linked columns absent when nothing matches. */
  type?: 'inner' | 'outer';
  /** The link-entity is an N:N intersect table. Default false. */
  intersect?: boolean;
}

/** Deepest nesting of `and`/`or` filters written (a cycle or a runaway object stops here). */
const MAX_FILTER_DEPTH = 50;

function conditionValue(value: unknown, path: string): string {
  if (typeof value === 'string') return escapeXml(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
  throw invalidArgument(path, 'a string, finite number, boolean or valid Date', value);
}

/** Operators that take a list of `<value>` elements. */
const LIST_OPERATORS = new Set(['in', 'not-in', 'between', 'not-between']);

function writeCondition(attribute: string, condition: unknown, out: string[], path: string): void {
  const dot = attribute.indexOf('.');
  const target = dot < 0 ? `attribute='${checkName(attribute, path)}'` : `entityname='${checkName(attribute.slice(0, dot), path)}' attribute='${checkName(attribute.slice(dot + 1), path)}'`;
  const one = (operator: string, value: unknown, where: string): void => {
    if (value === undefined) throw invalidArgument(where, 'a value (an undefined condition would be dropped and widen the query)', value);
    if (value === true && !['eq', 'ne'].includes(operator)) {
      out.push(`<condition ${target} operator='${operator}'/>`);
      return;
    }
    if (LIST_OPERATORS.has(operator)) {
      if (!Array.isArray(value) || value.length === 0) throw invalidArgument(where, 'a non-empty array of values (an empty list is refused: skip the query)', value);
      if (operator.endsWith('between') && value.length !== 2) throw invalidArgument(where, 'an array of two values [from, to]', value);
      out.push(`<condition ${target} operator='${operator}'>${value.map((v: unknown, i) => `<value>${conditionValue(v, `${where}[${i}]`)}</value>`).join('')}</condition>`);
      return;
    }
    if (!/^[a-z][a-z-]*$/.test(operator)) throw invalidArgument(where, 'a FetchXML condition operator such as eq, like, last-x-days', operator);
    out.push(`<condition ${target} operator='${operator}' value='${conditionValue(value, where)}'/>`);
  };
  if (condition === null) {
    out.push(`<condition ${target} operator='null'/>`);
    return;
  }
  if (condition === undefined) throw invalidArgument(path, 'a value (an undefined condition would be dropped and widen the query)', condition);
  if (typeof condition === 'object' && !(condition instanceof Date) && !Array.isArray(condition)) {
    const entries = Object.entries(condition as Record<string, unknown>);
    if (entries.length === 0) throw invalidArgument(path, 'a non-empty condition', condition);
    for (const [operator, value] of entries) one(operator, value, `${path}.${operator}`);
    return;
  }
  one('eq', condition, path);
}

function writeFilter(filter: Record<string, unknown>, type: 'and' | 'or', out: string[], path: string, depth: number): void {
  if (depth > MAX_FILTER_DEPTH) throw invalidArgument(path, `filters nested at most ${MAX_FILTER_DEPTH} deep`);
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw invalidArgument(path, 'a filter object', filter);
  const keys = Object.keys(filter);
  if (keys.length === 0) throw invalidArgument(path, 'a non-empty filter (an empty one would match every row)', filter);
  out.push(`<filter type='${type}'>`);
  for (const key of keys) {
    const value = filter[key];
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(value) || value.length === 0) throw invalidArgument(`${path}.${key}`, 'a non-empty array of filters', value);
      out.push(`<filter type='${key}'>`);
      value.forEach((f: unknown, i) => writeFilter(f as Record<string, unknown>, 'and', out, `${path}.${key}[${i}]`, depth + 1));
      out.push('</filter>');
    } else writeCondition(key, value, out, `${path}.${key}`);
  }
  out.push('</filter>');
}

/**
 * A FetchXML query on table `L` (or, inside {@link FetchQuery.link}, a linked table): attributes,
 * filters, orders, links, and the `<fetch>` settings (`top`, `distinct`, aggregates). `Row` is the row
 * type the selection gives. Create one with {@link fetchXml}; every method returns a new query.
 */
export class FetchQuery<S, L extends string, Row extends object = object, Aggregated extends boolean = false> {
  /** The table's logical name (`<entity name>`). */
  readonly entity: L;
  /** @internal */
  readonly node: Node;
  /** @internal */
  readonly settings: FetchSettings;
  /** The row type (phantom, never set): what `client.fetchXml` types its rows with. */
  declare readonly rowType?: Row;
  /** Whether the query aggregates (phantom, never set). */
  declare readonly aggregated?: Aggregated;

  /** @internal Use {@link fetchXml}. */
  constructor(entity: L, node: Node = EMPTY, settings: FetchSettings = {}) {
    this.entity = entity;
    this.node = node;
    this.settings = settings;
  }

  #with(node: Partial<Node>, settings: FetchSettings = {}): never {
    return new FetchQuery(this.entity, { ...this.node, ...node }, { ...this.settings, ...settings }) as never;
  }

  /**
   * `<attribute name='…'/>` for each column; `{ alias: column }` for aliased ones (the row key is then the alias).
   *
   * @example .select('name', 'parentcustomerid') .select({ created: 'createdon' })
   */
  select<A extends AttributeOf<ReadOfLogical<S, L>>>(
    ...attributes: A[]
  ): FetchQuery<S, L, Row & { [K in A as ResultKeyOf<ReadOfLogical<S, L>, K>]?: AttributeValue<ReadOfLogical<S, L>, K> }, Aggregated>;
  select<M extends Readonly<Record<string, AttributeOf<ReadOfLogical<S, L>>>>>(aliases: M): FetchQuery<S, L, Row & { [K in keyof M]?: AttributeValue<ReadOfLogical<S, L>, M[K]> }, Aggregated>;
  select(...args: unknown[]): unknown {
    const added: Node['attributes'] = [];
    if (args.length === 1 && args[0] !== null && typeof args[0] === 'object') {
      for (const [alias, name] of Object.entries(args[0] as Record<string, unknown>)) added.push({ name: checkName(name, `select.${alias}`), alias: checkName(alias, 'select (alias)') });
    } else {
      if (args.length === 0) throw invalidArgument('select', 'one or more attribute names, or { alias: attribute }');
      args.forEach((name, i) => added.push({ name: checkName(name, `select[${i}]`) }));
    }
    return this.#with({ attributes: [...this.node.attributes, ...added] });
  }

  /** `<all-attributes/>`: every column (slow on wide tables). */
  allAttributes(): FetchQuery<S, L, Row & Partial<{ [K in keyof ReadOfLogical<S, L>]: NonNullable<ReadOfLogical<S, L>[K]> }>, Aggregated> {
    return this.#with({ allAttributes: true });
  }

  /** A `<filter>` (several calls are joined with `and`). See {@link FetchFilter}. */
  where(filter: FetchFilter<ReadOfLogical<S, L>>): FetchQuery<S, L, Row, Aggregated> {
    if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw invalidArgument('where', 'a filter object such as { statecode: 0 }', filter);
    // Written now, so that a bad value fails at the call rather than when the query is sent.
    writeFilter(filter as Record<string, unknown>, 'and', [], 'where', 0);
    return this.#with({ filters: [...this.node.filters, filter] });
  }

  /** `<order attribute='…' descending='true'/>`; `{ alias }` orders by an aliased or aggregate column; `{ entityname, attribute }` by a linked table's column. */
  orderBy(attribute: AttributeOf<ReadOfLogical<S, L>> | { alias: string } | { entityname: string; attribute: string }, direction: 'asc' | 'desc' = 'asc'): FetchQuery<S, L, Row, Aggregated> {
    if (direction !== 'asc' && direction !== 'desc') throw invalidArgument('orderBy direction', "'asc' or 'desc'", direction);
    const order: Order = { descending: direction === 'desc' };
    if (typeof attribute === 'string') order.attribute = checkName(attribute, 'orderBy');
    else if (attribute !== null && typeof attribute === 'object' && 'alias' in attribute) order.alias = checkName(attribute.alias, 'orderBy.alias');
    else if (attribute !== null && typeof attribute === 'object' && 'entityname' in attribute) {
      order.entityname = checkName(attribute.entityname, 'orderBy.entityname');
      order.attribute = checkName(attribute.attribute, 'orderBy.attribute');
    } else throw invalidArgument('orderBy', 'an attribute name, { alias } or { entityname, attribute }', attribute);
    return this.#with({ orders: [...this.node.orders, order] });
  }

  /**
   * `<link-entity name='…' from='…' to='…' alias='…' link-type='…'>`: joins another table. Its columns
   * come back as `alias.column` (`name.column` without an alias). The builder handed to `build` takes
   * attributes, filters, orders and nested links; its `<fetch>` settings are not used.
   *
   * @example .link('contact', { from: 'parentcustomerid', to: 'accountid', alias: 'c', type: 'outer' }, (c) => c.select('fullname'))
   */
  link<L2 extends LogicalNameOf<S>, Alias extends string = L2, LinkRow extends object = object>(
    name: L2,
    options: LinkOptions<AttributeOf<ReadOfLogical<S, L2>>, AttributeOf<ReadOfLogical<S, L>>> & { alias?: Alias },
    build?: (link: FetchQuery<S, L2>) => FetchQuery<S, L2, LinkRow, boolean>,
  ): FetchQuery<S, L, Row & { [K in keyof LinkRow as K extends string ? `${Alias}.${K}` : never]: LinkRow[K] }, Aggregated> {
    if (options === null || typeof options !== 'object') throw invalidArgument('link options', '{ from, to, alias?, type? }', options);
    const type = options.type ?? 'inner';
    if (type !== 'inner' && type !== 'outer') throw invalidArgument('link options.type', "'inner' or 'outer'", type);
    const start = new FetchQuery<S, L2>(checkName(name, 'link name') as L2);
    const inner: unknown = build === undefined ? start : build(start);
    if (!(inner instanceof FetchQuery)) throw invalidArgument('link build', 'a function returning the link builder it was given', inner);
    const spec: LinkSpec = {
      name: start.entity,
      from: checkName(options.from, 'link options.from'),
      to: checkName(options.to, 'link options.to'),
      type,
      node: inner.node,
      ...(options.alias !== undefined ? { alias: checkName(options.alias, 'link options.alias') } : {}),
      ...(options.intersect === true ? { intersect: true } : {}),
    };
    return this.#with({ links: [...this.node.links, spec] });
  }

  /**
   * `<link-entity … link-type='exists'>` (or `'in'`): keeps only the rows that have at least one related
   * row matching the filters given in `build`, each row once, and adds no columns (join-tables.md, "Use
   * `exists` or `in` link types"). Cheaper than an inner join when many related rows match.
   *
   * @example fx('contact').select('fullname').whereExists('account', { from: 'primarycontactid', to: 'contactid' }, (a) => a.where({ statecode: 1 }))
   */
  whereExists<L2 extends LogicalNameOf<S>>(
    name: L2,
    options: { from: AttributeOf<ReadOfLogical<S, L2>>; to: AttributeOf<ReadOfLogical<S, L>>; type?: 'exists' | 'in' },
    build?: (link: FetchQuery<S, L2>) => FetchQuery<S, L2, object, boolean>,
  ): FetchQuery<S, L, Row, Aggregated> {
    if (options === null || typeof options !== 'object') throw invalidArgument('whereExists options', '{ from, to, type? }', options);
    const type = options.type ?? 'exists';
    if (type !== 'exists' && type !== 'in') throw invalidArgument('whereExists options.type', "'exists' or 'in'", type);
    const spec = this.#noColumnsLink('whereExists', name, options, type, build);
    return this.#with({ links: [...this.node.links, spec] });
  }

  /**
   * A `<link-entity link-type='any'>` (or `not any`, `all`, `not all`) inside this table's filter: keeps
   * the rows by their related rows, without returning any of their columns (filter-rows.md, "Filter on
   * values in related records"). `any`: some related row matches the filters in `build`; `not any`:
   * none does; `all`: every related row does (also when there is none); `not all`: some does not.
   * Joined with `and` to the other filters.
   *
   * @example fx('account').select('name').whereRelated('contact', { from: 'parentcustomerid', to: 'accountid', type: 'not any' }, (c) => c.where({ statecode: 0 }))
   */
  whereRelated<L2 extends LogicalNameOf<S>>(
    name: L2,
    options: { from: AttributeOf<ReadOfLogical<S, L2>>; to: AttributeOf<ReadOfLogical<S, L>>; type: 'any' | 'not any' | 'all' | 'not all' },
    build?: (link: FetchQuery<S, L2>) => FetchQuery<S, L2, object, boolean>,
  ): FetchQuery<S, L, Row, Aggregated> {
    if (options === null || typeof options !== 'object') throw invalidArgument('whereRelated options', "{ from, to, type: 'any' | 'not any' | 'all' | 'not all' }", options);
    const type = options.type;
    if (type !== 'any' && type !== 'not any' && type !== 'all' && type !== 'not all') throw invalidArgument('whereRelated options.type', "'any', 'not any', 'all' or 'not all'", type);
    const spec = this.#noColumnsLink('whereRelated', name, options, type, build);
    return this.#with({ filterLinks: [...(this.node.filterLinks ?? []), spec] });
  }

  /** A link-entity that returns no columns (exists, in, and the filter link types): filters and filter links only. */
  #noColumnsLink<L2 extends LogicalNameOf<S>>(method: string, name: L2, options: { from: string; to: string }, type: string, build?: (link: FetchQuery<S, L2>) => FetchQuery<S, L2, object, boolean>): LinkSpec {
    const start = new FetchQuery<S, L2>(checkName(name, `${method} name`) as L2);
    const inner: unknown = build === undefined ? start : build(start);
    if (!(inner instanceof FetchQuery)) throw invalidArgument(`${method} build`, 'a function returning the link builder it was given', inner);
    const node = (inner as FetchQuery<S, L2>).node;
    // The service returns no column of such a link: selecting, ordering or joining under it would be a mistake.
    if (node.attributes.length > 0 || node.allAttributes || node.orders.length > 0 || node.links.length > 0) {
      throw invalidArgument(`${method} build`, 'filters only (where, whereRelated), without select(), orderBy() or link(): this link returns no columns');
    }
    return { name: start.entity, from: checkName(options.from, `${method} options.from`), to: checkName(options.to, `${method} options.to`), type, node };
  }

  /** `top='n'`: at most n rows (1–5000), in one page; it cannot be combined with paging. */
  top(n: number): FetchQuery<S, L, Row, Aggregated> {
    if (!Number.isSafeInteger(n) || n < 1 || n > 5000) throw invalidArgument('top', 'a whole number from 1 to 5000', n);
    return this.#with({}, { top: n });
  }

  /** `distinct='true'`: no duplicate rows. Give an order: Dataverse orders distinct queries only as asked. */
  distinct(): FetchQuery<S, L, Row, Aggregated> {
    return this.#with({}, { distinct: true });
  }

  /**
   * Aggregates by alias (sets `aggregate='true'`): `{ total: ['revenue', 'sum'], n: ['accountid', 'count'] }`.
   * Each becomes `<attribute name='…' alias='…' aggregate='…'/>`; counts, sums and averages are numbers.
   */
  aggregate<M extends Readonly<Record<string, AggregateSpec<AttributeOf<ReadOfLogical<S, L>>>>>>(
    aggregates: M,
  ): FetchQuery<S, L, (Aggregated extends true ? Row : object) & { [K in keyof M]: AggregateValue<ReadOfLogical<S, L>, M[K]> }, true> {
    if (aggregates === null || typeof aggregates !== 'object' || Object.keys(aggregates).length === 0) throw invalidArgument('aggregate', 'an object of aggregates such as { total: ["revenue", "sum"] }', aggregates);
    const added = Object.entries(aggregates as Record<string, readonly unknown[]>).map(([alias, spec]) => {
      if (!Array.isArray(spec) || spec.length < 2) throw invalidArgument(`aggregate.${alias}`, '[attribute, function]', spec);
      const fn = spec[1];
      if (!['count', 'countcolumn', 'sum', 'avg', 'min', 'max'].includes(fn as string)) throw invalidArgument(`aggregate.${alias}`, 'one of count, countcolumn, sum, avg, min, max', fn);
      const distinct = (spec[2] as { distinct?: boolean } | undefined)?.distinct === true;
      return { name: checkName(spec[0], `aggregate.${alias}`), alias: checkName(alias, 'aggregate (alias)'), aggregate: fn as string, ...(distinct ? { distinct } : {}) };
    });
    return this.#with({ attributes: [...this.node.attributes, ...added] }, { aggregate: true });
  }

  /** Groups by alias (sets `aggregate='true'`): `{ city: 'address1_city', month: ['createdon', 'month'] }`. A null group has no key. */
  groupBy<M extends Readonly<Record<string, GroupSpec<AttributeOf<ReadOfLogical<S, L>>>>>>(
    groups: M,
  ): FetchQuery<S, L, (Aggregated extends true ? Row : object) & { [K in keyof M]?: GroupValue<ReadOfLogical<S, L>, M[K]> }, true> {
    if (groups === null || typeof groups !== 'object' || Object.keys(groups).length === 0) throw invalidArgument('groupBy', 'an object of groups such as { city: "address1_city" }', groups);
    const added = Object.entries(groups as Record<string, unknown>).map(([alias, spec]) => {
      const [name, grouping] = Array.isArray(spec) ? spec : [spec, undefined];
      if (grouping !== undefined && !['day', 'week', 'month', 'quarter', 'year', 'fiscal-period', 'fiscal-year'].includes(grouping as string)) {
        throw invalidArgument(`groupBy.${alias}`, 'a date grouping: day, week, month, quarter, year, fiscal-period or fiscal-year', grouping);
      }
      return { name: checkName(name, `groupBy.${alias}`), alias: checkName(alias, 'groupBy (alias)'), groupby: true, ...(grouping !== undefined ? { dategrouping: grouping as string } : {}) };
    });
    return this.#with({ attributes: [...this.node.attributes, ...added] }, { aggregate: true });
  }

  /** `aggregatelimit='n'`: fail an aggregate over more than n rows (it can only lower Dataverse's 50,000). */
  aggregateLimit(n: number): FetchQuery<S, L, Row, Aggregated> {
    if (!Number.isSafeInteger(n) || n < 1 || n > 50_000) throw invalidArgument('aggregateLimit', 'a whole number from 1 to 50000', n);
    return this.#with({}, { aggregateLimit: n });
  }

  /** The `<fetch>` document. */
  toXml(): string {
    const s = this.settings;
    let head = '<fetch';
    if (s.top !== undefined) head += ` top='${s.top}'`;
    if (s.distinct) head += ` distinct='true'`;
    if (s.aggregate) head += ` aggregate='true'`;
    if (s.aggregateLimit !== undefined) head += ` aggregatelimit='${s.aggregateLimit}'`;
    const out = [`${head}>`, `<entity name='${this.entity}'>`];
    writeChildren(this.node, out);
    out.push('</entity>', '</fetch>');
    return out.join('');
  }

  toString(): string {
    return this.toXml();
  }
}

/** Writes a node's children: attributes, orders, filters, links. */
function writeChildren(n: Node, out: string[]): void {
  if (n.allAttributes) out.push('<all-attributes/>');
  for (const a of n.attributes) {
    let tag = `<attribute name='${a.name}'`;
    if (a.alias !== undefined) tag += ` alias='${a.alias}'`;
    if (a.aggregate !== undefined) tag += ` aggregate='${a.aggregate}'`;
    if (a.distinct) tag += ` distinct='true'`;
    if (a.groupby) tag += ` groupby='true'`;
    if (a.dategrouping !== undefined) tag += ` dategrouping='${a.dategrouping}'`;
    out.push(`${tag}/>`);
  }
  for (const o of n.orders) {
    let tag = '<order';
    if (o.entityname !== undefined) tag += ` entityname='${o.entityname}'`;
    if (o.attribute !== undefined) tag += ` attribute='${o.attribute}'`;
    if (o.alias !== undefined) tag += ` alias='${o.alias}'`;
    out.push(`${tag}${o.descending ? " descending='true'" : ''}/>`);
  }
  const filterLinks = n.filterLinks ?? [];
  if (n.filters.length === 1 && filterLinks.length === 0) writeFilter(n.filters[0] as Record<string, unknown>, 'and', out, 'where', 0);
  else if (n.filters.length > 0 || filterLinks.length > 0) {
    out.push("<filter type='and'>");
    n.filters.forEach((f, i) => writeFilter(f as Record<string, unknown>, 'and', out, n.filters.length === 1 ? 'where' : `where[${i}]`, 1));
    for (const l of filterLinks) writeLink(l, out);
    out.push('</filter>');
  }
  for (const l of n.links) writeLink(l, out);
}

function writeLink(l: LinkSpec, out: string[]): void {
  let tag = `<link-entity name='${l.name}' from='${l.from}' to='${l.to}' link-type='${l.type}'`;
  if (l.alias !== undefined) tag += ` alias='${l.alias}'`;
  if (l.intersect) tag += ` intersect='true'`;
  const children: string[] = [];
  writeChildren(l.node, children);
  out.push(children.length === 0 ? `${tag}/>` : `${tag}>${children.join('')}</link-entity>`);
}

/** What `client.fetchXml` takes besides FetchXML text: a query that writes itself (a {@link FetchQuery}). */
export interface FetchXmlSource {
  /** The logical name of the table the query reads (`<entity name>`). */
  readonly entity: string;
  toXml(): string;
}

/**
 * The rows query `Q` gives: its selection, plus the primary key and `@odata.etag` unless it aggregates
 * (FetchXML always returns the key of the table it reads).
 */
export type FetchRowOf<S, Q> = Q extends { readonly entity: infer L extends string; readonly rowType?: infer Row; readonly aggregated?: infer A }
  ? true extends A
    ? Simplify<NonNullable<Row>>
    : Simplify<NonNullable<Row> & { '@odata.etag'?: string } & { [K in PrimaryKeyOf<S, L>]: string }>
  : Record<string, unknown>;

/** Starts queries on the tables of schema `S`: `fx('account')` (see {@link fetchXml}). */
export type FetchXmlFactory<S> = <L extends LogicalNameOf<S>>(entity: L) => FetchQuery<S, L>;

/**
 * Starts a FetchXML query. With the generated `Schema`, get a typed factory once and start queries
 * from it by table logical name (attribute names are then checked and rows typed); with a logical
 * name alone, an untyped query.
 *
 * (A factory rather than `fx('account')`: TypeScript cannot infer the table from the
 * argument once the schema is given explicitly.)
 *
 * @example
 * ```ts
 * const fx = fetchXml<Schema>();
 * const query = fx('account').select('name').where({ statecode: 0 }).orderBy('name');
 * const loose = fetchXml('account').select('name');
 * ```
 */
export function fetchXml<S>(): FetchXmlFactory<S>;
export function fetchXml(entity: string): FetchQuery<Record<string, never>, string>;
export function fetchXml(entity?: string): FetchXmlFactory<unknown> | FetchQuery<Record<string, never>, string> {
  if (entity === undefined) return ((name: string) => new FetchQuery(checkName(name, 'entity'))) as FetchXmlFactory<unknown>;
  return new FetchQuery<Record<string, never>, string>(checkName(entity, 'entity'));
}
