/**
 * Dataverse's condition operators beyond plain comparisons, evaluated once for both query languages:
 * FetchXML's `<condition operator='last-x-days'/>` (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/operators)
 * and the Web API's query functions, `Microsoft.Dynamics.CRM.LastXDays(…)`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/queryfunctions),
 * which name the same conditions. Operators are keyed here by their FetchXML names; {@link ODATA_FUNCTIONS}
 * maps the Web API's names onto them.
 *
 * Emulator choices where Microsoft documents no rule:
 * - dates are evaluated in UTC (Dataverse uses the calling user's time zone; the emulator's users are in UTC);
 * - weeks start on Sunday (the en-US default);
 * - the fiscal year is the calendar year and its periods are quarters;
 * - "last X" and "next X" are rolling windows ending (starting) now, as the previous emulator did;
 * - the hierarchy of a table is its first single-valued lookup to itself whose name starts with
 *   `parent` (account's `parentaccountid`), else its first lookup to itself;
 * - the caller has no teams: team operators compare with the caller alone; its language is 1033.
 */

/** How a condition reads the caller and the clock. */
export interface ConditionContext {
  now: Date;
  /** The caller's systemuserid. */
  userId: string;
  /** The caller's business unit. */
  businessUnitId: string;
  /** The parent's id in the hierarchy of the filtered table, for `under`/`above`; absent: no hierarchy. */
  parentOf?: (id: string) => string | undefined;
}

/** A predicate on a column value (`undefined` when the row has none). */
export type ValueTest = (value: unknown, cx: ConditionContext) => boolean;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Deepest hierarchy walked; Dataverse limits hierarchies far below this (hierarchical data docs). */
const MAX_HIERARCHY_DEPTH = 100;
/** The caller's language code (en-US). */
const USER_LANGUAGE = 1033;

const startOfDay = (t: number): number => t - (((t % DAY) + DAY) % DAY);
function startOfWeek(t: number): number {
  const d = startOfDay(t);
  return d - new Date(d).getUTCDay() * DAY;
}
function startOfMonth(t: number, add = 0): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1);
}
function startOfYear(t: number, add = 0): number {
  return Date.UTC(new Date(t).getUTCFullYear() + add, 0, 1);
}
function startOfQuarter(t: number, add = 0): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), Math.floor(d.getUTCMonth() / 3) * 3 + add * 3, 1);
}
function addMonths(t: number, n: number): number {
  const d = new Date(t);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return target.getTime();
}

/** The time of a stored date value, or NaN. */
export function timeOf(value: unknown): number {
  if (value === null || value === undefined) return Number.NaN;
  const text = String(value);
  return Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
}

/** A test that the value's time lies in [lo, hi). */
function within(range: (now: number) => [number, number]): ValueTest {
  return (value, cx) => {
    const t = timeOf(value);
    if (Number.isNaN(t)) return false;
    const [lo, hi] = range(cx.now.getTime());
    return t >= lo && t < hi;
  };
}

