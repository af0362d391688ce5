import { REDACTED, redact } from './redact';

/** Longest excerpt of a server body quoted in an error message. */
export const MAX_EXCERPT_CHARS = 200;
/** Longest caller value quoted in an error message. */
export const MAX_QUOTED_CHARS = 80;

/**
 * A short, single-line, tag-free and redacted excerpt of a body that is not what was expected (an
 * HTML page from a gateway, truncated JSON, plain text): the HTML `<title>` when there is one,
 * otherwise the text with markup, scripts and runs of whitespace removed. Never longer than `max`
 * characters plus an ellipsis, so a huge body cannot flood a log line.
 *
 * @example excerpt('<html><title>502 Bad Gateway</title>…') // '502 Bad Gateway'
 */
export function excerpt(text: string, max: number = MAX_EXCERPT_CHARS): string {
  // Only the head of a huge body is worth reading; this also bounds the regular expressions' work.
  const head = text.length > 64 * 1024 ? text.slice(0, 64 * 1024) : text;
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(head);
  const raw = title ? title[1] : head.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ');
  const decoded = raw
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  // eslint-disable-next-line no-control-regex
  const flat = redact(decoded.replace(/[\u0000-\u001f\u007f\u2028\u2029\s]+/g, ' ').trim());
  return clip(flat, max);
}

/** Cuts `text` to `max` characters plus an ellipsis, never inside a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * Quotes a caller's value for an error message, shortened so that a huge argument cannot flood a
 * log: strings as JSON strings, other values as JSON (or their tag when they cannot be serialised:
 * cycles, BigInts).
 */
export function quote(value: unknown, max: number = MAX_QUOTED_CHARS): string {
  if (typeof value === 'string') return JSON.stringify(clip(value, max));
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${clip(value.toString(), max)}n`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return clip(text, max);
}

/** Longest URL quoted in an error message or kept in an error's `request.url`. */
export const MAX_URL_CHARS = 2048;

/**
 * A URL as errors and log lines show it: redacted (a server can put the bearer token it was sent
 * into an `@odata.nextLink`, which then becomes the URL of the next request) and cut to
 * {@link MAX_URL_CHARS} characters plus an ellipsis, so that a 1 MB query string cannot make a 1 MB
 * message.
 */
export function displayUrl(url: string): string {
  if (typeof url !== 'string') return String(url);
  // Redaction only reads the head: what is cut off is never shown.
  const head = url.length > MAX_URL_CHARS + 1 ? url.slice(0, MAX_URL_CHARS + 1) : url;
  // Userinfo (`https://user:password@host/`) is a credential too.
  return clip(redact(head.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, `$1${REDACTED}@`)), MAX_URL_CHARS);
}

/**
 * Text we did not write (a parser's message that quotes the body, a server's reason phrase), made
 * fit for an error: redacted, on one line, at most `max` characters plus an ellipsis.
 */
export function foreignText(text: string, max: number = MAX_EXCERPT_CHARS): string {
  const head = text.length > 64 * 1024 ? text.slice(0, 64 * 1024) : text;
  // eslint-disable-next-line no-control-regex
  return clip(redact(head).replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' '), max);
}
