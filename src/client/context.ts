/**
 * What every capability of the client (src/client/operations/*) is handed: the environment's URLs
 * and one way to send a call through the pipeline. A new capability is a new module that takes a
 * {@link ClientContext}, plus a one-line method on `DynamicsClient`.
 */
import { DynamicsError, ValidationError } from '../errors';
import { unexpectedStatusError } from '../http/errors';
import { createPipeline, type Pipeline } from '../http/pipeline';
import type { HttpRequest, HttpResponse } from '../http/types';
import { prepareRequest, type CallSpec } from './call';
import { CLIENT_REQUEST_ID_HEADER } from './requestOptions';
import { DEFAULT_CLIENT_OPTIONS, type ResolvedClientConfig } from './options';
import type { EntityModel, RuntimeModel } from './model';
import type { RecordSchema } from './types';

/**
 * Stamps the call's correlation id (`x-ms-client-request-id`, any case) on an error leaving the client.
 * Only on the error path: the header scan costs nothing on successes.
 */
export function withClientRequestId<E>(error: E, request: Pick<HttpRequest, 'headers'>): E {
  if (!(error instanceof DynamicsError) || error.clientRequestId !== undefined) return error;
  for (const name of Object.keys(request.headers)) {
    if (name.toLowerCase() === CLIENT_REQUEST_ID_HEADER) {
      error.clientRequestId = request.headers[name];
      break;
    }
  }
  return error;
}

/** A call that got an answer. */
export interface CallResult {
  response: HttpResponse;
  /** The request as the pipeline finished with it (`attempts`, `ambiguousRetries` filled in). */
  request: HttpRequest;
  /**
   * True when the call was re-sent after an ambiguous failure (a 502, a 504, a reset: the first
   * attempt may have been applied), so this answer may be the service's reply to a repeat of a
   * request it already carried out: "already exists" or "not found" then need not be a failure.
   */
  ambiguous: boolean;
}

/** How a call ended when it got an answer: a success, or the error for a status ≥ 400, each with {@link CallResult.ambiguous}. */
export type CallOutcome = (CallResult & { ok: true }) | (CallResult & { ok: false; error: DynamicsError });

/**
 * What a capability may do: know the environment's URLs, send calls, check records. Operations take
 * this interface, not the class below, so that they can be exercised with a stub in unit tests.
 */
export interface ClientContext {
  /** The environment URL, `https://contoso.crm.dynamics.com` (no trailing slash). */
  readonly origin: string;
  /** The Web API root, `https://contoso.crm.dynamics.com/api/data/v9.2/`. */
  readonly apiRoot: string;
  /**
   * Sends one call and reports how it ended, a status ≥ 400 included (as `ok: false` with its
   * DynamicsError), so that a capability can read {@link CallResult.ambiguous} before deciding
   * whether a failure is one.
   *
   * @throws DynamicsError when no answer came (network, timeout, abort, token) or a per-call option is bad.
   */
  send(spec: CallSpec): Promise<CallOutcome>;
  /**
   * Sends one call and resolves with its answer.
   *
   * @throws DynamicsError for a status ≥ 400 (the subclass a caller acts on), and as {@link ClientContext.send} does.
   */
  call(spec: CallSpec): Promise<CallResult>;
  /**
   * Checks a record against the zod schema given for its entity set, when `validate` is on.
   *
   * @param partial - an update: every column optional (zod's `.partial()`).
   * @throws ValidationError listing each issue.
   */
  validateRecord(entitySet: string, record: object, partial: boolean): void;
  /** The runtime model of `entitySet` given with the client's `model` option, or undefined (see src/client/model.ts). */
  entityModel(entitySet: string): EntityModel | undefined;
}

/**
 * The {@link ClientContext} of a `DynamicsClient`: its configuration and its pipeline. The settings
 * sit in `#` fields: the pipeline holds the token provider, which no rendering of a client may reach.
 */
export class PipelineContext implements ClientContext {
  /** The environment URL, `https://contoso.crm.dynamics.com` (no trailing slash). */
  readonly origin: string;
  /** The Web API root, `https://contoso.crm.dynamics.com/api/data/v9.2/`. */
  readonly apiRoot: string;
  readonly #pipeline: Pipeline;
  readonly #timeoutInMs: number;
  readonly #maxResponseBytes: number;
  readonly #validate: boolean;
  readonly #schemas: Readonly<Record<string, RecordSchema | undefined>>;
  readonly #model: RuntimeModel;
  /** The latest `x-ms-session-token` the service sent (elastic tables); instance state, never shared. */
  #sessionToken: string | undefined;