/** Operators taking no value, by FetchXML name. */
const NO_VALUE: Readonly<Record<string, ValueTest>> = {
  today: within((n) => [startOfDay(n), startOfDay(n) + DAY]),
  yesterday: within((n) => [startOfDay(n) - DAY, startOfDay(n)]),
  tomorrow: within((n) => [startOfDay(n) + DAY, startOfDay(n) + 2 * DAY]),
  'last-seven-days': within((n) => [startOfDay(n) - 6 * DAY, startOfDay(n) + DAY]),
  'next-seven-days': within((n) => [startOfDay(n), startOfDay(n) + 7 * DAY]),
  'last-week': within((n) => [startOfWeek(n) - 7 * DAY, startOfWeek(n)]),
  'this-week': within((n) => [startOfWeek(n), startOfWeek(n) + 7 * DAY]),
  'next-week': within((n) => [startOfWeek(n) + 7 * DAY, startOfWeek(n) + 14 * DAY]),
  'last-month': within((n) => [startOfMonth(n, -1), startOfMonth(n)]),
  'this-month': within((n) => [startOfMonth(n), startOfMonth(n, 1)]),
  'next-month': within((n) => [startOfMonth(n, 1), startOfMonth(n, 2)]),
  'last-year': within((n) => [startOfYear(n, -1), startOfYear(n)]),
  'this-year': within((n) => [startOfYear(n), startOfYear(n, 1)]),
  'next-year': within((n) => [startOfYear(n, 1), startOfYear(n, 2)]),
  'last-fiscal-year': within((n) => [startOfYear(n, -1), startOfYear(n)]),
  'this-fiscal-year': within((n) => [startOfYear(n), startOfYear(n, 1)]),
  'next-fiscal-year': within((n) => [startOfYear(n, 1), startOfYear(n, 2)]),
  'last-fiscal-period': within((n) => [startOfQuarter(n, -1), startOfQuarter(n)]),
  'this-fiscal-period': within((n) => [startOfQuarter(n), startOfQuarter(n, 1)]),
  'next-fiscal-period': within((n) => [startOfQuarter(n, 1), startOfQuarter(n, 2)]),
  'eq-userid': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.userId.toLowerCase(),
  'ne-userid': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() !== cx.userId.toLowerCase(),
  'eq-useroruserteams': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.userId.toLowerCase(),
  'eq-useroruserhierarchy': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.userId.toLowerCase(),
  'eq-useroruserhierarchyandteams': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.userId.toLowerCase(),
  'eq-userteams': () => false,
  'eq-businessid': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.businessUnitId.toLowerCase(),
  'ne-businessid': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() !== cx.businessUnitId.toLowerCase(),
  'eq-rolebusinessid': (v, cx) => v !== null && v !== undefined && String(v).toLowerCase() === cx.businessUnitId.toLowerCase(),
  'eq-userlanguage': (v) => Number(v) === USER_LANGUAGE,
};

type Unit = 'minutes' | 'hours' | 'days' | 'weeks' | 'months' | 'years' | 'fiscal-periods' | 'fiscal-years';

/** `t` moved by `n` units (negative: back). */
function shift(t: number, n: number, unit: Unit): number {
  switch (unit) {
    case 'minutes':
      return t + n * 60_000;
    case 'hours':
      return t + n * HOUR;
    case 'days':
      return t + n * DAY;
    case 'weeks':
      return t + n * 7 * DAY;
    case 'months':
      return addMonths(t, n);
    case 'fiscal-periods':
      return addMonths(t, 3 * n);
    default:
      return addMonths(t, 12 * n);
  }
}

/** Operators taking one whole number, by FetchXML name. */
function withCount(op: string, x: number): ValueTest | undefined {
  const m = /^(last|next|olderthan)-x-(minutes|hours|days|weeks|months|years|fiscal-periods|fiscal-years)$/.exec(op);
  if (m) {
    const unit = m[2] as Unit;
    if (m[1] === 'last') return within((n) => [shift(n, -x, unit), n + 1]);
    if (m[1] === 'next') return within((n) => [n, shift(n, x, unit) + 1]);
    return (value, cx) => {
      const t = timeOf(value);
      return !Number.isNaN(t) && t < shift(cx.now.getTime(), -x, unit);
    };
  }
  if (op === 'in-fiscal-year') return (value) => new Date(timeOf(value)).getUTCFullYear() === x;
  if (op === 'in-fiscal-period') return (value) => Math.floor(new Date(timeOf(value)).getUTCMonth() / 3) + 1 === x;
  return undefined;
}

/** `in-fiscal-period-and-year` and its `in-or-after`/`in-or-before` forms. */
function withPeriodAndYear(op: string, period: number, year: number): ValueTest | undefined {
  const key = (t: number) => {
    const d = new Date(t);
    return d.getUTCFullYear() * 10 + Math.floor(d.getUTCMonth() / 3) + 1;
  };
  const wanted = year * 10 + period;
  const test = (cmp: (k: number) => boolean): ValueTest => (value) => {
    const t = timeOf(value);
    return !Number.isNaN(t) && cmp(key(t));
  };
  if (op === 'in-fiscal-period-and-year') return test((k) => k === wanted);
  if (op === 'in-or-after-fiscal-period-and-year') return test((k) => k >= wanted);
  if (op === 'in-or-before-fiscal-period-and-year') return test((k) => k <= wanted);
  return undefined;
}

