/**
 * `Retry-After`, read once for the whole library: the token endpoint (src/auth) and the Web API
 * pipeline (src/http) both honour it.
 */

/**
 * `Retry-After` in milliseconds: delta-seconds (`"5"`, as Dataverse sends for 429, api-limits.md)
 * or an HTTP-date (RFC 9110 §10.2.3), also a `hh:mm:ss` time span. A date in the past gives 0.
 * Anything else (missing, negative, garbage) gives undefined.
 *
 * @param now - the current time in ms since the epoch. Default `Date.now()`.
 * @example parseRetryAfter('2') // 2000
 */
export function parseRetryAfter(value: string | number | readonly string[] | undefined | null, now: number = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const text = (Array.isArray(value) ? value[0] : value) as string | undefined;
  if (typeof text !== 'string') return undefined;
  const v = text.trim();
  if (/^\d+(\.\d+)?$/.test(v)) {
    const ms = Math.round(Number(v) * 1000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const span = /^(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?$/.exec(v);
  if (span) return ((Number(span[1]) * 60 + Number(span[2])) * 60 + Number(span[3]) + Number(span[4] ?? 0)) * 1000;
  // An HTTP-date names a weekday or month and ends in GMT (IMF-fixdate, RFC 850, asctime).
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
