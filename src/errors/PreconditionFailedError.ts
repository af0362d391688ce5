import { DynamicsError } from './DynamicsError';

/** 412 Precondition Failed: an `If-Match` etag did not match, or a create-only upsert found an existing record. */
export class PreconditionFailedError extends DynamicsError {
  override name = 'PreconditionFailedError';
}
