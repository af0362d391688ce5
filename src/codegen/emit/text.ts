/** Small text helpers shared by the emitters. */

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A single-quoted TypeScript string literal. */
export function str(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}'`;
}

/** An object/interface key: bare when it is an identifier, quoted otherwise (`'primarycontactid@odata.bind'`). */
export function key(name: string): string {
  return IDENT.test(name) ? name : str(name);
}

/** Text safe inside a `/** … *\/` comment. */
export function doc(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/\r?\n/g, ' ');
}

/** Code-unit order: the same on every machine and locale, unlike `localeCompare`. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `T[]`, parenthesised when `T` is a union or function type. */
export function arrayOf(type: string): string {
  return /^[A-Za-z0-9_$.]+(<[^|&]*>)?$/.test(type) ? `${type}[]` : `(${type})[]`;
}