/** Ancestors of `id` (nearest first), bounded and cycle-safe. */
function ancestors(id: string, cx: ConditionContext): string[] {
  const out: string[] = [];
  const seen = new Set([id]);
  let current = cx.parentOf?.(id);
  while (current !== undefined && !seen.has(current) && out.length < MAX_HIERARCHY_DEPTH) {
    out.push(current);
    seen.add(current);
    current = cx.parentOf?.(current);
  }
  return out;
}

/** Hierarchy operators (`under`, `eq-or-under`, `not-under`, `above`, `eq-or-above`) with the referenced record's id. */
function hierarchy(op: string, reference: string): ValueTest | undefined {
  const ref = reference.toLowerCase().replace(/^\{|\}$/g, '');
  const id = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v).toLowerCase());
  switch (op) {
    case 'under':
      return (v, cx) => {
        const own = id(v);
        return own !== undefined && ancestors(own, cx).includes(ref);
      };
    case 'eq-or-under':
      return (v, cx) => {
        const own = id(v);
        return own !== undefined && (own === ref || ancestors(own, cx).includes(ref));
      };
    case 'not-under':
      return (v, cx) => {
        const own = id(v);
        return own !== undefined && !ancestors(own, cx).includes(ref);
      };
    case 'above':
      return (v, cx) => {
        const own = id(v);
        return own !== undefined && ancestors(ref, cx).includes(own);
      };
    case 'eq-or-above':
      return (v, cx) => {
        const own = id(v);
        return own !== undefined && (own === ref || ancestors(ref, cx).includes(own));
      };
    default:
      return undefined;
  }
}

