/**
 * The Dataverse Web API router: turns a resource path into the {@link Target} it addresses, checks
 * the method against what the handlers registered for that kind of target (405 otherwise), applies
 * impersonation headers, and hands the request to the handlers. Everything here is synchronous on
 * purpose: a request (and a whole `$batch`) runs to completion before another starts, so a change
 * set's undo journal only ever holds its own changes.
 */
import type { OperationModel } from '../../csdl';
import { HTTP_METHODS, isHttpMethod } from '../../net/method';
import { stableGuid } from '../ids';
import type { ApiRequest, ApiResponse, DataverseEnvironment, Handler, RequestContext, Route, Target, TargetKind } from './context';
import { dvErrors } from './errors';
import { HANDLERS } from './handlers';
import { Impersonation } from './impersonation';
import type { MetadataApi } from './metadata';
import { AnnotationFilter, parsePrefer } from './prefer';
import { parsePath, type PathSegment } from './query';
import type { EntitySetInfo, ServiceSchema } from './schema';
import { find } from './shared/keys';
import { errorResponse, unexpectedError } from './shared/responses';
import type { DataStore } from './store';

/** What the router serves. */
export interface RouterOptions {
  schema: ServiceSchema;
  store: DataStore;
  metadata: MetadataApi;
  /** The `$metadata` document as served. */
  metadataXml: string;
  /** `https://127.0.0.1:PORT`. */
  environmentUrl: string;
  /** The handlers, in precedence order. Default: every handler of the emulator ({@link HANDLERS}). */
  handlers?: readonly Handler[];
}

/** Per target kind and method (`'*'` for any other method): the routes to ask, in order. */
type RouteTable = Map<TargetKind, Map<string, Route<TargetKind>[]>>;

/** The Web API: resolves each request to a target and answers it through the handlers. */
export class DataverseRouter {
  private readonly env: DataverseEnvironment;
  private readonly impersonation: Impersonation;
  private readonly routes: RouteTable = new Map();

  constructor(options: RouterOptions) {
    const { schema, store } = options;
    this.env = {
      schema,
      store,
      metadata: options.metadata,
      metadataXml: options.metadataXml,
      environmentUrl: options.environmentUrl,
      // Fixed ids, so WhoAmI answers the same across restarts and ports.
      businessUnitId: stableGuid('dynamics-odata-emulator#businessunit'),
      organizationId: stableGuid('dynamics-odata-emulator#organization'),
      run: (ctx) => this.run(ctx),
    };
    this.impersonation = new Impersonation(schema, store);
    const declared = new Map<TargetKind, Map<string, Route<TargetKind>[]>>();
    for (const handler of options.handlers ?? HANDLERS) {
      const routes = handler.routes(this.env);
      for (const kind of Object.keys(routes) as TargetKind[]) {
        const byMethod = declared.get(kind) ?? new Map<string, Route<TargetKind>[]>();
        for (const [method, route] of Object.entries(routes[kind] ?? {})) {
          if (route) byMethod.set(method, [...(byMethod.get(method) ?? []), route as Route<TargetKind>]);
        }
        declared.set(kind, byMethod);
      }
    }
    // Resolved once: per method, its own routes first, then those for any method.
    for (const [kind, byMethod] of declared) {
      const any = byMethod.get('*') ?? [];
      const table = new Map<string, Route<TargetKind>[]>([['*', any]]);
      for (const method of HTTP_METHODS) table.set(method, [...(byMethod.get(method) ?? []), ...any]);
      this.routes.set(kind, table);
    }
  }

  /** Answers one request; never throws. */
  execute(req: ApiRequest): ApiResponse {
    this.impersonation.remember(req.caller);
    return this.run({
      env: this.env,
      req,
      user: req.caller,
      prefs: parsePrefer(req.headers['prefer']),
      annotations: new AnnotationFilter(undefined),
      now: new Date(),
      base: `${this.env.environmentUrl}/api/data/${req.version}`,
    });
  }

  /** Answers a request (a top-level one, or an operation of a `$batch`); errors become Dataverse error responses. */
  private run(ctx: RequestContext): ApiResponse {
    try {
      ctx.annotations = new AnnotationFilter(ctx.prefs.get('odata.include-annotations'));
      // A batch operation's own header overrides the $batch request's; impersonation is always of the token's user.
      const effective = this.impersonation.resolve(ctx.req.headers, ctx.req.caller);
      if (effective) {
        ctx.user = effective.user;
        if (effective.onBehalfOf) ctx.onBehalfOf = effective.onBehalfOf;
        else delete ctx.onBehalfOf;
      }
      return this.dispatch(this.resolve(ctx), ctx);
    } catch (err) {
      return errorResponse(unexpectedError(err));
    }
  }

