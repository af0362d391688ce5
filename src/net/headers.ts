/** Response headers as node and most clients hand them over (names in any case). */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/**
 * Reads one header whatever the case of its name; arrays are joined with `, ` as HTTP allows.
 * The exact lower-case name is tried first (node lower-cases every name), then the rest are scanned.
 */
export function headerValue(headers: HeaderBag | undefined | null, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const lower = name.toLowerCase();
  let value = Object.prototype.hasOwnProperty.call(headers, lower) ? headers[lower] : undefined;
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.length === lower.length && key.toLowerCase() === lower) {
        value = headers[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/**
 * The request id a failure should carry: Dataverse's `x-ms-service-request-id`, `REQ_ID` or
 * `request-id` as older front ends send them, or Entra's `x-ms-request-id`. Only the first of a
 * repeated header is kept.
 */
export function requestIdOf(headers: HeaderBag | undefined | null): string | undefined {
  const value =
    headerValue(headers, 'x-ms-service-request-id') ?? headerValue(headers, 'req_id') ?? headerValue(headers, 'request-id') ?? headerValue(headers, 'x-ms-request-id');
  if (value === undefined) return undefined;
  const first = value.split(',')[0].trim();
  return first === '' ? undefined : first;
}
