import buildODataQuery from 'odata-query';
import { DynamicsError, ErrorCode } from '../errors';
import { invalidArgument } from './fail';
import { normalizeGuid } from './keys';
import { checkOrderBy, checkSelect, isPlainObject, prepareCondition, prepareExpand, QueryWalk } from './prepare';
import { MAX_URL_LENGTH, urlTooLong } from './url';

/** A condition in odata-query's object syntax, e.g. `{ name: { startswith: 'A' }, statecode: 0 }`. */
export type FilterObject = Readonly<Record<string, unknown>>;

/**
 * A `$filter`: OData expression text (`"name eq 'A'"`), odata-query's object syntax, or an array
 * of them combined with `and`. Expression text is sent as written (we percent-encode it);
 * object-syntax values are escaped for you.
 *
 * The object syntax is checked before it is sent (a DynamicsError `invalid_argument` naming the
 * path, such as `query.filter.or[1].name`, and nothing is sent):
 * - An empty list or condition is refused, never dropped: `{ or: [] }`, `{ and: [] }`, `{ not: {} }`,
 *   `{ id: { in: [] } }`, a `filter: []`, or `{}` inside a list or as a column's value, at any depth.
 *   odata-query would drop it and the query would match every row (`{ statecode: 1, or: [] }` would
 *   be `statecode eq 1`); Dataverse has no literal for "no row", so skip the query when your list is
 *   empty (`if (ids.length === 0) return []`). A top-level `filter: {}` is no filter.
 * - Keys are column names or navigation paths (`name`, `primarycontactid/fullname`), `and`, `or`,
 *   `not`, odata-query's operators (`eq`, `ne`, `gt`, `ge`, `lt`, `le`, `has`, `in`, `startswith`,
 *   `endswith`, `contains`, `matchespattern`, `any`, `all`), or Dataverse's query functions in camel
 *   case (`lastXDays`, `thisMonth`, `between`, `notIn`, `equalUserId`, `under`, …; see
 *   ./queryFunctions.ts). Write functions such as `tolower(name)` as expression text.
 * - `in` is sent as `Microsoft.Dynamics.CRM.In(…)` (Dataverse has no `in` operator), or, through a
 *   navigation path or inside `any`/`all`, as an `or` of equalities.
 * - Nesting is at most 100 objects and arrays deep, a filter holds at most 65,536 values (more
 *   cannot fit in a URL), and a cycle is refused.
 * - A column's own `or`/`and`/`not` (`{ name: { or: [{ eq: 'a' }, { startswith: 'b' }] } }`) means
 *   what it says; odata-query alone wrote it without parentheses or dropped the `not`.
 *
 * One limit: expression text nested inside the object syntax (items of `and`/`or` arrays) reaches
 * us mixed with values odata-query has already percent-encoded, so a `%` followed by two hex digits
 * there is taken as an escape. Put such text in a top-level string or array item instead.
 */
export type Filter = string | FilterObject | ReadonlyArray<string | FilterObject>;

/** `$orderby`: `'name desc'`, `['name desc', 'createdon']` or `[['name', 'desc']]`. */
export type OrderBy<T extends object = Record<string, unknown>> =
  | (keyof T & string)
  | string
  | ReadonlyArray<(keyof T & string) | string | readonly [keyof T & string, 'asc' | 'desc']>;

/** `$expand`: a navigation property, several, or odata-query's object form with nested options (alone or in a list). */
export type Expand = string | readonly string[] | Readonly<Record<string, unknown>> | ReadonlyArray<string | Readonly<Record<string, unknown>>>;

/**
 * Query options for a collection or record, odata-query's object syntax plus Dataverse's paging
 * and annotation preferences.
 *
 * `$skip` is deliberately absent: Dataverse does not support it (query/page-results.md); page with
 * `maxPageSize` and `@odata.nextLink` instead.
 */
