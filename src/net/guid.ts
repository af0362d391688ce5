/**
 * The one GUID pattern of the library: 8-4-4-4-12 hex digits, either case, no braces
 * (the form Dataverse writes in URLs and JSON, and Entra in `tid`/`oid`/`appid`).
 */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The same, between braces, as the Dataverse UI copies ids: `{…}`. The GUID is capture group 1. */
export const BRACED_GUID_PATTERN = /^\{([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}$/i;

/** True when `value` is a GUID in the 8-4-4-4-12 form (either case, no braces). */
export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && GUID_PATTERN.test(value);
}
