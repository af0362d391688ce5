/**
 * URL pieces of the Web API: the query string (decoded exactly once), system query options
 * ($select, $filter, $orderby, $top, $count, $expand, $skiptoken), resource-path segments and key
 * predicates, and the opaque `$skiptoken` the emulator pages with.
 */
import { dvErrors } from './errors';
import { literalOf, tokenize, type ValueKind } from './filter';
import { queryNesting, type NestingGuard } from './shared/depth';

/** One query-string parameter with its raw (still encoded) form, kept for building nextLinks. */
export interface QueryParam {
  name: string;
  value: string;
  raw: string;
}

/**
 * Splits a raw query string. `+` means a space and `%XX` is decoded once, as ASP.NET (and so Dataverse)
 * reads query strings: clients must percent-encode `&`, `#`, `+`, `%` and `?` inside values.
 */
export function parseQueryString(raw: string): QueryParam[] {
  const out: QueryParam[] = [];
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    out.push({ name: decode(rawName), value: decode(rawValue), raw: part });
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw dvErrors.syntax(`The query string contains a malformed percent-encoding: '${s}'.`);
  }
}

export interface ExpandItem {
  navigation: string;
  select?: string[];
  filter?: string;
  orderby?: string;
  top?: number;
  expand?: ExpandItem[];
}

export interface QueryOptions {
  select?: string[];
  filter?: string;
  orderby?: string;
  top?: number;
  count: boolean;
  expand?: ExpandItem[];
  skiptoken?: string;
  /** Parameter aliases (`@p1=…`). */
  aliases: Map<string, string>;
  /** Parameters that are neither system options nor aliases (function parameters in the query). */
  other: QueryParam[];
}

const UNSUPPORTED: Record<string, string> = {
  $skip: 'skip',
  $search: 'The query parameter $search is not supported by the emulator; Dataverse search uses /api/search.',
  $apply: 'The query parameter $apply (aggregation) is not supported by the emulator.',
};

/** Splits on `sep` at parenthesis depth 0, outside quotes. */
export function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === sep) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

function parseTop(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw dvErrors.syntax(`Invalid value '${value}' for $top query option found. The $top query option requires a non-negative integer value.`);
  return Number(value.trim());
}

/** Reads `$expand` (nested `$expand` options recurse, one level deeper in `guard` each). */
function parseExpand(text: string, guard: NestingGuard = queryNesting()): ExpandItem[] {
  return splitTopLevel(text, ',').map((item) => {
    const open = item.indexOf('(');
    if (open < 0) return { navigation: item };
    if (!item.endsWith(')')) throw dvErrors.syntax(`Syntax error in $expand at '${item}'.`);
    const navigation = item.slice(0, open).trim();
    const result: ExpandItem = { navigation };
    for (const opt of splitTopLevel(item.slice(open + 1, -1), ';')) {
      const eq = opt.indexOf('=');
      const name = (eq < 0 ? opt : opt.slice(0, eq)).trim();
      const value = eq < 0 ? '' : opt.slice(eq + 1).trim();
      switch (name) {
        case '$select':
          result.select = splitTopLevel(value, ',');
          break;
        case '$filter':
          result.filter = value;
          break;
        case '$orderby':
          result.orderby = value;
          break;
        case '$top':
          result.top = parseTop(value);
          break;
        case '$expand':
          result.expand = guard.within(() => parseExpand(value, guard));
          break;
        default:
          throw dvErrors.syntax(`The query option '${name}' is not supported inside $expand.`);
      }
    }
    return result;
  });
}

/**
 * A system query option (`$filter`, `$top`, …) given twice is ODataLib's 400 ("Query option '$filter'
 * was specified more than once, but it must be specified at most once."): a client that appends a
 * second `$filter` expecting both to apply must not get a wider result than it asked for. A parameter
 * alias given twice gets the same answer here (which value applies would be a guess; ODataLib's
 * answer for it is not documented).
 */
export function rejectDuplicateOptions(params: readonly QueryParam[]): void {
  const seen = new Set<string>();
  for (const p of params) {
    const name = p.name.trim();
    if (!name.startsWith('$') && !name.startsWith('@')) continue;
    if (seen.has(name)) throw dvErrors.duplicateQueryOption(name);
    seen.add(name);
  }
}

/** Reads the system query options; unsupported ones get Dataverse's 400. */
export function parseQueryOptions(params: QueryParam[]): QueryOptions {
  const q: QueryOptions = { count: false, aliases: new Map(), other: [] };
  rejectDuplicateOptions(params);
  for (const p of params) {
    const name = p.name.trim();
    if (name.startsWith('@')) {
      q.aliases.set(name, p.value);
      continue;
    }
    if (!name.startsWith('$')) {
      q.other.push(p);
      continue;
    }
    const unsupported = UNSUPPORTED[name];
    if (unsupported === 'skip') throw dvErrors.skipNotSupported();
    if (unsupported) throw dvErrors.badRequest(unsupported);
    switch (name) {
      case '$select':
        q.select = splitTopLevel(p.value, ',');
        break;
      case '$filter':
        q.filter = p.value;
        break;
      case '$orderby':
        q.orderby = p.value;
        break;
      case '$top':
        q.top = parseTop(p.value);
        break;
      case '$count':
        if (p.value !== 'true' && p.value !== 'false') throw dvErrors.syntax(`'${p.value}' is not a valid count option.`);
        q.count = p.value === 'true';
        break;
      case '$expand':
        q.expand = parseExpand(p.value);
        break;
      case '$skiptoken':
        q.skiptoken = p.value;
        break;
      case '$format':
        break;
      default:
        throw dvErrors.syntax(`The query parameter '${name}' is not supported.`);
    }
  }
  return q;
}