export interface QueryOptions<T extends object = Record<string, unknown>> {
  /** `$select`: columns to return. Default: all columns (slow; always select in production). */
  select?: (keyof T & string) | ReadonlyArray<keyof T & string>;
  /** `$filter`. Default: none. */
  filter?: Filter;
  /** `$orderby`. Default: none (Dataverse's order is then unspecified). */
  orderBy?: OrderBy<T>;
  /** `$top`: at most this many rows in total. Ignored by Dataverse when `maxPageSize` is set (query/page-results.md). */
  top?: number;
  /** `$expand`. Default: none. */
  expand?: Expand;
  /** `$count=true`: adds `@odata.count` (capped at 5000 by Dataverse; see query/count-rows.md). Default false. */
  count?: boolean;
  /** Rows per page, 1..5000, sent as `Prefer: odata.maxpagesize=n`. Default: the server's 5000. */
  maxPageSize?: number;
  /**
   * Annotations to include, sent as `Prefer: odata.include-annotations="…"`; `true` means `"*"`.
   * Example: `'OData.Community.Display.V1.FormattedValue'`. Default: none.
   */
  annotations?: string | readonly string[] | true;
}

/** Column name → Edm type (`Edm.Guid`, `Edm.DateTimeOffset`, …) of the table a query reads: a runtime model's `columns`. */
export type ColumnTypes = Readonly<Record<string, string>>;

/** Options of {@link buildQuery}. */
export interface BuildQueryOptions {
  /**
   * The Edm type of each column of the table (the generated `<Entity>Model.columns`). With it, values in
   * the object syntax are written as their column needs: a string compared with an `Edm.Guid` column
   * (a lookup's `_x_value`) goes unquoted like `guid(id)`, an ISO string compared with a date column
   * unquoted as a date, and a value of the wrong type (`{ revenue: 'abc' }`) is refused. Default: none
   * (strings are quoted; wrap GUIDs in `guid()`).
   */
  columns?: ColumnTypes;
}

/** What {@link buildQuery} returns: the query string and the preferences to merge into `Prefer`. */
export interface BuiltQuery {
  /** `''` or `'?$select=…&$filter=…'`, fully percent-encoded for a URL. */
  queryString: string;
  /** Preferences the query asked for; pass them to {@link composePrefer}. */
  preferences: Pick<PreferOptions, 'maxPageSize' | 'includeAnnotations'>;
}

const QUERY_KEYS = new Set(['select', 'filter', 'orderBy', 'top', 'expand', 'count', 'maxPageSize', 'annotations']);

/** The largest `odata.maxpagesize` Dataverse honours (query/page-results.md). */
export const MAX_PAGE_SIZE = 5000;

/**
 * Characters left literal in a query value: RFC 3986 unreserved plus the sub-delimiters OData
 * syntax uses (`'` `(` `)` `,` `;` `=` `:` `@` `/` `$` `*` `!`). Everything else is percent-encoded
 * as UTF-8, notably `&` (would end the option), `#` (would end the URL), `+` (read as a space by
 * ASP.NET's query parser), `%`, space and `"`.
 */
const QUERY_SAFE = /^[A-Za-z0-9\-._~!$'()*,;:@/=]$/;

/**
 * Percent-encodes text for a query-option value. With `keepEscapes`, `%XX` sequences are kept as
 * they are: odata-query already encodes string literal contents with encodeURIComponent, but
 * leaves the expression around them raw.
 */
function encodeQueryValue(text: string, keepEscapes: boolean, argument: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const ch = text[i];
    if (keepEscapes && ch === '%' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out += text.slice(i, i + 3);
      i += 3;
      continue;
    }
    if (QUERY_SAFE.test(ch)) {
      out += ch;
      i += 1;
      continue;
    }
    const cp = text.codePointAt(i) as number;
    const char = String.fromCodePoint(cp);
    try {
      out += encodeURIComponent(char);
    } catch {
      throw invalidArgument(argument, 'well-formed Unicode text (found a lone surrogate)', text);
    }
    i += char.length;
  }
  return out;
}