  /** Asks the routes registered for the target's kind and the request's method, in precedence order; 405 when none answers. */
  private dispatch(target: Target, ctx: RequestContext): ApiResponse {
    const method = ctx.req.method;
    const byMethod = this.routes.get(target.kind);
    const routes = (isHttpMethod(method) ? byMethod?.get(method) : byMethod?.get('*')) ?? [];
    for (const route of routes) {
      const response = route(target, ctx);
      if (response) return response;
    }
    throw dvErrors.methodNotAllowed(method);
  }

  // ---- path → target ----

  /** The target of the request's path (404 for a path that addresses nothing). */
  private resolve(ctx: RequestContext): Target {
    const { schema } = this.env;
    const segs = parsePath(ctx.req.path);
    const first = segs[0];
    if (!first) return { kind: 'serviceDocument' };
    if (first.name === '$metadata' && segs.length === 1) return { kind: 'metadataDocument' };
    if (first.name === 'EntityDefinitions') return { kind: 'entityDefinitions', segments: segs };
    if (first.name === '$batch' && segs.length === 1) return { kind: 'batch' };
    const set = schema.sets.get(first.name);
    if (set) return this.resolveInSet(ctx, set, segs);
    const ops = this.operationsNamed(first.name)?.filter((o) => !o.isBound);
    if (ops && ops.length > 0 && segs.length === 1) return operationTarget(ops, first.args);
    throw dvErrors.segmentNotFound(first.args === undefined ? first.name : `${first.name}(${first.args})`);
  }

  /** Targets under an entity set: the collection, `$count`, a row, its columns and navigations, bound operations. */
  private resolveInSet(ctx: RequestContext, set: EntitySetInfo, segs: PathSegment[]): Target {
    const { schema } = this.env;
    const [head, s1, s2, s3] = segs;
    if (!head) throw dvErrors.segmentNotFound('');
    if (head.args === undefined) {
      if (!s1) return { kind: 'collection', set };
      if (s1.name === '$count' && !s2) return { kind: 'count', set };
      const ops = this.boundOperations(s1.name, set, true);
      if (ops && !s2) return operationTarget(ops, s1.args);
      throw dvErrors.segmentNotFound(s1.name);
    }
    const found = find(ctx, set, head.args);
    if (!s1) return { kind: 'entity', set, found };
    const column = set.columns.get(s1.name);
    if (column && s1.args === undefined) {
      const row = found.row;
      if (!row) throw found.describe();
      if (!s2) return { kind: 'property', set, row, column };
      if (s2.name === '$value' && !s3) return { kind: 'propertyValue', set, row, column };
      throw dvErrors.segmentNotFound(s2.name);
    }
    const navigation = set.navigations.get(s1.name);
    if (navigation) {
      const row = found.row;
      if (!row) throw found.describe();
      if (s2 && (s2.name !== '$ref' || s3)) throw dvErrors.segmentNotFound(s2.name);
      const targetSet = navigation.targetSet ? schema.sets.get(navigation.targetSet) : undefined;
      if (s2) {
        // $ref of a single-valued navigation reads and writes the lookup column, with or without an entity set behind it.
        if (navigation.kind === 'single') return { kind: 'singleReference', set, row, navigation };
        if (!targetSet) throw dvErrors.segmentNotFound(navigation.name);
        return { kind: 'collectionReference', set, row, navigation, targetSet, ...(s1.args !== undefined ? { key: s1.args } : {}) };
      }
      if (!targetSet) throw dvErrors.segmentNotFound(navigation.name);
      if (navigation.kind === 'single') return { kind: 'singleNavigation', set, row, navigation, targetSet };
      if (s1.args !== undefined) return { kind: 'relatedEntity', set, row, navigation, targetSet, key: s1.args };
      return { kind: 'relatedCollection', set, row, navigation, targetSet };
    }
    const ops = this.boundOperations(s1.name, set, false);
    if (ops && !s2) {
      if (!found.row) throw found.describe();
      return operationTarget(ops, s1.args, found.row);
    }
    throw dvErrors.segmentNotFound(s1.name);
  }

  /** Operations by name: simple (`WhoAmI`) or qualified with the service namespace or its alias. */
  private operationsNamed(name: string): OperationModel[] | undefined {
    const simple = name.replace(/^(Microsoft\.Dynamics\.CRM|mscrm)\./, '');
    if (simple !== name || !name.includes('.')) return this.env.schema.operations.get(simple);
    return undefined;
  }

  /** Overloads of `name` bound to the set's type (or a base type), to the collection or to one row. */
  private boundOperations(name: string, set: EntitySetInfo, collection: boolean): OperationModel[] | undefined {
    const ops = this.operationsNamed(name)?.filter(
      (o) => o.isBound && o.bindingType !== undefined && set.typeChain.has(o.bindingType) && Boolean(o.bindingIsCollection) === collection,
    );
    return ops && ops.length > 0 ? ops : undefined;
  }
}

function operationTarget(operations: OperationModel[], args: string | undefined, bound?: Record<string, unknown>): Target<'operation'> {
  return { kind: 'operation', operations, ...(args !== undefined ? { args } : {}), ...(bound ? { bound } : {}) };
}