export interface OrderTerm {
  path: string[];
  desc: boolean;
}

export function parseOrderBy(text: string): OrderTerm[] {
  return splitTopLevel(text, ',').map((term) => {
    const m = /^([A-Za-z_][A-Za-z0-9_./]*)(?:\s+(asc|desc))?$/i.exec(term.trim());
    if (!m) throw dvErrors.syntax(`Syntax error in $orderby at '${term}'.`);
    return { path: (m[1] as string).split('/'), desc: (m[2] ?? 'asc').toLowerCase() === 'desc' };
  });
}

// ---- resource path ----

export interface PathSegment {
  /** Identifier before any parentheses (`accounts`, `$ref`, `Microsoft.Dynamics.CRM.WinOpportunity`). */
  name: string;
  /** Text between the parentheses, if present (`00000000-…`, `accountnumber='A1'`, empty for `WhoAmI()`). */
  args?: string;
}

/** Splits the resource path after `/api/data/v9.x/` into decoded segments (quote-aware, decoded once). */
export function parsePath(raw: string): PathSegment[] {
  const segments: string[] = [];
  let quote = false;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === "'") quote = !quote;
    else if (c === '/' && !quote) {
      segments.push(raw.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(raw.slice(start));
  return segments
    .filter((s, i) => s.length > 0 || i < segments.length - 1)
    .filter((s) => s.length > 0)
    .map((s) => {
      let text: string;
      try {
        text = decodeURIComponent(s);
      } catch {
        throw dvErrors.syntax(`The URL segment '${s}' contains a malformed percent-encoding.`);
      }
      const open = text.indexOf('(');
      if (open < 0) return { name: text };
      if (!text.endsWith(')')) throw dvErrors.syntax('Bad Request - Error in query syntax.');
      return { name: text.slice(0, open), args: text.slice(open + 1, -1) };
    });
}

export interface KeyValue {
  kind: ValueKind;
  value: string | number | boolean | null;
}

/** Parses a key predicate: a single value or `name=value` pairs (strings quoted with `''` escaping). */
export function parseKey(args: string): { single?: KeyValue; named?: Map<string, KeyValue> } {
  const tokens = tokenize(args);
  const valueAt = (i: number): KeyValue => {
    const t = tokens[i];
    if (!t) throw dvErrors.syntax('Bad Request - Error in query syntax.');
    if (t.t === 'str') return { kind: 'string', value: t.v };
    if (t.t === 'word') {
      const lit = literalOf(t.v);
      if (lit) return lit;
      if (t.v.startsWith('@')) return { kind: 'other', value: t.v };
    }
    throw dvErrors.syntax('Bad Request - Error in query syntax.');
  };
  if (tokens.length === 1) return { single: valueAt(0) };
  const named = new Map<string, KeyValue>();
  let i = 0;
  while (i < tokens.length) {
    const name = tokens[i];
    const eq = tokens[i + 1];
    if (!name || name.t !== 'word' || !eq || eq.t !== 'punct' || eq.v !== '=') throw dvErrors.syntax('Bad Request - Error in query syntax.');
    named.set(name.v, valueAt(i + 2));
    i += 3;
    const comma = tokens[i];
    if (comma) {
      if (comma.t !== 'punct' || comma.v !== ',') throw dvErrors.syntax('Bad Request - Error in query syntax.');
      i++;
    }
  }
  return { named };
}

// ---- skiptoken ----

/**
 * The emulator's `$skiptoken`: the sort values and primary key of the last row sent, inside a cookie
 * shaped like Dataverse's (`<cookie pagenumber="2" pagingcookie="…" istracking="False" />`), so that
 * clients which re-encode or edit nextLinks break here as they would against Dataverse. Seeking to
 * the position after that row (rather than counting rows) means inserts and deletes between pages
 * never cause a lost or repeated row.
 */
export function encodeSkipToken(page: number, last: unknown[]): string {
  const payload = Buffer.from(JSON.stringify(last), 'utf8').toString('base64url');
  return `<cookie pagenumber="${page}" pagingcookie="${payload}" istracking="False" />`;
}

export function decodeSkipToken(token: string): { page: number; last: unknown[] } {
  const m = /^<cookie pagenumber="(\d+)" pagingcookie="([A-Za-z0-9_-]*)" istracking="False" \/>$/.exec(token);
  if (!m) throw dvErrors.badRequest('The $skiptoken value is not valid. Use the @odata.nextLink URL exactly as returned.');
  try {
    const last = JSON.parse(Buffer.from(m[2] as string, 'base64url').toString('utf8')) as unknown;
    // The emulator wrote sort keys: strings, numbers and nulls. Anything else was made up by the client.
    if (!Array.isArray(last) || !last.every((v) => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) throw new Error('not a sort key');
    return { page: Number(m[1]), last };
  } catch {
    throw dvErrors.badRequest('The $skiptoken value is not valid. Use the @odata.nextLink URL exactly as returned.');
  }
}
