import { DynamicsError } from './DynamicsError';

/** The service kept answering 429 (or 503) after every retry `maxRetries` allowed; `retryAfterInMs` is its last requested wait. */
export class ThrottledError extends DynamicsError {
  override name = 'ThrottledError';
}