/**
 * An OData string literal: quoted, with `'` doubled (OData ABNF `string`).
 * Use it when writing expression text yourself; do not percent-encode, {@link buildQuery} does.
 *
 * @example `name eq ${stringLiteral("O'Brien")}` // "name eq 'O''Brien'"
 */
export function stringLiteral(value: string): string {
  if (typeof value !== 'string') throw invalidArgument('value', 'a string', value);
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A GUID literal for odata-query's object syntax, written unquoted as Dataverse requires for
 * `Edm.Guid` columns such as lookups: `{ _parentaccountid_value: guid(id) }`.
 *
 * @throws DynamicsError `invalid_argument` when `value` is not a GUID.
 */
export function guid(value: string): { type: 'guid'; value: string } {
  return { type: 'guid', value: normalizeGuid(value, 'guid') };
}

/** Runs odata-query for one option and returns the raw text after `$name=`. */
function odataQueryOption(options: Record<string, unknown>, name: string): string {
  const text = buildODataQuery(options as Parameters<typeof buildODataQuery>[0]);
  const prefix = `?$${name}=`;
  if (text === '') return '';
  if (!text.startsWith(prefix)) {
    throw new DynamicsError(`odata-query produced unexpected output for $${name}`, { code: ErrorCode.invalidArgument });
  }
  return text.slice(prefix.length);
}

function encodeFilterPart(part: string | FilterObject, path: string, walk: QueryWalk, inList: boolean, columns: ColumnTypes | undefined): string {
  if (typeof part === 'string') {
    if (part.trim() === '') throw invalidArgument(path, 'a non-empty filter expression', part);
    walk.visit(path);
    return encodeQueryValue(part, false, path);
  }
  // A top-level `{}` is no filter; an empty item of a filter list is refused like any empty condition.
  const prepared = prepareCondition(part, path, walk, inList ? 1 : 0, { lambda: false, columns }, !inList);
  return encodeQueryValue(odataQueryOption({ filter: prepared }, 'filter'), true, path);
}

/** The encoded `$filter` value, or '' when there is none. */
function encodeFilter(filter: Filter, path: string, walk: QueryWalk, columns: ColumnTypes | undefined): string {
  if (typeof filter === 'string' || !Array.isArray(filter)) return encodeFilterPart(filter as string | FilterObject, path, walk, false, columns);
  const list = filter as ReadonlyArray<string | FilterObject>;
  if (list.length === 0) {
    throw invalidArgument(path, 'a non-empty array of conditions (an empty list would add no condition and match every row); leave filter out to match every row', list);
  }
  walk.enter(list, path, 0);
  const parts = list.map((part, index) => {
    const where = `${path}[${index}]`;
    if (typeof part !== 'string' && !isPlainObject(part)) throw invalidArgument(where, 'expression text or a condition object', part);
    return encodeFilterPart(part, where, walk, true, columns);
  });
  walk.leave(list);
  // odata-query joins array items with ` and ` without parentheses, so `['a or b', 'c']` would
  // mean `a or (b and c)`; each item is parenthesised to keep the meaning the array implies.
  return parts.length === 1 ? parts[0] : parts.map((p) => `(${p})`).join('%20and%20');
}

/** `$filter` and friends by option name, for naming the option that makes a query too long. */
const OPTION_ARGUMENT: Readonly<Record<string, string>> = { $select: 'select', $filter: 'filter', $expand: 'expand', $orderby: 'orderBy', $top: 'top', $count: 'count' };

/**
 * Builds the query string and the `Prefer` parts for a Dataverse request from odata-query's
 * object syntax (`select`, `filter`, `orderBy`, `top`, `expand`, `count`) plus `maxPageSize` and
 * `annotations`.
 *
 * Unlike odata-query alone, the result is fully percent-encoded (its output leaves spaces, `+` in
 * numbers and the whole of expression-text filters raw), array filters keep their meaning, and a
 * condition that is `undefined` or an empty list is refused instead of silently dropped (see
 * {@link Filter}). Column, navigation and option names in `select`, `orderBy` and the object forms of
 * `filter` and `expand` must be identifiers: odata-query writes them into the query as they are.
 *
 * Dataverse's query functions are operators of the object syntax in camel case (`{ createdon: {
 * lastXDays: 7 } }`, `{ statecode: { in: [0, 1] } }`, `{ ownerid: { equalUserId: true } }`; see
 * src/odata/queryFunctions.ts); `in` is sent as `Microsoft.Dynamics.CRM.In`, since Dataverse has no
 * `in` operator.
 *
 * @param argument - name used in error messages. Default `'query'`.
 * @param options - the table's column types (see {@link BuildQueryOptions}).
 * @throws DynamicsError `invalid_argument` naming the option (`query.skip`, `query.maxPageSize`,
 *   `query.filter.name`, …) for anything Dataverse would refuse or misread, and for a query string
 *   longer than the 32,768 characters Dataverse accepts in a URL (compose-http-requests-handle-errors.md).
 * @example buildQuery({ select: ['name'], filter: { name: "O'Brien" }, maxPageSize: 500 })
 *   // { queryString: "?$select=name&$filter=name%20eq%20'O''Brien'", preferences: { maxPageSize: 500 } }
 */
export function buildQuery<T extends object = Record<string, unknown>>(query?: QueryOptions<T>, argument = 'query', options: BuildQueryOptions = {}): BuiltQuery {
  const preferences: BuiltQuery['preferences'] = {};
  if (query === undefined || query === null) return { queryString: '', preferences };
  if (!isPlainObject(query)) throw invalidArgument(argument, 'an object of query options', query);
  const q = query as Record<string, unknown>;
  for (const key of Object.keys(q)) {
    if (q[key] === undefined) continue;
    if (key === 'skip') {
      throw invalidArgument(
        `${argument}.skip`,
        'no $skip: Dataverse does not support it (query/page-results.md); page with maxPageSize and @odata.nextLink (list().byPage())',
        q[key],
      );
    }
    if (key === 'skiptoken' || key === 'skipToken') {
      throw invalidArgument(`${argument}.${key}`, 'no $skiptoken: follow @odata.nextLink unmodified (list().byPage({ continuationToken }))', q[key]);
    }
    if (!QUERY_KEYS.has(key)) {
      throw invalidArgument(`${argument}.${key}`, `one of the options ${[...QUERY_KEYS].join(', ')}`, q[key]);
    }
  }

  const params: string[] = [];
  // One walk for the whole query: its depth, size and cycle bounds cover filter and expand together.
  const walk = new QueryWalk();

  if (q.select !== undefined) params.push(`$select=${checkSelect(q.select, `${argument}.select`).join(',')}`);

  if (q.filter !== undefined && q.filter !== null) {
    if (typeof q.filter !== 'string' && !Array.isArray(q.filter) && !isPlainObject(q.filter)) {
      throw invalidArgument(`${argument}.filter`, 'expression text, a condition object or an array of them', q.filter);
    }
    const text = encodeFilter(q.filter as Filter, `${argument}.filter`, walk, options.columns);
    if (text !== '') params.push(`$filter=${text}`);
  }

  if (q.expand !== undefined) {
    const prepared = prepareExpand(q.expand, `${argument}.expand`, walk);
    const text = odataQueryOption({ expand: prepared }, 'expand');
    // Expression text is sent as written; the object form has its literals encoded by odata-query already.
    const objectForm = typeof q.expand !== 'string' && (isPlainObject(q.expand) || (q.expand as unknown[]).some((item) => typeof item !== 'string'));
    if (text !== '') params.push(`$expand=${encodeQueryValue(text, objectForm, `${argument}.expand`)}`);
  }

  if (q.orderBy !== undefined) {
    const orderBy = checkOrderBy(q.orderBy, `${argument}.orderBy`);
    const text = odataQueryOption({ orderBy }, 'orderby');
    params.push(`$orderby=${encodeQueryValue(text, false, `${argument}.orderBy`)}`);
  }

  if (q.top !== undefined) {
    if (typeof q.top !== 'number' || !Number.isSafeInteger(q.top) || q.top < 0) {
      throw invalidArgument(`${argument}.top`, 'a whole number ≥ 0', q.top);
    }
    params.push(`$top=${q.top}`);
  }

  if (q.count !== undefined) {
    if (typeof q.count !== 'boolean') {
      throw invalidArgument(`${argument}.count`, 'true or false (count rows matching a filter with client.count(entitySet, filter))', q.count);
    }
    if (q.count) params.push('$count=true');
  }

  if (q.maxPageSize !== undefined) preferences.maxPageSize = checkMaxPageSize(q.maxPageSize, `${argument}.maxPageSize`);
  if (q.annotations !== undefined) {
    preferences.includeAnnotations = q.annotations as PreferOptions['includeAnnotations'];
    annotationList(preferences.includeAnnotations, `${argument}.annotations`);
  }

  const queryString = params.length === 0 ? '' : `?${params.join('&')}`;
  if (queryString.length > MAX_URL_LENGTH) {
    // Named after the option that makes it long; the whole URL is checked again before it is sent.
    const longest = params.reduce((a, b) => (b.length > a.length ? b : a));
    const option = OPTION_ARGUMENT[longest.slice(0, longest.indexOf('='))];
    throw urlTooLong(option === undefined ? argument : `${argument}.${option}`, queryString, MAX_URL_LENGTH, 'the query string alone');
  }
  return { queryString, preferences };
}

/**
 * Just the query string of {@link buildQuery}: `''` or `'?…'`.
 *
 * @example `accounts/$count${buildQueryString({ filter: { statecode: 0 } })}`
 */
export function buildQueryString<T extends object = Record<string, unknown>>(query?: QueryOptions<T>, argument = 'query'): string {
  return buildQuery(query, argument).queryString;
}

/** Options for {@link composePrefer}. */
export interface PreferOptions {
  /** `return=representation`: creates answer 201 with the record, updates 200. Default false. */
  returnRepresentation?: boolean;
  /** `odata.maxpagesize=n`, 1..5000. Default: none (the server's 5000). */
  maxPageSize?: number;
  /** `odata.include-annotations="…"`; `true` means `"*"`. Default: none. */
  includeAnnotations?: string | readonly string[] | true;
  /** `odata.continue-on-error`: a `$batch` carries on past failed parts. Default false. */
  continueOnError?: boolean;
  /** Further preferences written as given, e.g. `'odata.track-changes'`. Default: none. */
  extra?: readonly string[];
}

function checkMaxPageSize(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw invalidArgument(argument, `a whole number from 1 to ${MAX_PAGE_SIZE} (Dataverse's maximum page size)`, value);
  }
  return value;
}

