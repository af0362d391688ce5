/**
 * FetchXML through the Web API: `GET <entity set>?fetchXml=<url-encoded FetchXML>`
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data), on every
 * table the emulator serves, directly or as a GET inside `$batch`. Requests without `fetchXml` are
 * left to the collections handler.
 */
import type { Handler, RequestContext } from '../context';
import { dvErrors } from '../errors';
import { readFetchXml } from '../fetchxml/query';
import { runFetchXml, type SortedFetch } from '../fetchxml/run';
import { parseQueryString, rejectDuplicateOptions } from '../query';
import type { EntitySetInfo } from '../schema';

/** Answers `?fetchXml=`, or passes (undefined) when the request has none. */
function fetchXmlQuery(ctx: RequestContext, set: EntitySetInfo, cache: Map<string, SortedFetch>) {
  const params = parseQueryString(ctx.req.query);
  const fetch = params.filter((p) => p.name === 'fetchXml');
  if (fetch.length === 0) return undefined;
  if (fetch.length > 1) throw dvErrors.duplicateQueryOption('fetchXml');
  rejectDuplicateOptions(params);
  let count = false;
  for (const p of params) {
    if (p.name === 'fetchXml' || p.name === '$format') continue;
    // `$count=true` is the same as returntotalrecordcount='true' (fetchxml/count-rows). Other query
    // options have no meaning next to FetchXML; the emulator refuses them rather than guess (not documented).
    if (p.name === '$count' && (p.value === 'true' || p.value === 'false')) count = p.value === 'true';
    else throw dvErrors.badRequest(`The query option '${p.name}' cannot be combined with fetchXml.`);
  }
  const model = readFetchXml((fetch[0] as { value: string }).value, set, ctx.env.schema);
  return runFetchXml(ctx, model, { count, cache });
}

/** `?fetchXml=` on every entity set; each service keeps its own cache of sorted results. */
export const fetchXmlHandler: Handler = {
  name: 'fetchxml',
  routes: () => {
    const cache = new Map<string, SortedFetch>();
    return { collection: { GET: (t, ctx) => fetchXmlQuery(ctx, t.set, cache) } };
  },
};
