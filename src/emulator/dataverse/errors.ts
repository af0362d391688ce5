/**
 * Dataverse-shaped errors: `{"error":{"code":"0x…","message":"…"}}` with the HTTP status Dataverse uses.
 * Codes and messages are the ones Microsoft documents or real responses show
 * (troubleshoot/power-platform/dataverse/dataverse-web-api-and-sdk/web-api-client-errors,
 * dp/api-limits.md, dp/webapi/perform-conditional-operations-using-web-api.md).
 */

/**
 * `1200000` → `1,200,000`: Dataverse writes numbers in its limit messages and rate-limit headers as
 * en-US does, whatever the caller's culture (dp/api-limits.md quotes `1,200,000 milliseconds`; the
 * header `x-ms-ratelimit-time-remaining-xrm-requests: 1,200.00` is in Microsoft's own capture,
 * dp/webapi/use-ps-and-vscode-web-api.md). Written out rather than through Intl so that a Node
 * built without full ICU formats the same.
 */
export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+$)/g, ',');
}

/** A failure answered as a Dataverse error body. */
export class DataverseHttpError extends Error {
  override readonly name = 'DataverseHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Factories for the errors the emulator answers, one per Dataverse failure. */
export const dvErrors = {
  /** Real: `{"code":"0x8006088a","message":"Resource not found for the segment 'leadsss'."}` (fixture error-resource-not-found-segment.json). */
  segmentNotFound: (segment: string) => new DataverseHttpError(404, '0x8006088a', `Resource not found for the segment '${segment}'.`),
  /** Retrieve/update/delete of a missing row. */
  recordNotFound: (logicalName: string, id: string) =>
    new DataverseHttpError(404, '0x80040217', `Entity '${logicalName}' With Id = ${id} Does Not Exist`),
  /** A missing row addressed by alternate key. */
  recordNotFoundByKey: (logicalName: string, keyText: string) =>
    new DataverseHttpError(404, '0x80040217', `A record with the specified key values does not exist in ${logicalName} entity`),
  /** `$select`/`$filter`/`$orderby` naming an unknown column (documented code 0x0). */
  unknownQueryProperty: (property: string, qualifiedType: string) =>
    new DataverseHttpError(400, '0x0', `Could not find a property named '${property}' on type '${qualifiedType}'.`),
  /** A request body naming an unknown column (ODataLib ValidationUtils_PropertyDoesNotExistOnType). */
  unknownBodyProperty: (property: string, qualifiedType: string) =>
    new DataverseHttpError(
      400,
      '0x80060888',
      `The property '${property}' does not exist on type '${qualifiedType}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
    ),
  badRequest: (message: string, code = '0x80060888') => new DataverseHttpError(400, code, message),
  /** InvalidArgument (web-service-error-codes: 0x80040203), e.g. an impersonation header that is not a GUID. */
  invalidArgument: (message: string) => new DataverseHttpError(400, '0x80040203', message),
  /**
   * `CallerObjectId`/`MSCRMCallerID` naming no user of the environment. Dataverse's exact answer is not
   * documented; this is its not-found shape for a missing systemuser (ObjectDoesNotExist, 0x80040217).
   */
  impersonatedUserNotFound: (column: 'systemuserid' | 'azureactivedirectoryobjectid', value: string) =>
    new DataverseHttpError(
      404,
      '0x80040217',
      column === 'systemuserid'
        ? `Entity 'systemuser' With Id = ${value} Does Not Exist`
        : `A record with the specified key values does not exist in systemuser entity (azureactivedirectoryobjectid = ${value})`,
    ),
  /** A value of the wrong Edm type in a body. */
  invalidValue: (literal: string, edmType: string) =>
    new DataverseHttpError(400, '0x80060888', `Cannot convert the literal '${literal}' to the expected type '${edmType}'.`),
  /**
   * A string longer than its column's MaxLength. Code and text from the documented `$batch` sample
   * (dp/webapi/execute-batch-operations-using-web-api.md), two spaces after the first sentence included.
   */
  tooLong: (column: string, entity: string, maxLength: number) =>
    new DataverseHttpError(
      400,
      '0x80044331',
      `A validation error occurred.  The length of the '${column}' attribute of the '${entity}' entity exceeded the maximum allowed length of '${maxLength}'.`,
    ),
  /** Writing a lookup's `_x_value` directly instead of `x@odata.bind`. */
  lookupValueWrite: () =>
    new DataverseHttpError(400, '0x80048d19', 'CRM do not support direct update of Entity Reference properties, Use Navigation properties instead.'),
  /** Syntax errors in $filter, keys and other URL parts. */
  syntax: (message: string) => new DataverseHttpError(400, '0x80060888', message),
  /**
   * A query option nested deeper than the parser allows (ODataLib's UriQueryExpressionParser_TooDeep).
   * Code 0x0, as the same parser's documented "Could not find a property named …".
   */
  recursionLimit: () => new DataverseHttpError(400, '0x0', 'The recursion limit has been exceeded.'),
  /** A system query option given twice (ODataLib's QueryOptionUtils_QueryParameterMustBeSpecifiedOnce), code as above. */
  duplicateQueryOption: (name: string) =>
    new DataverseHttpError(400, '0x0', `Query option '${name}' was specified more than once, but it must be specified at most once.`),
  /**
   * A request body nesting objects and arrays deeper than ODataLib's MessageQuotas.MaxNestingDepth.
   * Dataverse's exact text for a plain JSON value is not documented; this one names the limit.
   */
  bodyTooDeep: (limit: number) =>
    new DataverseHttpError(400, '0x80060888', `The request body is nested deeper than the limit of ${limit} levels of objects and arrays.`),
  skipNotSupported: () => new DataverseHttpError(400, '0x80060888', 'The query parameter $skip is not supported'),
  methodNotAllowed: (method: string) =>
    new DataverseHttpError(405, '0x80060888', `The requested resource does not support http method '${method}'.`),
  /** `If-Match: W/"…"` that does not match (code and text from the conditional-operations sample output). */
  etagMismatch: () =>
    new DataverseHttpError(412, '0x80060882', "The version of the existing record doesn't match the RowVersion property provided."),
  /** `If-None-Match: *` upsert against an existing row, or a create with a primary key already in use. */
  alreadyExists: () => new DataverseHttpError(412, '0x80040237', 'A record with matching key values already exists.'),
  duplicateKey: () => new DataverseHttpError(412, '0x80040237', 'Cannot insert duplicate key.'),
  /** `OData.Community.Keys.V1.AlternateKeys` uniqueness (dp/define-alternate-keys-entity.md). */
  duplicateAlternateKey: () =>
    new DataverseHttpError(412, '0x80060892', 'A record that has the attribute values of the key already exists.'),
  /** A `$batch` operation addressed outside the service (ODataLib's RequestUriProcessor_RequestUriDoesNotHaveTheCorrectBaseUri). */
  notThisService: (url: string, serviceRoot: string) =>
    new DataverseHttpError(400, '0x0', `The request URI '${url}' is not valid because it is not based on '${serviceRoot}'.`),
  /** A `$batch` operation whose URL is longer than Dataverse takes inside a batch (65,536 characters). */
  urlTooLong: (length: number, limit: number) =>
    new DataverseHttpError(414, '0x80060888', `The URL of the batch operation is ${length} characters long; the limit is ${limit}.`),
  payloadTooLarge: (limit: number) =>
    new DataverseHttpError(413, '0x80040216', `The request body exceeds the maximum size of ${limit} bytes.`),
  /** dp/api-limits.md "Number of requests". */
  tooManyRequests: (max: number, windowSeconds: number, retryAfter: number) =>
    new DataverseHttpError(429, '0x80072322', `Number of requests exceeded the limit of ${max} over time window of ${windowSeconds} seconds.`, {
      'Retry-After': String(retryAfter),
    }),
  /** dp/api-limits.md "Execution time": the limit is quoted in milliseconds with thousands separators, as the documented message does. */
  tooMuchExecutionTime: (maxMs: number, windowSeconds: number, retryAfter: number) =>
    new DataverseHttpError(
      429,
      '0x80072321',
      `Combined execution time of incoming requests exceeded limit of ${groupThousands(String(Math.round(maxMs)))} milliseconds over time window of ${windowSeconds} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.`,
      { 'Retry-After': String(retryAfter) },
    ),
  /** dp/api-limits.md "Concurrent requests". */
  tooManyConcurrent: (max: number, retryAfter: number) =>
    new DataverseHttpError(429, '0x80072326', `Number of concurrent requests exceeded the limit of ${max}.`, {
      'Retry-After': String(retryAfter),
    }),
} as const;

/** Serialises an error body exactly as Dataverse does (no innererror: it is only sent by debug builds). */
export function errorBody(err: DataverseHttpError): string {
  return JSON.stringify({ error: { code: err.code, message: err.message } });
}
