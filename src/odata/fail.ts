import { DynamicsError, ErrorCode } from '../errors';

/** Longest excerpt of a caller's value or a server's body quoted in an error message. */
const MAX_QUOTED = 80;

/** Quotes a value for an error message, shortened so that a huge argument cannot flood a log. */
export function quote(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value);
  else if (value === undefined) text = 'undefined';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
    if (text.length > MAX_QUOTED) text = `${text.slice(0, MAX_QUOTED)}…`;
  }
  return text;
}

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
