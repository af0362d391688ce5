/**
 * Actions and functions, bound and unbound
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-actions,
 * …/webapi/use-web-api-functions).
 */
import { serializeJson } from '../../net/json';
import { invalidArgument } from '../../odata/fail';
import { entityPath, isGuid, type RecordKey } from '../../odata/keys';
import type { ClientContext } from '../context';
import { readJsonObject } from '../response';

/**
 * What an action or function answers: 200 with its result (an OData JSON object, even for a
 * primitive: `{ "value": … }`), or 204 when it returns nothing
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-actions).
 */
const ANSWERED: readonly number[] = [200, 204];
import type { BoundTarget, FunctionParameterValue, OperationCallOptions } from '../types';

/** Function and action names: an identifier, optionally namespace-qualified (`Microsoft.Dynamics.CRM.WhoAmI`). */
const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks an action or function name. */
export function checkOperationName(name: unknown, argument = 'name'): string {
  if (typeof name === 'string' && OPERATION_NAME.test(name)) return name;
  throw invalidArgument(argument, 'an action or function name such as "WhoAmI" or "Microsoft.Dynamics.CRM.WinOpportunity"', name);
}

/**
 * The path of an operation relative to the API root: unbound `WhoAmI`, or bound
 * `accounts(<id>)/Microsoft.Dynamics.CRM.Name` (bound operations need the namespace; a name that
 * has no dot gets Dataverse's).
 */
export function operationPath(name: string, bound: BoundTarget | undefined): string {
  checkOperationName(name);
  if (bound === undefined) return name;
  if (bound === null || typeof bound !== 'object') throw invalidArgument('options.bound', '{ entitySet, key? }', bound);
  const qualified = name.includes('.') ? name : `Microsoft.Dynamics.CRM.${name}`;
  return `${entityPath(bound.entitySet, bound.key as RecordKey | undefined)}/${qualified}`;
}

/** Percent-encodes an alias value for the query string; `'` `(` `)` stay literal as in Microsoft's examples. */
function encodeAliasValue(text: string, argument: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    throw invalidArgument(argument, 'well-formed Unicode text (found a lone surrogate)', text);
  }
}

/** One parameter's OData literal, not yet percent-encoded. */
export function functionLiteral(value: FunctionParameterValue, argument: string): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgument(argument, 'a finite number', value);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalidArgument(argument, 'a valid Date', value);
    return value.toISOString();
  }
  if (Array.isArray(value)) return serializeJson(value, argument);
  if (typeof value === 'object') {
    const typed = value as { type?: unknown; value?: unknown };
    if (typeof typed.type === 'string' && typeof typed.value === 'string' && Object.keys(value).length === 2) {
      if (typed.type === 'guid') {
        if (!isGuid(typed.value)) throw invalidArgument(argument, 'a GUID', typed.value);
        return typed.value.toLowerCase();
      }
      if (typed.type === 'raw' || typed.type === 'decimal') return typed.value;
      if (typed.type === 'duration') return `duration'${typed.value}'`;
    }
    return serializeJson(value, argument);
  }
  throw invalidArgument(argument, 'a string, number, boolean, null, Date, { type, value }, array or object', value);
}

/**
 * `Name(a=@a,b=@b)` and `?@a=…&@b=…` for a function call: every parameter goes through an alias, so
 * that values never have to be escaped for a path segment (the use-web-api-functions page cited above).
 *
 * @example functionCall('Fn', { name: "O'Brien" }) // { path: "Fn(name=@p1)", query: "?@p1='O''Brien'" }
 */
export function functionCall(path: string, params: Readonly<Record<string, FunctionParameterValue>> | undefined): string {
  if (params === undefined || params === null) return `${path}()`;
  if (typeof params !== 'object' || Array.isArray(params)) throw invalidArgument('params', 'an object of parameter values', params);
  const names = Object.keys(params).filter((n) => params[n] !== undefined);
  if (names.length === 0) return `${path}()`;
  const inside: string[] = [];
  const aliases: string[] = [];
  names.forEach((name, index) => {
    if (!PARAMETER_NAME.test(name)) throw invalidArgument(`params.${name}`, 'a parameter name of ASCII letters, digits and "_"', name);
    const alias = `@p${index + 1}`;
    inside.push(`${name}=${alias}`);
    aliases.push(`${alias}=${encodeAliasValue(functionLiteral(params[name], `params.${name}`), `params.${name}`)}`);
  });
  return `${path}(${inside.join(',')})?${aliases.join('&')}`;
}

/**
 * `POST <name>` (or bound: `POST <entitySet>(<key>)/Microsoft.Dynamics.CRM.<name>`) with `params` as
 * the JSON body: the response body, or undefined for 204. See `DynamicsClient.callAction`.
 */
export async function callAction<T>(ctx: ClientContext, name: string, params: Readonly<Record<string, unknown>> | undefined, options?: OperationCallOptions): Promise<T> {
  const path = operationPath(name, options?.bound);
  if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
    throw invalidArgument('params', 'an object of parameter values', params);
  }
  const result = await ctx.call({ method: 'POST', url: ctx.apiRoot + path, body: params ?? {}, bodyArgument: 'params', options, expect: ANSWERED });
  return (result.response.status === 204 ? undefined : readJsonObject(result, `the result of ${name}`)) as T;
}

/** `GET <name>(p=@p1)?@p1=…`: the response body, or undefined for 204. See `DynamicsClient.callFunction`. */
export async function callFunction<T>(ctx: ClientContext, name: string, params: Readonly<Record<string, FunctionParameterValue>> | undefined, options?: OperationCallOptions): Promise<T> {
  const path = functionCall(operationPath(name, options?.bound), params);
  const result = await ctx.call({ method: 'GET', url: ctx.apiRoot + path, options, expect: ANSWERED });
  return (result.response.status === 204 ? undefined : readJsonObject(result, `the result of ${name}`)) as T;
}
