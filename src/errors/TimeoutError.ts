import { NetworkError } from './NetworkError';

/** The request (including its retry waits) took longer than `timeoutInMs`. */
export class TimeoutError extends NetworkError {
  override name = 'TimeoutError';
}
