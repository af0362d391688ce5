import { DynamicsError, type DynamicsErrorOptions } from './DynamicsError';

/** The token endpoint refused the credentials or the service rejected the token (401/403). Carries the Entra error code (AADSTS…) and correlation id when known. */
export class AuthenticationError extends DynamicsError {
  override name = 'AuthenticationError';
  readonly entraErrorCodes?: number[];
  readonly correlationId?: string;
  constructor(message: string, options: DynamicsErrorOptions, extra?: { entraErrorCodes?: number[]; correlationId?: string }) {
    super(message, options);
    this.entraErrorCodes = extra?.entraErrorCodes;
    this.correlationId = extra?.correlationId;
  }
}
