/**
 * Dataverse's query functions in `$filter`'s object syntax: `{ createdon: { lastXDays: 7 } }` is sent
 * as `Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)`. The catalogue and
 * each function's parameters are Microsoft's
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/queryfunctions):
 * `PropertyName` is always the column; `PropertyValue` is an `Edm.Int64` for the "X" functions and
 * the fiscal period/year ones, and an `Edm.String` for `On…` and the hierarchy functions;
 * `PropertyValues` is a `Collection(Edm.String)`; the fiscal "period and year" functions take
 * `PropertyValue1` and `PropertyValue2` (`Edm.Int32`).
 *
 * The text built here goes into a filter that is percent-encoded afterwards with `%XX` escapes kept
 * (see src/odata/query.ts), so string values are percent-encoded here, as odata-query encodes its own
 * string literals.
 */
import { invalidArgument } from './fail';
import { normalizeGuid } from './keys';

/** How a query function takes its value. */
type Shape = 'none' | 'count' | 'date' | 'guid' | 'list' | 'pair' | 'periodAndYear';

const NONE = [
  'EqualUserId', 'NotEqualUserId', 'EqualUserTeams', 'EqualUserOrUserTeams', 'EqualUserOrUserHierarchy', 'EqualUserOrUserHierarchyAndTeams',
  'EqualBusinessId', 'NotEqualBusinessId', 'EqualRoleBusinessId', 'EqualUserLanguage',
  'Today', 'Yesterday', 'Tomorrow', 'Last7Days', 'Next7Days', 'LastWeek', 'ThisWeek', 'NextWeek', 'LastMonth', 'ThisMonth', 'NextMonth',
  'LastYear', 'ThisYear', 'NextYear', 'LastFiscalPeriod', 'ThisFiscalPeriod', 'NextFiscalPeriod', 'LastFiscalYear', 'ThisFiscalYear', 'NextFiscalYear',
] as const;
const COUNT = [
  'LastXHours', 'NextXHours', 'LastXDays', 'NextXDays', 'LastXWeeks', 'NextXWeeks', 'LastXMonths', 'NextXMonths', 'LastXYears', 'NextXYears',
  'LastXFiscalPeriods', 'NextXFiscalPeriods', 'LastXFiscalYears', 'NextXFiscalYears',
  'OlderThanXMinutes', 'OlderThanXHours', 'OlderThanXDays', 'OlderThanXWeeks', 'OlderThanXMonths', 'OlderThanXYears',
  'InFiscalPeriod', 'InFiscalYear',
] as const;
const DATE = ['On', 'OnOrAfter', 'OnOrBefore'] as const;
const GUID = ['Under', 'UnderOrEqual', 'NotUnder', 'Above', 'AboveOrEqual'] as const;
const LIST = ['In', 'NotIn', 'ContainValues', 'DoesNotContainValues'] as const;
const PAIR = ['Between', 'NotBetween'] as const;
const PERIOD_AND_YEAR = ['InFiscalPeriodAndYear', 'InOrAfterFiscalPeriodAndYear', 'InOrBeforeFiscalPeriodAndYear'] as const;

/** `lastXDays` → `LastXDays`; the object syntax names functions in camel case. */
const camel = (name: string): string => name[0].toLowerCase() + name.slice(1);

/** Query functions by their object-syntax operator name (`lastXDays`): Microsoft's name and how the value is taken. */
export const QUERY_FUNCTIONS: ReadonlyMap<string, { name: string; shape: Shape }> = new Map(
  (
    [
      [NONE, 'none'],
      [COUNT, 'count'],
      [DATE, 'date'],
      [GUID, 'guid'],
      [LIST, 'list'],
      [PAIR, 'pair'],
      [PERIOD_AND_YEAR, 'periodAndYear'],
    ] as const
  ).flatMap(([names, shape]) => names.map((name) => [camel(name), { name, shape: shape as Shape }] as const)),
);

/** Whether `op` is the object-syntax name of a query function (`lastXDays`, `in`, `under`, …). */
export function isQueryFunction(op: string): boolean {
  return QUERY_FUNCTIONS.has(op);
}

/**
 * Whether the values of query function `op` are values of its column (`in`, `notIn`, `between`,
 * `notBetween`), to be checked against the column's type like any value compared with it.
 */
