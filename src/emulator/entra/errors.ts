/**
 * Entra ID's OAuth error responses. Shapes and AADSTS codes follow Microsoft's reference
 * (learn.microsoft.com/entra/identity-platform/reference-error-codes and the v2 protocol pages):
 * `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}`, where the
 * description starts with `AADSTSnnnn:` and ends with the trace and correlation ids.
 */

/** A failure the token, device-code or authorize endpoint reports. */
export class EntraError extends Error {
  override readonly name = 'EntraError';
  constructor(
    /** HTTP status: 400 for everything but `invalid_client` (401), as Entra does. */
    readonly status: number,
    /** OAuth `error`, e.g. `invalid_grant`. */
    readonly error: string,
    /** AADSTS number. */
    readonly code: number,
    /** Text after `AADSTSnnnn: `. */
    readonly description: string,
    /** `suberror`, which MSAL reads to decide whether interaction is required. */
    readonly suberror?: string,
  ) {
    super(`AADSTS${code}: ${description}`);
  }
}

/** The error constructors for every failure the emulator reports. */
export const entraErrors = {
  missingParameter: (name: string) =>
    new EntraError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  /**
   * A form or query parameter given twice. Entra's reference does not list duplicates; Microsoft's Teams
   * sign-in article quotes "AADSTS9000411: The request is not properly formatted. The parameter
   * 'login_hint' is duplicated." (ADAL's tests record the same text under AADSTS90004, InvalidRequestFormat),
   * so that is the answer, with `invalid_request`.
   */
  duplicateParameter: (name: string) =>
    new EntraError(400, 'invalid_request', 9000411, `The request is not properly formatted. The parameter '${name}' is duplicated.`),
  /** `resource` sent to the v2 endpoint (reference-error-codes: AADSTS901002). */
  resourceOnV2: () => new EntraError(400, 'invalid_request', 901002, "The 'resource' request parameter isn't supported."),
  onlyPost: (method: string) =>
    new EntraError(400, 'invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`),
  unsupportedGrant: (grant: string) =>
    new EntraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`),
  unknownClient: (clientId: string, tenant: string) =>
    new EntraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  invalidClientId: (clientId: string) =>
    new EntraError(400, 'unauthorized_client', 700038, `${clientId} is not a valid application identifier.`),
  badSecret: (clientId: string) =>
    new EntraError(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  missingClientCredential: () =>
    new EntraError(401, 'invalid_client', 7000218, `The request body must contain the following parameter: 'client_assertion' or 'client_secret'.`),
  badClientAssertion: (detail: string) =>
    new EntraError(401, 'invalid_client', 700027, `Client assertion failed signature validation. ${detail}`),
  badAssertionType: () =>
    new EntraError(400, 'invalid_request', 50027, `Invalid JWT token. The client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.`),
  clientCredentialsScope: (scope: string) =>
    new EntraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  multipleResources: () =>
    new EntraError(400, 'invalid_scope', 28000, `Provided value for the input parameter scope is not valid because it contains more than one resource.`),
  invalidScope: (scope: string) =>
    new EntraError(400, 'invalid_scope', 70011, `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`),
  invalidResource: (resource: string, tenant: string) =>
    new EntraError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  unknownUser: (tenant: string) =>
    new EntraError(
      400,
      'invalid_grant',
      50034,
      `The user account {EmailHidden} does not exist in the ${tenant} directory. To sign into this application, the account must be added to the directory.`,
    ),
  wrongPassword: () => new EntraError(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.'),
  malformedGrant: (what: string) =>
    new EntraError(400, 'invalid_grant', 9002313, `Invalid request. Request is malformed or invalid. The provided ${what} is not valid.`),
  unknownRefreshToken: () =>
    new EntraError(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid. The provided refresh_token is not valid.', 'bad_token'),
  refreshTokenUsed: () =>
    new EntraError(400, 'invalid_grant', 70000, 'The provided value for the input parameter \'refresh_token\' is not valid: the refresh token has already been redeemed.', 'bad_token'),
  refreshTokenRevoked: () =>
    new EntraError(400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.', 'bad_token'),
  grantExpired: () =>
    new EntraError(400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.', 'bad_token'),
  grantClientMismatch: () =>
    new EntraError(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed: it was issued to a different client.'),
  codeRedeemed: () =>
    new EntraError(400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'),
  redirectMismatch: () =>
    new EntraError(400, 'invalid_grant', 500112, 'The reply address does not match the reply address provided when requesting Authorization code.'),
  pkceMismatch: () =>
    new EntraError(400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.'),
  authorizationPending: () =>
    new EntraError(400, 'authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'),
  deviceCodeExpired: () =>
    new EntraError(400, 'expired_token', 70020, 'The provided value for the input parameter \'device_code\' is not valid. This device code has expired.'),
  publicClientSecretMissing: () =>
    new EntraError(401, 'invalid_client', 7000218, `The request body must contain the following parameter: 'client_assertion' or 'client_secret'.`),
  unsupportedResponseType: (type: string) =>
    new EntraError(400, 'unsupported_response_type', 900144, `The provided value for the input parameter 'response_type' is not allowed for this request. Expected value: 'code'. Received: '${type}'.`),
  unsupportedChallengeMethod: (method: string) =>
    new EntraError(400, 'invalid_request', 501491, `Invalid code_challenge_method '${method}'. Supported values are 'plain' and 'S256'.`),
  // Entra-side outages, used by fault injection on token routes.
  throttled: () =>
    new EntraError(429, 'temporarily_unavailable', 90055, 'TenantThrottlingError: There are too many incoming requests. This exception is thrown for blocked tenants.'),
  serverError: (status: number) =>
    new EntraError(status, status === 503 || status === 504 ? 'temporarily_unavailable' : 'server_error', 50000, 'There was an error issuing a token or an issue with our sign-in service.'),
} as const;

/** Context for the ids and timestamp every Entra error carries. */
export interface ErrorContext {
  origin: string;
  correlationId: string;
  traceId: string;
  now: Date;
}

/** Formats the time the way Entra's `timestamp` field does: `2024-05-01 12:34:56Z`. */
export function entraTimestamp(now: Date): string {
  return now.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** The JSON body of an Entra error response. */
export function entraErrorBody(err: EntraError, ctx: ErrorContext): Record<string, unknown> {
  const timestamp = entraTimestamp(ctx.now);
  const body: Record<string, unknown> = {
    error: err.error,
    error_description: `AADSTS${err.code}: ${err.description} Trace ID: ${ctx.traceId} Correlation ID: ${ctx.correlationId} Timestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: ctx.traceId,
    correlation_id: ctx.correlationId,
    error_uri: `${ctx.origin}/error?code=${err.code}`,
  };
  if (err.suberror) body.suberror = err.suberror;
  return body;
}
