/**
 * The URL lengths Dataverse accepts, checked before anything is sent, so that a long filter is an
 * `invalid_argument` naming what made it long instead of a 404/414 from a front end that quotes the
 * whole URL back.
 *
 * Source: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors,
 * "Maximum URL length" and "Maximum OData Segment length".
 */
import { DynamicsError, ErrorCode } from '../errors';
import { quote } from './fail';

/** The longest URL Dataverse accepts: "32 KB (32,768 characters)" (the page cited above). */
export const MAX_URL_LENGTH = 32_768;

/** The longest URL of a request sent inside a `$batch` body: "up to 64 KB (65,536 characters)" (same page). */
export const MAX_BATCH_URL_LENGTH = 65_536;

/**
 * The longest path segment (`accounts(accountnumber='…')`) Dataverse accepts: "can't be longer than
 * 260 characters", or the answer is 400 Invalid URL (same page).
 */
export const MAX_SEGMENT_LENGTH = 260;

/** Characters of the URL quoted in the error: enough to recognise the request, never the whole of it. */
const QUOTED_URL_CHARS = 120;

const formatCount = (n: number): string => n.toLocaleString('en-US');

/** The longest `name=value` part of a query string, named by its option (`$filter`, `fetchXml`, `@p1`). */
function longestOption(url: string): { name: string; length: number } | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  let best: { name: string; length: number } | undefined;
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (best === undefined || part.length > best.length) best = { name: name.slice(0, 40), length: part.length };
  }
  return best;
}

/**
 * The error for a URL longer than `limit`: its length, the limit and where it comes from, the option
 * that makes it long, and what to do. It quotes only the start of the URL.
 *
 * The routing seam: a later issue sends a GET whose URL is too long inside `$batch` instead (the
 * documented workaround, where {@link MAX_BATCH_URL_LENGTH} applies). Until then the callers of
 * {@link checkUrlLength} refuse it here, before anything is sent.
 */
export function urlTooLong(argument: string, url: string, limit: number, what = 'the request URL'): DynamicsError {
  const longest = longestOption(url);
  const where = longest !== undefined && longest.length > limit / 2 ? `; ${longest.name} alone is ${formatCount(longest.length)} characters` : '';
  const advice =
    limit === MAX_BATCH_URL_LENGTH
      ? 'Shorten the query (select fewer columns, split a long "in" list over several requests).'
      : `Shorten the query (select fewer columns, split a long "in" list over several calls), or send the GET inside client.batch(), where a URL may be up to ${formatCount(MAX_BATCH_URL_LENGTH)} characters.`;
  return new DynamicsError(
    `${argument}: ${what} is ${formatCount(url.length)} characters long, and Dataverse accepts at most ${formatCount(limit)}` +
      `${limit === MAX_BATCH_URL_LENGTH ? ' inside a $batch' : ''} (compose-http-requests-handle-errors.md, "Maximum URL length")${where}. ` +
      `${advice} It starts ${quote(url, QUOTED_URL_CHARS)}`,
    { code: ErrorCode.invalidArgument },
  );
}

/**
 * Refuses a URL longer than Dataverse accepts.
 *
 * @param argument - what the error names. Default `'url'`.
 * @param limit - {@link MAX_URL_LENGTH} (default) for a request of its own, {@link MAX_BATCH_URL_LENGTH} inside `$batch`.
 * @throws DynamicsError `invalid_argument` saying the URL is too long, by how much, and what to do.
 */
export function checkUrlLength(url: string, argument = 'url', limit: number = MAX_URL_LENGTH): void {
  if (url.length > limit) throw urlTooLong(argument, url, limit);
}
