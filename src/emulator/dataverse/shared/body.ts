/** Reading a request's JSON body, with the 400s Dataverse answers for an empty or malformed one. */
import type { RequestContext } from '../context';
import { dvErrors } from '../errors';
import { MAX_BODY_NESTING, nestsDeeperThan } from './depth';

/** The request body as a JSON object, nested at most {@link MAX_BODY_NESTING} levels. */
export function parseJson(ctx: RequestContext): Record<string, unknown> {
  const text = ctx.req.body.trim();
  if (!text) throw dvErrors.badRequest('The request body is empty; a JSON object was expected.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw dvErrors.badRequest(`Invalid JSON. ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw dvErrors.badRequest('The request body must be a JSON object.');
  }
  // Everything downstream (deep inserts, value checks, storing and serialising rows) recurses over it.
  if (nestsDeeperThan(parsed, MAX_BODY_NESTING)) throw dvErrors.bodyTooDeep(MAX_BODY_NESTING);
  return parsed as Record<string, unknown>;
}
