/**
 * A small, bounded XML reader for FetchXML documents: elements, attributes, text (for `<value>`),
 * character and the five predefined entity references, comments, CDATA and an XML declaration. No
 * DTDs (a `<!DOCTYPE` is refused: entity expansion is how XML bombs work), no namespaces beyond names
 * with colons. Nesting is bounded (a {@link NestingGuard} with its own error) and so is the number of
 * elements, so that no query can exhaust the stack or the heap; the text itself is bounded by the URL
 * limits before it gets here.
 */
import { dvErrors } from '../errors';
import { NestingGuard } from '../shared/depth';

/** One element. */
export interface XmlElement {
  name: string;
  attributes: Map<string, string>;
  children: XmlElement[];
  /** The element's own text (character data between its children), entity references resolved. */
  text: string;
}

/** Deepest element nesting read: real FetchXML nests filters and link-entities a handful of levels. */
export const MAX_XML_DEPTH = 64;
/** Most elements in one document (a 64 KB query holds at most about 6,000). */
export const MAX_XML_ELEMENTS = 20_000;

/** The error a malformed query gets: Dataverse answers malformed FetchXML with a 400 (its exact text is not documented). */
function malformed(detail: string): never {
  throw dvErrors.badRequest(`The FetchXML is not valid XML: ${detail}.`, '0x80040203');
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text: string, at: number): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;\s]{0,10});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) malformed(`a bare '&' at ${at}`);
    let code: number | undefined;
    if (ref.startsWith('#x')) code = parseInt(ref.slice(2), 16);
    else if (ref.startsWith('#')) code = parseInt(ref.slice(1), 10);
    else if (ENTITIES[ref] !== undefined) return ENTITIES[ref];
    else malformed(`the unknown entity '&${ref};' at ${at}`);
    if (code === undefined || !Number.isInteger(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) malformed(`an invalid character reference '${whole}' at ${at}`);
    return String.fromCodePoint(code);
  });
}

const NAME = /^[A-Za-z_][\w.:-]*/;

/**
 * Parses a document into its root element.
 *
 * @throws DataverseHttpError 400 for anything that is not well-formed, too deep or too large.
 */
export function parseXml(source: string): XmlElement {
  let i = 0;
  let elements = 0;
  const guard = new NestingGuard(MAX_XML_DEPTH, () => dvErrors.badRequest(`The FetchXML nests elements deeper than ${MAX_XML_DEPTH} levels.`, '0x80040203'));
  const skipMisc = (): void => {
    for (;;) {
      while (i < source.length && /\s/.test(source[i] as string)) i++;
      if (source.startsWith('<?', i)) {
        const end = source.indexOf('?>', i);
        if (end < 0) malformed('an unterminated processing instruction');
        i = end + 2;
      } else if (source.startsWith('<!--', i)) {
        const end = source.indexOf('-->', i + 4);
        if (end < 0) malformed('an unterminated comment');
        i = end + 3;
      } else if (source.startsWith('<!DOCTYPE', i) || source.startsWith('<!ENTITY', i)) {
        malformed('document type declarations are not allowed');
      } else return;
    }
  };

  const element = (): XmlElement => {
    const at = i;
    if (source[i] !== '<') malformed(`'<' expected at ${i}`);
    i++;
    const nameMatch = NAME.exec(source.slice(i, i + 200));
    if (!nameMatch) malformed(`an element name expected at ${i}`);
    const name = nameMatch[0];
    i += name.length;
    elements++;
    if (elements > MAX_XML_ELEMENTS) throw dvErrors.badRequest(`The FetchXML has more than ${MAX_XML_ELEMENTS} elements.`, '0x80040203');
    const attributes = new Map<string, string>();
    for (;;) {
      const ws = i;
      while (i < source.length && /\s/.test(source[i] as string)) i++;
      if (source.startsWith('/>', i)) {
        i += 2;
        return { name, attributes, children: [], text: '' };
      }
      if (source[i] === '>') {
        i++;
        break;
      }
      if (i === ws) malformed(`whitespace expected before an attribute at ${i} in <${name}>`);
      const attr = NAME.exec(source.slice(i, i + 200));
      if (!attr) malformed(`an attribute name expected at ${i} in <${name}>`);
      i += attr[0].length;
      while (i < source.length && /\s/.test(source[i] as string)) i++;
      if (source[i] !== '=') malformed(`'=' expected after the attribute '${attr[0]}' at ${i}`);
      i++;
      while (i < source.length && /\s/.test(source[i] as string)) i++;
      const quote = source[i];
      if (quote !== '"' && quote !== "'") malformed(`a quoted value expected for the attribute '${attr[0]}' at ${i}`);
      const close = source.indexOf(quote, i + 1);
      if (close < 0) malformed(`an unterminated value of the attribute '${attr[0]}'`);
      const raw = source.slice(i + 1, close);
      if (raw.includes('<')) malformed(`'<' inside the value of the attribute '${attr[0]}' at ${i}`);
      if (attributes.has(attr[0])) malformed(`the attribute '${attr[0]}' given twice in <${name}>`);
      attributes.set(attr[0], unescape(raw, i));
      i = close + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (i >= source.length) malformed(`<${name}> opened at ${at} is not closed`);
      if (source.startsWith('</', i)) {
        const end = source.indexOf('>', i);
        if (end < 0 || source.slice(i + 2, end).trim() !== name) malformed(`</${name}> expected at ${i}`);
        i = end + 1;
        return { name, attributes, children, text };
      }
      if (source.startsWith('<!--', i)) {
        const end = source.indexOf('-->', i + 4);
        if (end < 0) malformed('an unterminated comment');
        i = end + 3;
      } else if (source.startsWith('<![CDATA[', i)) {
        const end = source.indexOf(']]>', i);
        if (end < 0) malformed('an unterminated CDATA section');
        text += source.slice(i + 9, end);
        i = end + 3;
      } else if (source[i] === '<') {
        children.push(guard.within(element));
      } else {
        const next = source.indexOf('<', i);
        const end = next < 0 ? source.length : next;
        text += unescape(source.slice(i, end), i);
        i = end;
      }
    }
  };

  skipMisc();
  if (i >= source.length) malformed('the document is empty');
  const root = guard.within(element);
  skipMisc();
  if (i < source.length) malformed(`text after the root element at ${i}`);
  return root;
}
