/**
 * The types of `$filter`'s object syntax, typed column by column from the generated models: a value
 * compared with a column must be of the column's type (numbers for numeric columns, the option-set
 * values for choices, `boolean`, an ISO string or a `Date` for dates, a GUID string for GUID
 * columns), and Dataverse's query functions
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/queryfunctions)
 * are offered only on the columns they apply to. The Edm type of each column comes from the schema
 * entry's `model` (the generator's `<Entity>Model`); without one, the read type decides.
 */
import type { ColumnOf } from './types';

/** The runtime model type of entity set `E` in schema `S` (`typeof AccountModel`), or `unknown` when the schema has none. */
export type ModelOf<S, E extends keyof S> = S[E] extends { model: infer M } ? M : unknown;

/** The Edm type a model declares for column `P`, or `undefined`. */
type EdmOf<M, P extends PropertyKey> = M extends { readonly columns: infer C } ? (P extends keyof C ? C[P] : undefined) : undefined;

/** A GUID written unquoted (`guid(id)`): what `Edm.Guid` columns such as lookups (`_parentcustomerid_value`) need. */
export interface GuidLiteral {
  type: 'guid';
  value: string;
}

/** Expression text written as it is (`{ type: 'raw', value: "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')" }`): no type checking. */
export interface RawLiteral {
  type: 'raw';
  value: string;
}

/** A literal value in a filter object. Strings are quoted and escaped (`O'Brien` → `'O''Brien'`). */
export type FilterLiteral = string | number | boolean | Date | null | { type: 'guid' | 'raw' | 'duration' | 'binary' | 'decimal'; value: string };

/** What kind of values a column takes in a filter. `text`: a string column of a schema without a model (text, GUID or date). */
export type FilterKind = 'guid' | 'date' | 'string' | 'number' | 'boolean' | 'text' | 'any';

type NumericEdm = 'Edm.Int16' | 'Edm.Int32' | 'Edm.Int64' | 'Edm.Byte' | 'Edm.SByte' | 'Edm.Decimal' | 'Edm.Double' | 'Edm.Single';

/** The {@link FilterKind} of a column whose read type is `V` and whose Edm type (from the model) is `Edm`. */
export type ColumnKind<V, Edm> = [Edm] extends ['Edm.Guid']
  ? 'guid'
  : [Edm] extends ['Edm.DateTimeOffset' | 'Edm.Date']
    ? 'date'
    : [Edm] extends [NumericEdm]
      ? 'number'
      : [Edm] extends ['Edm.Boolean']
        ? 'boolean'
        : [Edm] extends ['Edm.String']
          ? 'string'
          : unknown extends V
            ? 'any'
            : [NonNullable<V>] extends [number]
              ? 'number'
              : [NonNullable<V>] extends [boolean]
                ? 'boolean'
                : [NonNullable<V>] extends [string]
                  ? [Edm] extends [undefined]
                    ? 'text'
                    : 'string'
                  : 'any';

/** The values a column of kind `K` (read type `V`) is compared with. Option-set columns keep their union of values. */
export type FilterValueOf<V, K extends FilterKind> = K extends 'guid'
  ? string | GuidLiteral
  : K extends 'date'
    ? string | Date
    : K extends 'string'
      ? string
      : K extends 'number'
        ? Extract<NonNullable<V>, number> | { type: 'decimal'; value: string }
        : K extends 'boolean'
          ? boolean
          : K extends 'text'
            ? string | Date | GuidLiteral
            : Exclude<FilterLiteral, null>;

type Only<K extends FilterKind, Allowed extends FilterKind, X> = K extends Allowed | 'text' | 'any' ? X : never;

/**
 * Operators on one column. Comparisons (`eq`, `ne`, `gt`, `ge`, `lt`, `le`), the string functions, and
 * Dataverse's query functions by their names in camel case, each sent as
 * `Microsoft.Dynamics.CRM.<Name>(PropertyName='<column>',…)`: `in`, `notIn`, `between`, `notBetween`
 * for any column; date functions (`today: true`, `lastXDays: 7`, `on: '2024-05-01'`, `thisMonth: true`,
 * fiscal periods …) on date columns; user, business-unit and hierarchy functions (`equalUserId: true`,
 * `under: accountId`, …) on GUID columns; `containValues` on multi-select choices. `not`, `and` and
 * `or` combine conditions on the same column.
 *
 * @example { createdon: { lastXDays: 7 }, statecode: { in: [0, 1] }, ownerid: { equalUserId: true } }
 */