/** Annotation term names or patterns: `OData.Community.Display.V1.FormattedValue`, `*`, `Microsoft.Dynamics.CRM.*`, `-…`. */
const ANNOTATION = /^-?(\*|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\.\*)?)$/;

function annotationList(value: unknown, argument: string): string[] {
  const list = value === true ? ['*'] : typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidArgument(argument, 'true, an annotation name such as "OData.Community.Display.V1.FormattedValue", or a non-empty array of them', value);
  }
  list.forEach((item: unknown, index) => {
    if (typeof item !== 'string' || !ANNOTATION.test(item)) {
      throw invalidArgument(`${argument}[${index}]`, 'an annotation name or pattern such as "OData.Community.Display.V1.FormattedValue" or "*"', item);
    }
  });
  return list as string[];
}

/**
 * Composes one `Prefer` header (RFC 7240 §2: preferences separated by commas), or undefined when
 * nothing is preferred. Dataverse reads several preferences from one header
 * (query/select-columns.md joins `odata.include-annotations` and `odata.maxpagesize` this way).
 *
 * @throws DynamicsError `invalid_argument` naming `maxPageSize`, `includeAnnotations` or `extra`.
 * @example composePrefer({ maxPageSize: 500, includeAnnotations: true })
 *   // 'odata.include-annotations="*",odata.maxpagesize=500'
 */
