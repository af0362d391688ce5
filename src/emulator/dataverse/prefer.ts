/**
 * `Prefer` header parsing per RFC 7240 §2: `preference *( "," preference )` where a preference is
 * `token [ "=" word ] *( ";" parameter )` and `word` is a token or a quoted-string (which may hold
 * commas, as `odata.include-annotations="a,b"` does). Dataverse accepts several preferences joined
 * with commas in one header (dp/webapi/query/select-columns.md).
 */

/** Parsed preferences, keyed by lower-case name; a bare preference has the value `''`. */
export type Preferences = Map<string, string>;

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const out: Preferences = new Map();
  if (header === undefined) return out;
  const text = Array.isArray(header) ? header.join(',') : header;
  let i = 0;
  const n = text.length;
  const skipWs = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && !',;= \t"'.includes(text[i] as string)) i++;
    return text.slice(start, i);
  };
  const readWord = (): string => {
    if (text[i] !== '"') return readToken();
    i++;
    let value = '';
    while (i < n && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < n) i++;
      value += text[i];
      i++;
    }
    i++; // closing quote (tolerates a missing one at the end)
    return value;
  };
  while (i < n) {
    skipWs();
    const name = readToken().toLowerCase();
    skipWs();
    let value = '';
    if (text[i] === '=') {
      i++;
      skipWs();
      value = readWord();
    }
    // Parameters after ';' are not used by any OData preference; skip them.
    while (i < n && text[i] !== ',') {
      if (text[i] === '"') readWord();
      else i++;
    }
    if (name && !out.has(name)) out.set(name, value);
    i++; // ','
  }
  return out;
}

/** Which instance annotations a request asked for with `odata.include-annotations` (OData JSON §4.5/§9). */
export class AnnotationFilter {
  private readonly include: string[] = [];
  private readonly exclude: string[] = [];

  constructor(spec: string | undefined) {
    if (!spec) return;
    for (const raw of spec.split(',')) {
      const item = raw.trim();
      if (!item) continue;
      if (item.startsWith('-')) this.exclude.push(item.slice(1));
      else this.include.push(item);
    }
  }

  /** True if the annotation term (e.g. `OData.Community.Display.V1.FormattedValue`) should be sent. */
  wants(term: string): boolean {
    const matches = (pattern: string) =>
      pattern === '*' || pattern === term || (pattern.endsWith('.*') && term.startsWith(pattern.slice(0, -1)));
    if (this.exclude.some(matches)) return false;
    return this.include.some(matches);
  }

  get any(): boolean {
    return this.include.length > 0;
  }
}
