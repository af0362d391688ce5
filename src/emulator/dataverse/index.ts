/**
 * The Dataverse Web API half of the emulator: everything under `/api/data/`.
 * This first cut answers every request with Dataverse's 501 error shape so the server compiles;
 * the real service grows behind the same factory.
 */
import { randomUUID } from 'node:crypto';
import type { CreateDataverseService, DataverseService } from './contract';
import type { EmulatorStore } from '../types';

export type { CreateDataverseService, DataverseService, DataverseContext, DataverseOptions } from './contract';

/** Creates the Dataverse Web API service. */
export const createDataverseService: CreateDataverseService = async (_options, _context) => {
  const store: EmulatorStore = {
    entitySets: () => [],
    count: () => 0,
    rows: () => [],
    insert: () => [],
    clear: () => undefined,
  };
  const service: DataverseService = {
    async handle(_req, res) {
      const body = JSON.stringify({ error: { code: '0x80060888', message: 'Not implemented.' } });
      res.writeHead(501, {
        'Content-Type': 'application/json; odata.metadata=minimal',
        'OData-Version': '4.0',
        REQ_ID: randomUUID(),
      });
      res.end(body);
    },
    store,
    setServiceProtection() {},
    setLatency() {},
    async close() {},
  };
  return service;
};
