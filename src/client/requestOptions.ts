/**
 * The typed per-request options of every method, turned into the headers and query parameters
 * Dataverse reads (https://learn.microsoft.com/power-apps/developer/data-platform/optional-parameters,
 * https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic).
 * One small helper so that `call.ts` stays a single call: `applyRequestOptions(headers, spec)`.
 */
import { isGuid } from '../net/guid';
import { isHeaderValue } from '../net/headerSyntax';
import type { HttpMethod } from '../net/method';
import { invalidArgument } from '../odata/fail';
import type { BusinessLogicBypass, OperationOptions } from './types';

/** The header that carries {@link OperationOptions.correlationId} (what Microsoft's Python SDK sends; the Web API documents none). */
export const CLIENT_REQUEST_ID_HEADER = 'x-ms-client-request-id';

/** Longest correlation id accepted: a GUID is 36 characters; the limit leaves room for prefixed ids. */
const MAX_CORRELATION_ID = 128;

const BYPASS_VALUES: ReadonlySet<string> = new Set(['CustomSync', 'CustomAsync']);

/**
 * Writes the headers of the typed per-request options into `headers` and returns the URL with
 * `partitionId` added when one applies. The caller's own `headers` option is merged after this, so
 * an explicit header always wins.
 *
 * @throws DynamicsError `invalid_argument` naming the option and what was expected.
 */
export function applyRequestOptions(headers: Record<string, string>, options: OperationOptions, method: HttpMethod, url: string): string {
  if (options.bypassCustomPluginExecution !== undefined) {
    if (typeof options.bypassCustomPluginExecution !== 'boolean') throw invalidArgument('options.bypassCustomPluginExecution', 'true or false', options.bypassCustomPluginExecution);
    if (options.bypassCustomPluginExecution) headers['MSCRM.BypassCustomPluginExecution'] = 'true';
  }
  if (options.bypassBusinessLogicExecution !== undefined) headers['MSCRM.BypassBusinessLogicExecution'] = bypassValue(options.bypassBusinessLogicExecution);
  if (options.bypassBusinessLogicExecutionStepIds !== undefined) {
    const ids = options.bypassBusinessLogicExecutionStepIds;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(isGuid)) {
      throw invalidArgument('options.bypassBusinessLogicExecutionStepIds', 'a non-empty array of plug-in step GUIDs', ids);
    }
    headers['MSCRM.BypassBusinessLogicExecutionStepIds'] = ids.join(',');
  }
  if (options.suppressDuplicateDetection !== undefined) {
    if (typeof options.suppressDuplicateDetection !== 'boolean') throw invalidArgument('options.suppressDuplicateDetection', 'true or false', options.suppressDuplicateDetection);
    headers['MSCRM.SuppressDuplicateDetection'] = String(options.suppressDuplicateDetection);
  }
  if (options.solutionUniqueName !== undefined) {
    const name = options.solutionUniqueName;
    // Solution unique names are letters, digits and underscores (the maker portal refuses anything else).
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,64}$/.test(name)) {
      throw invalidArgument('options.solutionUniqueName', "a solution's unique name (letters, digits and _, at most 65 characters)", name);
    }
    headers['MSCRM.SolutionUniqueName'] = name;
  }
  if (options.correlationId !== undefined) {
    const id = options.correlationId;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CORRELATION_ID || !isHeaderValue(id) || /\s/.test(id)) {
      throw invalidArgument('options.correlationId', `a non-empty string of at most ${MAX_CORRELATION_ID} characters without spaces (a GUID is best)`, id);
    }
    headers[CLIENT_REQUEST_ID_HEADER] = id;
  }
  if (options.sessionToken !== undefined) {
    if (typeof options.sessionToken !== 'string' || options.sessionToken === '' || !isHeaderValue(options.sessionToken)) {
      throw invalidArgument('options.sessionToken', 'the x-ms-session-token value of an earlier write', options.sessionToken);
    }
    headers['MSCRM.SessionToken'] = options.sessionToken;
  }
  if (options.partitionId !== undefined) return withPartitionId(url, options.partitionId, method);
  return url;
}

function bypassValue(value: BusinessLogicBypass | readonly BusinessLogicBypass[]): string {
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' && BYPASS_VALUES.has(v))) {
    throw invalidArgument('options.bypassBusinessLogicExecution', "'CustomSync', 'CustomAsync' or both in an array", value);
  }
  return [...new Set(list as string[])].join(',');
}

/**
 * `?partitionId=` scopes a read or a delete to one logical partition of an elastic table; the service
 * ignores it on POST and PATCH, where `partitionid` belongs in the body
 * (https://learn.microsoft.com/power-apps/developer/data-platform/use-elastic-tables). The docs show
 * it both quoted and unquoted; the 2025 pages send it unquoted, so the client does.
 */
function withPartitionId(url: string, partitionId: string, method: HttpMethod): string {
  if (typeof partitionId !== 'string' || partitionId === '' || partitionId.length > 1024) {
    throw invalidArgument('options.partitionId', 'a non-empty string of at most 1024 characters', partitionId);
  }
  if (method !== 'GET' && method !== 'DELETE') {
    throw invalidArgument('options.partitionId', `nothing on ${method} (Dataverse ignores the partitionId parameter on writes: put "partitionid" in the record, or in the key)`, partitionId);
  }
  // A nextLink of a scoped query may carry it already: it is used unmodified.
  if (/[?&]partitionId=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}partitionId=${encodeURIComponent(partitionId)}`;
}
