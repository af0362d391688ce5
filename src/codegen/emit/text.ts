/** Small text helpers shared by the emitters. */

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Characters written as `\uXXXX` wherever text from the input reaches the output: C0 and C1
 * controls, the line terminators U+2028 and U+2029 (which end a `//` comment and, before ES2019,
 * a string), format characters such as the bidirectional overrides (which make code read
 * differently from what it does), and lone surrogates.
 */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]|[\uD800-\uDFFF]/gu;

function hex(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A single-quoted TypeScript string literal of any text: JSON.stringify's escaping and more (see INVISIBLE). */
export function str(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`).replace(INVISIBLE, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : hex(c)))}'`;
}

/** An object/interface key: bare when it is an identifier, quoted otherwise (`'primarycontactid@odata.bind'`). */
export function key(name: string): string {
  return IDENT.test(name) ? name : str(name);
}

/**
 * Text safe inside a `/** … *\/` comment: `*\/` cannot close it, line terminators become spaces
 * and invisible characters are written out (see INVISIBLE).
 */
export function doc(text: string): string {
  return comment(text).replace(/\*\//g, '*\\/');
}

/** Text safe on one `//` line: no line terminator of any kind survives, invisible characters are written out. */
export function comment(text: string): string {
  return text.replace(/\r\n|[\r\n\u2028\u2029]/g, ' ').replace(INVISIBLE, hex);
}

/** Code-unit order: the same on every machine and locale, unlike `localeCompare`. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `T[]`, parenthesised when `T` is a union or function type. */
export function arrayOf(type: string): string {
  return /^[A-Za-z0-9_$.]+(<[^|&]*>)?$/.test(type) ? `${type}[]` : `(${type})[]`;
}
