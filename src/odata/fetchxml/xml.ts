/**
 * The little XML FetchXML needs on the client: escaping attribute values, and reading and rewriting
 * the attributes of a document's root element (`<fetch count='50' page='2' paging-cookie='…'>`) without
 * parsing, or changing, anything else the caller wrote.
 */
import { invalidArgument } from '../fail';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text escaped for an XML attribute value in either quote (XML 1.0 §2.4). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character and entity references replaced by their characters (`&lt;` → `<`, `&#39;` → `'`); an unknown one is kept as written. */
export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return codePoint(parseInt(ref.slice(2), 16), whole);
    if (ref.startsWith('#')) return codePoint(parseInt(ref.slice(1), 10), whole);
    return ENTITIES[ref] ?? whole;
  });
}

function codePoint(n: number, fallback: string): string {
  return Number.isInteger(n) && n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : fallback;
}

/** The root element's start tag: where it is, its name, and its attributes in order (values unescaped). */
export interface StartTag {
  /** Index of `<`. */
  start: number;
  /** Index just after `>`. */
  end: number;
  name: string;
  attributes: Array<[string, string]>;
  /** `<x/>`. */
  selfClosing: boolean;
}

/**
 * Reads the start tag of an element beginning at `from` (which must be at `<`), or undefined when it
 * is not a well-formed start tag.
 */
export function readStartTag(xml: string, from: number): StartTag | undefined {
  const head = /^<([A-Za-z_][\w.:-]*)/.exec(xml.slice(from, from + 200));
  if (!head) return undefined;
  const name = head[1] as string;
  let i = from + head[0].length;
  const attributes: Array<[string, string]> = [];
  for (;;) {
    const ws = /^\s*/.exec(xml.slice(i, i + 1000)) as RegExpExecArray;
    i += ws[0].length;
    if (xml.startsWith('/>', i)) return { start: from, end: i + 2, name, attributes, selfClosing: true };
    if (xml[i] === '>') return { start: from, end: i + 1, name, attributes, selfClosing: false };
    if (ws[0].length === 0 && attributes.length > 0) return undefined;
    const attr = /^([A-Za-z_][\w.:-]*)\s*=\s*(['"])/.exec(xml.slice(i, i + 300));
    if (!attr) return undefined;
    const quote = attr[2] as string;
    const valueStart = i + attr[0].length;
    const close = xml.indexOf(quote, valueStart);
    if (close < 0) return undefined;
    const raw = xml.slice(valueStart, close);
    if (raw.includes('<')) return undefined;
    attributes.push([attr[1] as string, unescapeXml(raw)]);
    i = close + 1;
  }
}

/**
 * The root element's start tag, after an optional XML declaration, comments and whitespace.
 *
 * @throws DynamicsError `invalid_argument` naming `argument` when the text does not start with an element.
 */
export function rootStartTag(xml: string, argument: string): StartTag {
  let i = 0;
  for (;;) {
    while (i < xml.length && /\s/.test(xml[i] as string)) i++;
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i);
      if (end < 0) break;
      i = end + 2;
    } else if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) break;
      i = end + 3;
    } else break;
  }
  const tag = xml[i] === '<' ? readStartTag(xml, i) : undefined;
  if (tag === undefined) throw invalidArgument(argument, "FetchXML text starting with a <fetch …> element, such as \"<fetch><entity name='account'><attribute name='name'/></entity></fetch>\"", xml.slice(0, 120));
  return tag;
}

/**
 * `xml` with the root element's attributes set as given (`undefined` removes one), every other
 * attribute and all the rest of the text kept as written. Values are escaped; attributes are written
 * with single quotes, as Microsoft's FetchXML examples are.
 */
export function withRootAttributes(xml: string, tag: StartTag, changes: Readonly<Record<string, string | undefined>>): string {
  const attributes = new Map(tag.attributes);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) attributes.delete(name);
    else attributes.set(name, value);
  }
  const written = [...attributes].map(([name, value]) => ` ${name}='${escapeXml(value)}'`).join('');
  return `${xml.slice(0, tag.start)}<${tag.name}${written}${tag.selfClosing ? '/>' : '>'}${xml.slice(tag.end)}`;
}
