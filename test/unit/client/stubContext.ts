/**
 * A ClientContext that sends nothing: it records every CallSpec and answers from a script, so that
 * a capability's own decisions (which request, how an answer is read) are tested without a server.
 */
import type { CallSpec } from '../../../src/client/call';
import type { CallOutcome, CallResult, ClientContext } from '../../../src/client/context';
import { statusError } from '../../../src/http/errors';
import type { HttpRequest } from '../../../src/http/types';

/** One scripted answer: a status (with optional headers and body) and whether the call was re-sent after an ambiguous failure. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  ambiguous?: boolean;
}

export interface StubContext extends ClientContext {
  /** Every call, in order. */
  readonly specs: CallSpec[];
}

export const ORIGIN = 'https://org.crm.dynamics.com';
export const API_ROOT = `${ORIGIN}/api/data/v9.2/`;

export function stubContext(...answers: Answer[]): StubContext {
  const specs: CallSpec[] = [];
  const outcome = (spec: CallSpec): CallOutcome => {
    specs.push(spec);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`unexpected call: ${spec.method} ${spec.url}`);
    const request: HttpRequest = { method: spec.method, url: spec.url, headers: {}, deadline: Infinity, retrySafe: true };
    const response = { status: answer.status, headers: answer.headers ?? {}, body: Buffer.from(answer.body ?? '') };
    const ambiguous = answer.ambiguous === true;
    if (answer.status >= 400) return { ok: false, error: statusError(answer.status, response.headers, response.body, request), response, request, ambiguous };
    return { ok: true, response, request, ambiguous };
  };
  return {
    origin: ORIGIN,
    apiRoot: API_ROOT,
    specs,
    send: async (spec) => outcome(spec),
    async call(spec): Promise<CallResult> {
      const result = outcome(spec);
      if (!result.ok) throw result.error;
      return result;
    },
    validateRecord: () => undefined,
    entityModel: () => undefined,
  };
}
