/**
 * Checks of the arguments the capabilities share, made before anything is sent, so that a bad
 * argument is a `DynamicsError` `invalid_argument` naming it.
 */
import { isHeaderValue } from '../net/headerSyntax';
import { invalidArgument } from '../odata/fail';
import { entityPath as odataEntityPath, type RecordKey } from '../odata/keys';
import type { EntityKey } from './types';

/** Per-call option names of a query object (`OperationOptions`); everything else in it goes to OData. */
const PER_CALL_KEYS: ReadonlySet<string> = new Set([
  'abortSignal',
  'timeoutInMs',
  'maxResponseBytes',
  'headers',
  'impersonate',
  // The typed per-request options (./requestOptions.ts).
  'bypassCustomPluginExecution',
  'bypassBusinessLogicExecution',
  'bypassBusinessLogicExecutionStepIds',
  'suppressDuplicateDetection',
  'solutionUniqueName',
  'correlationId',
  'partitionId',
  'sessionToken',
]);

/** odata's entityPath over the client's typed keys (an optional column in a typed key is simply absent). */
export function entityPath(entitySet: string, key?: EntityKey<object>): string {
  return odataEntityPath(entitySet, key as RecordKey | undefined);
}

/** The OData part of a query object: everything but the per-call options; `annotations: false` means none. */
export function odataPart(query: object | undefined): Record<string, unknown> | undefined {
  if (query === undefined || query === null) return undefined;
  if (typeof query !== 'object') throw invalidArgument('query', 'an object of query options', query);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(query)) {
    if (PER_CALL_KEYS.has(key)) continue;
    const value = (query as Record<string, unknown>)[key];
    if (key === 'annotations' && value === false) continue;
    out[key] = value;
  }
  return out;
}

/** A record or a set of changes: a plain object, not an array. */
export function checkRecord(record: unknown, argument: string): void {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalidArgument(argument, 'a record object', record);
  // JSON writes a Map or a Set as {} (the write would silently lose every column) and a Date as a
  // string; a Buffer would be sent as raw bytes.
  if (record instanceof Map || record instanceof Set) {
    throw invalidArgument(argument, `a record object, not a ${record instanceof Map ? 'Map' : 'Set'} (which JSON writes as {}; use Object.fromEntries)`);
  }
  if (record instanceof Date || record instanceof ArrayBuffer || ArrayBuffer.isView(record)) throw invalidArgument(argument, 'a record object', record);
}

/** A navigation property name goes into the path unescaped, so it must be an identifier. */
export function checkNavigation(name: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw invalidArgument('navigationProperty', 'a navigation property name such as "contact_customer_accounts"', name);
  }
}

/** A `{ entitySet, key }` target of a relationship. */
export function checkTarget(target: unknown): asserts target is { entitySet: string; key: EntityKey } {
  if (target === null || typeof target !== 'object') throw invalidArgument('target', '{ entitySet, key }', target);
}

/**
 * An etag for `If-Match` (`options.ifMatch`): a non-empty string that can go into a header as is, like
 * every other header value (no line break or control character). Undefined stays undefined.
 */
export function checkEtag(value: unknown, argument: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || !isHeaderValue(value)) {
    throw invalidArgument(argument, 'an @odata.etag value such as W/"12345", or "*" (a string without line breaks)', value);
  }
  return value;
}
