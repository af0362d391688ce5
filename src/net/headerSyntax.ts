/**
 * What a header name and value may contain (RFC 9110 §5.1 field names are `token`s, §5.5 field
 * values exclude control characters other than HTAB). One definition for every place that writes
 * headers it was handed: per-call headers of the client, the parts of a `$batch`, the compat layer.
 */

/** RFC 9110 `token` (§5.6.2): the characters a header name may contain. */
export const HEADER_NAME_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Control characters a header value must not contain: everything below 0x20 except HTAB, and DEL (RFC 9110 §5.5). */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_VALUE_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** True when `name` is a valid header name (an RFC 9110 token). */
export function isHeaderName(name: unknown): name is string {
  return typeof name === 'string' && HEADER_NAME_PATTERN.test(name);
}

/**
 * True when `value` may go into a header as is: a string without line breaks, NUL or other control
 * characters (a CR or LF would let a caller's value start a header or a request of its own).
 */
export function isHeaderValue(value: unknown): value is string {
  return typeof value === 'string' && !FORBIDDEN_VALUE_CHARACTER.test(value);
}
