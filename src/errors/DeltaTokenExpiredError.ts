import { DynamicsError } from './DynamicsError';

/**
 * Change tracking: the delta token is older than the organisation keeps changes for
 * (`expirechangetrackingindays`, 7 days by default,
 * https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems).
 * The service says "Version stamp associated with the client has expired. Please perform a full sync.":
 * run `changes()` again without a `deltaToken` and replace your copy. Code `delta_token_expired`.
 */
export class DeltaTokenExpiredError extends DynamicsError {
  override name = 'DeltaTokenExpiredError';
}
