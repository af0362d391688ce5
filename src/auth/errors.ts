import { AuthError, ServerError } from '@azure/msal-node';
import { AuthenticationError, DynamicsError, ErrorCode } from '../errors';
import { TransportFailure } from './networkClient';

/** AADSTS codes from an MSAL `ServerError`: its message is `Error(s): 50126,50127 - Timestamp: …`. */
function entraCodes(err: AuthError): number[] | undefined {
  const fromList = /Error\(s\):\s*([\d,\s]+)\s*-/.exec(err.errorMessage ?? '');
  const codes = fromList ? fromList[1].split(',').map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0) : [];
  if (!codes.length) {
    const errorNo = (err as ServerError).errorNo;
    if (errorNo && /^\d+$/.test(String(errorNo))) codes.push(Number(errorNo));
  }
  if (!codes.length) {
    for (const m of (err.errorMessage ?? '').matchAll(/AADSTS(\d+)/g)) codes.push(Number(m[1]));
  }
  return codes.length ? [...new Set(codes)] : undefined;
}

/**
 * Turns whatever MSAL threw into a {@link DynamicsError}: our own transport failures
 * (throttled, network, timeout, malformed) unchanged, Entra's refusals into an
 * {@link AuthenticationError} with `entraErrorCodes` and `correlationId`. The MSAL error is not
 * kept as `cause`; a copy of its message passed through `redact` (the provider's `createRedactor`
 * from src/net/redact.ts, which knows its secrets) is.
 */
export function toDynamicsError(err: unknown, what: string, redact: (s: string) => string, lastTransportFailure?: DynamicsError): DynamicsError {
  if (err instanceof DynamicsError) return err;
  if (err instanceof TransportFailure) return err.failure;
  if (err instanceof AuthError) {
    if (err.errorCode === 'endpoints_resolution_error' && lastTransportFailure) {
      return new AuthenticationError(`${what}: the authority's metadata could not be loaded (${lastTransportFailure.message})`, {
        code: lastTransportFailure.code,
        status: lastTransportFailure.status,
        cause: lastTransportFailure,
      });
    }
    const message = redact(`${err.errorCode}${err.subError ? ` (${err.subError})` : ''}: ${err.errorMessage}`);
    const status = (err as ServerError).status;
    const cause = new Error(message);
    cause.name = err.name;
    return new AuthenticationError(
      `${what} failed: ${message}`,
      { code: ErrorCode.authenticationFailed, status: typeof status === 'number' ? status : undefined, body: { error: err.errorCode, suberror: err.subError || undefined }, cause },
      { entraErrorCodes: entraCodes(err), correlationId: err.correlationId || undefined },
    );
  }
  const message = redact(err instanceof Error ? err.message : String(err));
  return new AuthenticationError(`${what} failed: ${message}`, { code: ErrorCode.authenticationFailed });
}
