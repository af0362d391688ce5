import { DynamicsError } from './DynamicsError';

/** 404 Not Found: the record, entity set or route does not exist (also an update-only upsert of a missing record). */
export class NotFoundError extends DynamicsError {
  override name = 'NotFoundError';
}
