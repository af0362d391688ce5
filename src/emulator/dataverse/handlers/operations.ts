/**
 * Actions and functions, bound and unbound (dp/webapi/use-web-api-actions.md, use-web-api-functions.md):
 * a function answers GET, an action POST. `WhoAmI` answers for the user the request runs as; every
 * other operation answers the empty shape of its declared return type, so a client can call any
 * operation in the `$metadata` and parse the result.
 */
import type { ApiResponse, Handler, RequestContext, Target } from '../context';
import { dvErrors } from '../errors';
import type { Row } from '../store';
import { parseJson } from '../shared/body';
import { jsonResponse, noContent } from '../shared/responses';

function operation(ctx: RequestContext, { operations, args }: Target<'operation'>): ApiResponse {
  const { req, env } = ctx;
  const op = operations.find((o) => (req.method === 'GET' ? o.kind === 'function' : o.kind === 'action'));
  if (!op) throw dvErrors.methodNotAllowed(req.method);
  if (op.kind === 'action' && args !== undefined && args.trim() !== '') throw dvErrors.syntax('Bad Request - Error in query syntax.');
  if (op.kind === 'action' && req.body.trim()) parseJson(ctx);
  if (op.name === 'WhoAmI') {
    return jsonResponse(200, {
      '@odata.context': `${ctx.base}/$metadata#${env.schema.namespace}.WhoAmIResponse`,
      BusinessUnitId: env.businessUnitId,
      UserId: ctx.user.systemUserId,
      OrganizationId: env.organizationId,
    });
  }
  const rt = op.returnType;
  if (!rt) return noContent();
  const typeName = rt.type.kind === 'primitive' ? rt.type.edmType : rt.type.qualifiedName;
  if (rt.isCollection) {
    return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#Collection(${typeName})`, value: [] });
  }
  if (rt.type.kind === 'complex') {
    const complex = env.schema.model.complexTypes.get(rt.type.qualifiedName);
    const body: Row = { '@odata.context': `${ctx.base}/$metadata#${typeName}` };
    for (const p of complex?.properties ?? []) body[p.name] = p.isCollection ? [] : null;
    return jsonResponse(200, body);
  }
  if (rt.type.kind === 'entity') {
    return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${typeName}` });
  }
  return jsonResponse(200, { '@odata.context': `${ctx.base}/$metadata#${typeName}`, value: null });
}

/** Operations: the method decides between the overloads (function for GET, action otherwise), so any method is routed here. */
export const operations: Handler = {
  name: 'operations',
  routes: () => ({ operation: { '*': (t, ctx) => operation(ctx, t) } }),
};