  constructor(config: ResolvedClientConfig) {
    this.origin = config.origin;
    this.apiRoot = config.apiRoot;
    this.#timeoutInMs = config.timeoutInMs;
    this.#maxResponseBytes = config.maxResponseBytes;
    this.#validate = config.validate;
    this.#schemas = config.schemas;
    this.#model = config.model;
    this.#pipeline = createPipeline({
      origin: config.origin,
      ca: config.ca,
      tokenProvider: config.tokenProvider,
      logger: config.logger,
      maxRetries: config.maxRetries,
      maxRetryAfterInMs: config.maxRetryAfterInMs,
      maxConcurrency: config.maxConcurrency,
      initialConcurrency: DEFAULT_CLIENT_OPTIONS.initialConcurrency,
      ...(config.throttle !== undefined ? { throttle: config.throttle } : {}),
    });
  }

  async send(spec: CallSpec): Promise<CallOutcome> {
    const request = this.#prepare(spec);
    let response: HttpResponse;
    try {
      response = await this.#pipeline.send(request);
    } catch (err) {
      throw withClientRequestId(err, request);
    }
    return this.#outcome(spec, request, response);
  }

  async call(spec: CallSpec): Promise<CallResult> {
    const request = this.#prepare(spec);
    // Not `await this.send()`: one promise fewer on the path every request takes.
    let response: HttpResponse;
    try {
      response = await this.#pipeline.send(request);
    } catch (err) {
      throw withClientRequestId(err, request);
    }
    const outcome = this.#outcome(spec, request, response);
    if (!outcome.ok) throw outcome.error;
    return outcome;
  }

  #prepare(spec: CallSpec): HttpRequest {
    const request = prepareRequest(spec, this.#timeoutInMs, this.#maxResponseBytes);
    // Elastic tables: reads carry the session token of the client's latest write, so they see it
    // (https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables#session-consistency).
    if (this.#sessionToken !== undefined && request.method === 'GET' && request.headers['MSCRM.SessionToken'] === undefined) {
      request.headers['MSCRM.SessionToken'] = this.#sessionToken;
    }
    return request;
  }

  #outcome(spec: CallSpec, request: HttpRequest, response: HttpResponse): CallOutcome {
    const ambiguous = (request.ambiguousRetries ?? 0) > 0;
    const status = response.status;
    const session = response.headers['x-ms-session-token'];
    if (typeof session === 'string' && session !== '' && status < 300) this.#sessionToken = session;
    if (status >= 400) {
      if (spec.acceptStatus?.(status, response.headers) ?? false) return { ok: true, response, request, ambiguous };
      return { ok: false, error: withClientRequestId(this.#pipeline.fail(response, request), request), response, request, ambiguous };
    }
    // A redirect (never followed), a 1xx, or a 2xx the operation cannot read: reporting it as a
    // success would say a write was done when it may not have been.
    if (spec.expect === undefined ? status < 200 || status > 299 : !spec.expect.includes(status)) {
      return { ok: false, error: withClientRequestId(unexpectedStatusError(response, request, spec.expect), request), response, request, ambiguous };
    }
    return { ok: true, response, request, ambiguous };
  }

  /** The `x-ms-session-token` of the latest write to an elastic table through this client, if any. */
  get sessionToken(): string | undefined {
    return this.#sessionToken;
  }

  entityModel(entitySet: string): EntityModel | undefined {
    return Object.prototype.hasOwnProperty.call(this.#model, entitySet) ? this.#model[entitySet] : undefined;
  }

  validateRecord(entitySet: string, record: object, partial: boolean): void {
    if (!this.#validate) return;
    const schema = this.#schemas[entitySet];
    if (schema === undefined) return;
    const checker = partial && typeof schema.partial === 'function' ? schema.partial() : schema;
    const result = checker.safeParse(record);
    if (!result.success) {
      throw new ValidationError(
        entitySet,
        result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
      );
    }
  }

  /** Ends the keep-alive connections; calls made afterwards open new ones. */
  close(): void {
    this.#pipeline.close();
  }
}
