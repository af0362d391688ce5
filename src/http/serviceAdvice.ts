/**
 * What to do about a service error whose cause is known: a sentence appended to the error's message,
 * so that the fix is where the failure is read. Only for errors whose cause the service's code or
 * message pins down; everything else is left as the service worded it.
 */

/** The facts of a failed response the advice is chosen from. */
export interface ServiceErrorFacts {
  status: number;
  /** Dataverse's code (`0x8004e023`) or ours (`http_error`). */
  code: string;
  /** The service's own message, when it sent one. */
  serviceMessage?: string;
}

/** A hex code compared without regard to case or a `0x` prefix (the docs write `8004E023`, the Web API `0x8004e023`). */
function isCode(code: string, hex: string, decimal: string): boolean {
  const c = code.trim().toLowerCase();
  return c === hex || c === `0x${hex}` || c === decimal;
}

/**
 * ODataLib's message for a GUID compared with a quoted string: "A binary operator with incompatible
 * types was detected. Found operand types 'Edm.Guid' and 'Edm.String' for operator kind 'Equal'."
 * (either order). It is what `{ _parentcustomerid_value: id }` gets without the model.
 */
const GUID_AS_STRING = /incompatible types[^]*'Edm\.Guid' and 'Edm\.String'|incompatible types[^]*'Edm\.String' and 'Edm\.Guid'/;

/**
 * The advice for a failed response, or `''`. Each names the fix:
 *
 * - a GUID sent quoted to an `Edm.Guid` column: wrap it in `guid()` or give the client the generated
 *   `model`, which writes GUID columns unquoted;
 * - FetchXML's aggregate limit (`8004E023`, AggregateQueryRecordLimit, 50,000 rows;
 *   https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/aggregate-data): narrow
 *   the filter or aggregate in parts;
 * - FetchXML's link-entity limit (`0x8004430D`, 15;
 *   https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/join-tables): use fewer
 *   link-entity elements.
 *
 * @example serviceAdvice({ status: 400, code: '0x8004e023', serviceMessage: 'AggregateQueryRecordLimit exceeded. Cannot perform this operation.' })
 */
export function serviceAdvice(facts: ServiceErrorFacts): string {
  const message = facts.serviceMessage ?? '';
  if (facts.status === 400 && GUID_AS_STRING.test(message)) {
    return (
      ' A GUID compared with an Edm.Guid column (a lookup such as _parentcustomerid_value, or a primary key) must be sent unquoted:' +
      " wrap the value in guid(id) (exported by dynamics-odata), or pass the generated model to the client (new DynamicsClient<Schema>({ url, auth, model })) so that GUID columns are written unquoted for you."
    );
  }
  if (isCode(facts.code, '8004e023', '-2147164125') || /AggregateQueryRecordLimit/i.test(message)) {
    return (
      ' The aggregate query covers more than the 50,000 rows Dataverse aggregates at once (or the lower aggregatelimit you set):' +
      ' narrow its filter, or aggregate in parts (for example one date range or one owner at a time) and combine the results.'
    );
  }
  if (isCode(facts.code, '8004430d', '-2147204339') || /Number of link entities in query exceeded maximum limit/i.test(message)) {
    return ' A FetchXML query may join at most 15 tables: use fewer link-entity elements, for example by splitting the query in two and joining the results yourself.';
  }
  return '';
}