export interface ColumnOperators<T, K extends FilterKind = 'any'> {
  eq?: T | RawLiteral | null;
  ne?: T | RawLiteral | null;
  gt?: T | RawLiteral;
  ge?: T | RawLiteral;
  lt?: T | RawLiteral;
  le?: T | RawLiteral;
  /** `Microsoft.Dynamics.CRM.In`: one of these values. An empty list is refused (it would match no row: skip the query). */
  in?: readonly T[];
  /** `Microsoft.Dynamics.CRM.NotIn`. */
  notIn?: readonly T[];
  /** `Microsoft.Dynamics.CRM.Between`: from the first to the second value, both included. */
  between?: readonly [T, T];
  /** `Microsoft.Dynamics.CRM.NotBetween`. */
  notBetween?: readonly [T, T];
  contains?: Only<K, 'string', string>;
  startswith?: Only<K, 'string', string>;
  endswith?: Only<K, 'string', string>;
  // Date and time (Microsoft.Dynamics.CRM.*): true for the functions without a value.
  on?: Only<K, 'date', string | Date>;
  onOrAfter?: Only<K, 'date', string | Date>;
  onOrBefore?: Only<K, 'date', string | Date>;
  today?: Only<K, 'date', true>;
  yesterday?: Only<K, 'date', true>;
  tomorrow?: Only<K, 'date', true>;
  last7Days?: Only<K, 'date', true>;
  next7Days?: Only<K, 'date', true>;
  lastWeek?: Only<K, 'date', true>;
  thisWeek?: Only<K, 'date', true>;
  nextWeek?: Only<K, 'date', true>;
  lastMonth?: Only<K, 'date', true>;
  thisMonth?: Only<K, 'date', true>;
  nextMonth?: Only<K, 'date', true>;
  lastYear?: Only<K, 'date', true>;
  thisYear?: Only<K, 'date', true>;
  nextYear?: Only<K, 'date', true>;
  lastFiscalPeriod?: Only<K, 'date', true>;
  thisFiscalPeriod?: Only<K, 'date', true>;
  nextFiscalPeriod?: Only<K, 'date', true>;
  lastFiscalYear?: Only<K, 'date', true>;
  thisFiscalYear?: Only<K, 'date', true>;
  nextFiscalYear?: Only<K, 'date', true>;
  lastXHours?: Only<K, 'date', number>;
  nextXHours?: Only<K, 'date', number>;
  lastXDays?: Only<K, 'date', number>;
  nextXDays?: Only<K, 'date', number>;
  lastXWeeks?: Only<K, 'date', number>;
  nextXWeeks?: Only<K, 'date', number>;
  lastXMonths?: Only<K, 'date', number>;
  nextXMonths?: Only<K, 'date', number>;
  lastXYears?: Only<K, 'date', number>;
  nextXYears?: Only<K, 'date', number>;
  lastXFiscalPeriods?: Only<K, 'date', number>;
  nextXFiscalPeriods?: Only<K, 'date', number>;
  lastXFiscalYears?: Only<K, 'date', number>;
  nextXFiscalYears?: Only<K, 'date', number>;
  olderThanXMinutes?: Only<K, 'date', number>;
  olderThanXHours?: Only<K, 'date', number>;
  olderThanXDays?: Only<K, 'date', number>;
  olderThanXWeeks?: Only<K, 'date', number>;
  olderThanXMonths?: Only<K, 'date', number>;
  olderThanXYears?: Only<K, 'date', number>;
  inFiscalPeriod?: Only<K, 'date', number>;
  inFiscalYear?: Only<K, 'date', number>;
  /** `[period, year]`. */
  inFiscalPeriodAndYear?: Only<K, 'date', readonly [number, number]>;
  inOrAfterFiscalPeriodAndYear?: Only<K, 'date', readonly [number, number]>;
  inOrBeforeFiscalPeriodAndYear?: Only<K, 'date', readonly [number, number]>;
  // Users, business units, hierarchies (GUID columns: owners, lookups, primary keys).
  equalUserId?: Only<K, 'guid', true>;
  notEqualUserId?: Only<K, 'guid', true>;
  equalUserTeams?: Only<K, 'guid', true>;
  equalUserOrUserTeams?: Only<K, 'guid', true>;
  equalUserOrUserHierarchy?: Only<K, 'guid', true>;
  equalUserOrUserHierarchyAndTeams?: Only<K, 'guid', true>;
  equalBusinessId?: Only<K, 'guid', true>;
  notEqualBusinessId?: Only<K, 'guid', true>;
  equalRoleBusinessId?: Only<K, 'guid', true>;
  /** Rows below the record with this id in the table's hierarchy. */
  under?: Only<K, 'guid', string>;
  underOrEqual?: Only<K, 'guid', string>;
  notUnder?: Only<K, 'guid', string>;
  above?: Only<K, 'guid', string>;
  aboveOrEqual?: Only<K, 'guid', string>;
  /** `Microsoft.Dynamics.CRM.EqualUserLanguage` (language columns). */
  equalUserLanguage?: Only<K, 'number', true>;
  /** Multi-select choices: the column holds all of these values. */
  containValues?: Only<K, 'string', readonly (string | number)[]>;
  doesNotContainValues?: Only<K, 'string', readonly (string | number)[]>;
  not?: ColumnOperators<T, K>;
  and?: readonly ColumnOperators<T, K>[];
  or?: readonly ColumnOperators<T, K>[];
}