/** Multi-select choice columns hold their values as text, `"1,2,3"`. */
function choices(value: unknown): Set<string> {
  if (value === null || value === undefined) return new Set();
  return new Set(String(value).split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/** What an operator needs besides the column value. */
export type OperatorArity = 'none' | 'count' | 'date' | 'reference' | 'list' | 'periodAndYear';

/** The arity of each special operator (FetchXML name), for parsers: undefined for an operator not handled here. */
export function arityOf(op: string): OperatorArity | undefined {
  if (op in NO_VALUE) return 'none';
  if (/^(last|next|olderthan)-x-/.test(op) || op === 'in-fiscal-year' || op === 'in-fiscal-period') return 'count';
  if (op === 'on' || op === 'on-or-after' || op === 'on-or-before') return 'date';
  if (op === 'under' || op === 'eq-or-under' || op === 'not-under' || op === 'above' || op === 'eq-or-above') return 'reference';
  if (op === 'contain-values' || op === 'not-contain-values') return 'list';
  if (/^in(-or-(after|before))?-fiscal-period-and-year$/.test(op)) return 'periodAndYear';
  return undefined;
}

/**
 * The test for special operator `op` (FetchXML name) with its values as text, or undefined when `op`
 * is not one of them. Values are checked by the caller's arity ({@link arityOf}); a value that does
 * not parse gives `undefined` too, and the caller answers the 400.
 */
export function specialCondition(op: string, values: readonly string[]): ValueTest | undefined {
  const fixed = NO_VALUE[op];
  if (fixed) return fixed;
  const arity = arityOf(op);
  const first = values[0];
  switch (arity) {
    case 'count': {
      const x = Number(first);
      return first !== undefined && Number.isSafeInteger(x) ? withCount(op, x) : undefined;
    }
    case 'date': {
      const t = first === undefined ? Number.NaN : timeOf(first.trim());
      if (Number.isNaN(t)) return undefined;
      const day = startOfDay(t);
      if (op === 'on') return within(() => [day, day + DAY]);
      if (op === 'on-or-after') return within(() => [day, Number.POSITIVE_INFINITY]);
      return within(() => [Number.NEGATIVE_INFINITY, day + DAY]);
    }
    case 'reference':
      return first === undefined ? undefined : hierarchy(op, first.trim());
    case 'list': {
      const wanted = values.map((v) => v.trim());
      if (op === 'contain-values') return (v) => wanted.some((w) => choices(v).has(w));
      return (v) => !wanted.some((w) => choices(v).has(w));
    }
    case 'periodAndYear': {
      const [period, year] = values.map(Number);
      return Number.isSafeInteger(period) && Number.isSafeInteger(year) ? withPeriodAndYear(op, period as number, year as number) : undefined;
    }
    default:
      return undefined;
  }
}

/** The Web API's query functions (`Microsoft.Dynamics.CRM.<Name>`) by the FetchXML operator each names. */
export const ODATA_FUNCTIONS: Readonly<Record<string, string>> = {
  EqualUserId: 'eq-userid',
  NotEqualUserId: 'ne-userid',
  EqualUserTeams: 'eq-userteams',
  EqualUserOrUserTeams: 'eq-useroruserteams',
  EqualUserOrUserHierarchy: 'eq-useroruserhierarchy',
  EqualUserOrUserHierarchyAndTeams: 'eq-useroruserhierarchyandteams',
  EqualBusinessId: 'eq-businessid',
  NotEqualBusinessId: 'ne-businessid',
  EqualRoleBusinessId: 'eq-rolebusinessid',
  EqualUserLanguage: 'eq-userlanguage',
  Today: 'today',
  Yesterday: 'yesterday',
  Tomorrow: 'tomorrow',
  Last7Days: 'last-seven-days',
  Next7Days: 'next-seven-days',
  LastWeek: 'last-week',
  ThisWeek: 'this-week',
  NextWeek: 'next-week',
  LastMonth: 'last-month',
  ThisMonth: 'this-month',
  NextMonth: 'next-month',
  LastYear: 'last-year',
  ThisYear: 'this-year',
  NextYear: 'next-year',
  LastFiscalPeriod: 'last-fiscal-period',
  ThisFiscalPeriod: 'this-fiscal-period',
  NextFiscalPeriod: 'next-fiscal-period',
  LastFiscalYear: 'last-fiscal-year',
  ThisFiscalYear: 'this-fiscal-year',
  NextFiscalYear: 'next-fiscal-year',
  LastXHours: 'last-x-hours',
  NextXHours: 'next-x-hours',
  LastXDays: 'last-x-days',
  NextXDays: 'next-x-days',
  LastXWeeks: 'last-x-weeks',
  NextXWeeks: 'next-x-weeks',
  LastXMonths: 'last-x-months',
  NextXMonths: 'next-x-months',
  LastXYears: 'last-x-years',
  NextXYears: 'next-x-years',
  LastXFiscalPeriods: 'last-x-fiscal-periods',
  NextXFiscalPeriods: 'next-x-fiscal-periods',
  LastXFiscalYears: 'last-x-fiscal-years',
  NextXFiscalYears: 'next-x-fiscal-years',
  OlderThanXMinutes: 'olderthan-x-minutes',
  OlderThanXHours: 'olderthan-x-hours',
  OlderThanXDays: 'olderthan-x-days',
  OlderThanXWeeks: 'olderthan-x-weeks',
  OlderThanXMonths: 'olderthan-x-months',
  OlderThanXYears: 'olderthan-x-years',
  InFiscalPeriod: 'in-fiscal-period',
  InFiscalYear: 'in-fiscal-year',
  InFiscalPeriodAndYear: 'in-fiscal-period-and-year',
  InOrAfterFiscalPeriodAndYear: 'in-or-after-fiscal-period-and-year',
  InOrBeforeFiscalPeriodAndYear: 'in-or-before-fiscal-period-and-year',
  On: 'on',
  OnOrAfter: 'on-or-after',
  OnOrBefore: 'on-or-before',
  Under: 'under',
  UnderOrEqual: 'eq-or-under',
  NotUnder: 'not-under',
  Above: 'above',
  AboveOrEqual: 'eq-or-above',
  ContainValues: 'contain-values',
  DoesNotContainValues: 'not-contain-values',
};