export function composePrefer(options: PreferOptions = {}): string | undefined {
  const parts: string[] = [];
  if (options.returnRepresentation) parts.push('return=representation');
  if (options.includeAnnotations !== undefined) {
    parts.push(`odata.include-annotations="${annotationList(options.includeAnnotations, 'includeAnnotations').join(',')}"`);
  }
  if (options.maxPageSize !== undefined) parts.push(`odata.maxpagesize=${checkMaxPageSize(options.maxPageSize, 'maxPageSize')}`);
  if (options.continueOnError) parts.push('odata.continue-on-error');
  if (options.extra !== undefined) {
    if (!Array.isArray(options.extra)) throw invalidArgument('extra', 'an array of preferences', options.extra);
    options.extra.forEach((item: unknown, index) => {
      // A CR or LF would let a caller inject a header; an empty item would leave a stray comma.
      // eslint-disable-next-line no-control-regex
      if (typeof item !== 'string' || item.trim() === '' || /[\u0000-\u001f\u007f]/.test(item)) {
        throw invalidArgument(`extra[${index}]`, 'a non-empty preference without control characters', item);
      }
      parts.push(item.trim());
    });
  }
  return parts.length === 0 ? undefined : parts.join(',');
}

/** What the server applied, from `Preference-Applied`. */
export interface PreferenceApplied {
  /** `odata.maxpagesize`, when applied. */
  maxPageSize?: number;
  /** The `odata.include-annotations` list, when applied. */
  includeAnnotations?: string[];
  /** `return=representation` was applied. */
  returnRepresentation: boolean;
  /** `odata.continue-on-error` was applied. */
  continueOnError: boolean;
  /** Every preference by lower-cased name: its value, or `true` for a bare preference. */
  all: Record<string, string | true>;
}