export function takesColumnValues(op: string): boolean {
  return op === 'in' || op === 'notIn' || op === 'between' || op === 'notBetween';
}

const EXPECTED: Readonly<Record<Shape, string>> = {
  none: 'true (this query function takes no value)',
  count: 'a whole number',
  date: "a date: a Date or 'YYYY-MM-DD'",
  guid: 'a GUID (the id of the record in the hierarchy)',
  list: 'a non-empty array of values (an empty list is refused rather than guessed at: skip the query, or leave the condition out)',
  pair: 'an array of two values [from, to]',
  periodAndYear: 'an array of two whole numbers [period, year]',
};

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** A string literal as it goes into the filter: quoted, `'` doubled, and percent-encoded (see the module notes). */
function quoted(text: string): string {
  return `'${encodeURIComponent(text.replace(/'/g, "''"))}'`;
}

/**
 * One item of `PropertyValues` (`Collection(Edm.String)`): every value goes as a string, the way
 * Microsoft's examples write them (`PropertyValues=['1','2']`). A typed literal (`guid(id)`) gives its
 * value; a Date its ISO form.
 */
function listItem(value: unknown, path: string): string {
  if (typeof value === 'string') return quoted(value);
  if (typeof value === 'number' && Number.isFinite(value)) return quoted(String(value));
  if (typeof value === 'boolean') return quoted(String(value));
  if (value instanceof Date && !Number.isNaN(value.getTime())) return quoted(value.toISOString());
  if (value !== null && typeof value === 'object' && typeof (value as { value?: unknown }).value === 'string') return quoted((value as { value: string }).value);
  throw invalidArgument(path, 'a string, number, boolean, Date or guid(id)', value);
}

function wholeNumber(value: unknown, path: string, shape: Shape): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalidArgument(path, EXPECTED[shape], value);
  return value;
}

/**
 * The expression text of query function `op` (its object-syntax name) on `column` with `value`.
 *
 * @param path - where the value sits in the caller's filter, for errors.
 * @throws DynamicsError `invalid_argument` naming `path` when the value does not fit the function.
 * @example queryFunctionText('lastXDays', 'createdon', 7, 'filter.createdon.lastXDays')
 *   // "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)"
 */
export function queryFunctionText(op: string, column: string, value: unknown, path: string): string {
  const fn = QUERY_FUNCTIONS.get(op);
  if (fn === undefined) throw invalidArgument(path, 'a query function', op);
  const head = `Microsoft.Dynamics.CRM.${fn.name}(PropertyName='${column}'`;
  switch (fn.shape) {
    case 'none':
      if (value !== true) throw invalidArgument(path, EXPECTED.none, value);
      return `${head})`;
    case 'count':
      return `${head},PropertyValue=${wholeNumber(value, path, 'count')})`;
    case 'date': {
      let text: string;
      if (value instanceof Date && !Number.isNaN(value.getTime())) text = value.toISOString().slice(0, 10);
      else if (typeof value === 'string' && ISO_DATE.test(value)) text = value;
      else throw invalidArgument(path, EXPECTED.date, value);
      return `${head},PropertyValue=${quoted(text)})`;
    }
    case 'guid': {
      const id = value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'guid' ? (value as { value: unknown }).value : value;
      return `${head},PropertyValue=${quoted(normalizeGuid(id, path))})`;
    }
    case 'list': {
      if (!Array.isArray(value) || value.length === 0) throw invalidArgument(path, EXPECTED.list, value);
      return `${head},PropertyValues=[${value.map((v: unknown, i) => listItem(v, `${path}[${i}]`)).join(',')}])`;
    }
    case 'pair': {
      if (!Array.isArray(value) || value.length !== 2) throw invalidArgument(path, EXPECTED.pair, value);
      return `${head},PropertyValues=[${value.map((v: unknown, i) => listItem(v, `${path}[${i}]`)).join(',')}])`;
    }
    default: {
      if (!Array.isArray(value) || value.length !== 2) throw invalidArgument(path, EXPECTED.periodAndYear, value);
      const [period, year] = value.map((v: unknown, i) => wholeNumber(v, `${path}[${i}]`, 'periodAndYear'));
      return `${head},PropertyValue1=${period},PropertyValue2=${year})`;
    }
  }
}
