import { DynamicsError, ErrorCode } from '../errors';
import { quote } from '../net/excerpt';

export { quote };

/** A bad argument: nothing was sent. The message names the argument and what was expected. */
export function invalidArgument(argument: string, expected: string, ...got: [] | [unknown]): DynamicsError {
  return new DynamicsError(`${argument}: expected ${expected}${got.length > 0 ? `, got ${quote(got[0])}` : ''}`, {
    code: ErrorCode.invalidArgument,
  });
}

/** A response we could not understand: never a crash, always this. */
export function malformedResponse(message: string, options: { status?: number; cause?: unknown } = {}): DynamicsError {
  return new DynamicsError(message, { code: ErrorCode.malformedResponse, status: options.status, cause: options.cause });
}