/**
 * Splits a header value on commas and semicolons outside double quotes (RFC 7230 §3.2.6
 * quoted-string, backslash escapes included).
 */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === separator) {
      out.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  out.push(current);
  return out;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  return v;
}

/**
 * Parses a `Preference-Applied` (or `Prefer`) header. Tolerant: unknown preferences land in
 * `all`, a malformed `odata.maxpagesize` is left out, a missing header gives an empty result.
 *
 * @example parsePreferenceApplied('odata.maxpagesize=2') // { maxPageSize: 2, … }
 */
export function parsePreferenceApplied(header: string | readonly string[] | undefined | null): PreferenceApplied {
  const result: PreferenceApplied = { returnRepresentation: false, continueOnError: false, all: {} };
  if (header === undefined || header === null) return result;
  const text = Array.isArray(header) ? header.join(',') : String(header);
  for (const item of splitOutsideQuotes(text, ',')) {
    // Parameters after `;` (RFC 7240 §2) are not used by OData preferences; keep the main pair.
    const [pair] = splitOutsideQuotes(item, ';');
    const trimmed = pair.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const name = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
    if (name === '') continue;
    const value: string | true = eq < 0 ? true : unquote(trimmed.slice(eq + 1));
    result.all[name] = value;
    if (name === 'odata.maxpagesize' && typeof value === 'string' && /^\d+$/.test(value)) result.maxPageSize = Number(value);
    else if (name === 'odata.include-annotations' && typeof value === 'string') {
      result.includeAnnotations = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    } else if (name === 'return' && value === 'representation') result.returnRepresentation = true;
    else if (name === 'odata.continue-on-error' && (value === true || value === 'true')) result.continueOnError = true;
  }
  return result;
}
