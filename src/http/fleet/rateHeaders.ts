/**
 * Dataverse's rate-limit headers, read tolerantly. They are documented "for debugging"
 * (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits), so a value that cannot
 * be read is ignored rather than trusted.
 */

/**
 * `x-ms-ratelimit-burst-remaining-xrm-requests` (`5999`): a whole number of requests, or undefined.
 *
 * @example parseBurstRemaining('5999') // 5999
 */
export function parseBurstRemaining(value: string | readonly string[] | undefined): number | undefined {
  const text = first(value);
  if (text === undefined || !/^\d{1,9}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * `x-ms-ratelimit-time-remaining-xrm-requests` in seconds. Dataverse writes it en-US formatted,
 * `1,200.00` (Microsoft's capture in dp/webapi/use-ps-and-vscode-web-api.md) or `1,199.97`; the format
 * is not documented, so a plain `1200.5` and the other culture's `1.200,00` are read too.
 *
 * @example parseTimeRemaining('1,200.00') // 1200
 */
export function parseTimeRemaining(value: string | readonly string[] | undefined): number | undefined {
  const text = first(value);
  if (text === undefined || text.length > 32) return undefined;
  let normalised: string;
  if (/^\d{1,3}(,\d{3})*(\.\d+)?$/.test(text) || /^\d+(\.\d+)?$/.test(text)) normalised = text.replace(/,/g, '');
  else if (/^\d{1,3}(\.\d{3})*(,\d+)?$/.test(text) || /^\d+,\d+$/.test(text)) normalised = text.replace(/\./g, '').replace(',', '.');
  else return undefined;
  const n = Number(normalised);
  return Number.isFinite(n) ? n : undefined;
}

/** `x-ms-dop-hint` (`48`): a whole number from 1 to 1000, or undefined. */
export function parseDopHint(value: string | readonly string[] | undefined): number | undefined {
  const text = first(value);
  if (text === undefined || !/^\d{1,4}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 1000 ? n : undefined;
}

function first(value: string | readonly string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === 'string' ? v.trim() : undefined;
}
