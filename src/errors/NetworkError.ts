import { DynamicsError } from './DynamicsError';

/** No usable response: the connection was refused or reset, TLS failed, or the response could not be read. */
export class NetworkError extends DynamicsError {
  override name = 'NetworkError';
}