/** The condition on one column: a value (equality), `null`, or an object of operators. */
export type ColumnCondition<V, K extends FilterKind> = FilterValueOf<V, K> | RawLiteral | null | ColumnOperators<FilterValueOf<V, K>, K>;

/** The schema entry whose model has logical name `L`. */
type EntryByLogicalName<S, L> = { [E in keyof S]: S[E] extends { model: { logicalName: L } } ? S[E] : never }[keyof S];

/** `any`/`all` over the collection-valued navigation properties of a model: the body is a filter on the related table. */
type CollectionLambdas<M, S> = M extends { readonly collections: infer C }
  ? {
      readonly [N in keyof C & string]?: {
        any?: LambdaBody<EntryByLogicalName<S, C[N]>, S>;
        all?: LambdaBody<EntryByLogicalName<S, C[N]>, S>;
      };
    }
  : unknown;

/** Conditions through the single-valued navigation properties of a model (`{ primarycontactid: { fullname: 'x' } }`). */
type NavigationPaths<M, S> = M extends { readonly navigation: infer N }
  ? { readonly [P in keyof N & string]?: RelatedObject<EntryByLogicalName<S, N[P]>, S> }
  : unknown;

type RelatedObject<Entry, S> = [Entry] extends [never]
  ? FilterObjectOf<Record<string, unknown>>
  : Entry extends { read: infer R; model: infer M }
    ? FilterObjectOf<R, M, S>
    : FilterObjectOf<Record<string, unknown>>;

type LambdaBody<Entry, S> = [Entry] extends [never]
  ? FilterQuery<Record<string, unknown>>
  : Entry extends { read: infer R; model: infer M }
    ? FilterQuery<R, M, S>
    : FilterQuery<Record<string, unknown>>;

/** The object form of {@link FilterQuery}. */
export type FilterObjectOf<R, M = unknown, S = unknown> = {
  readonly [P in ColumnOf<R>]?: ColumnCondition<R[P], ColumnKind<R[P], EdmOf<M, P>>>;
} & CollectionLambdas<M, S> &
  NavigationPaths<M, S> & {
    and?: FilterQuery<R, M, S> | ReadonlyArray<FilterQuery<R, M, S>>;
    or?: FilterQuery<R, M, S> | ReadonlyArray<FilterQuery<R, M, S>>;
    not?: FilterQuery<R, M, S>;
  };

/**
 * A `$filter`: a raw OData string (`"statecode eq 0"`), or odata-query's object syntax over the columns
 * of `R` (`{ name: 'Contoso' }`, `{ revenue: { gt: 1000 } }`, `{ or: [{ name: 'A' }, { name: 'B' }] }`),
 * typed column by column (`M` is the table's generated model, `S` the schema: see the module notes).
 * Values in objects are encoded for you; in raw strings you escape them yourself.
 *
 * A GUID compared with an `Edm.Guid` column (a lookup's `_x_value`, a primary key) must go unquoted:
 * with the generated `model` given to the client that happens by itself; without it, wrap the value
 * in `guid(id)`.
 *
 * An empty `or`/`and`/`in` list, an empty `not`, or an empty object inside a filter is refused with
 * `invalid_argument` before anything is sent, because sending it would match every row: skip the
 * query when your list is empty. Keys must be column names or navigation paths. See `Filter` in
 * src/odata/query.ts for every rule.
 */
export type FilterQuery<R, M = unknown, S = unknown> = string | FilterObjectOf<R, M, S> | ReadonlyArray<FilterQuery<R, M, S>>;

/** Comparison operators of odata-query's filter objects, untyped (any literal on any column). */
export type FilterOperators = ColumnOperators<Exclude<FilterLiteral, null>, 'any'>;
