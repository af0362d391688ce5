/**
 * What describes the service: the service document (`GET /`), the `$metadata` document, and the
 * `EntityDefinitions` metadata API (`../metadata.ts`; dp/webapi/query-metadata-web-api.md).
 */
import type { Handler } from '../context';
import { jsonResponse } from '../shared/responses';

/** The service document, `$metadata` and `EntityDefinitions`. */
export const serviceMetadata: Handler = {
  name: 'metadata',
  routes: (env) => ({
    serviceDocument: {
      GET: (_t, ctx) =>
        jsonResponse(200, {
          '@odata.context': `${ctx.base}/$metadata`,
          value: [...env.schema.sets.keys()].map((name) => ({ name, kind: 'EntitySet', url: name })),
        }),
    },
    metadataDocument: {
      GET: () => ({ status: 200, headers: { 'Content-Type': 'application/xml', 'OData-Version': '4.0' }, body: env.metadataXml }),
    },
    entityDefinitions: {
      GET: (t, ctx) => {
        const r = env.metadata.get(ctx.base, t.segments, ctx.req.query);
        return jsonResponse(r.status, r.body);
      },
    },
  }),
};
