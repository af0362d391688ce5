/**
 * Shared set-up of the workload tests (bulk messages, change tracking, files, elastic tables): an
 * emulator, and a client with the runtime model of the tables they use.
 */
import { DynamicsClient } from '../../src/client/DynamicsClient';
import type { DynamicsClientOptions } from '../../src/client/options';
import type { RuntimeModel } from '../../src/client/model';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator';

/** The model of the default schema's tables the workload tests write to (what the generator emits). */
export const WORKLOAD_MODEL: RuntimeModel = {
  accounts: { entitySet: 'accounts', logicalName: 'account', primaryKey: 'accountid', columns: { accountid: 'Edm.Guid', name: 'Edm.String', accountnumber: 'Edm.String' } },
  contacts: { entitySet: 'contacts', logicalName: 'contact', primaryKey: 'contactid', columns: { contactid: 'Edm.Guid', lastname: 'Edm.String' } },
  sample_documents: { entitySet: 'sample_documents', logicalName: 'sample_document', primaryKey: 'sample_documentid', columns: { sample_documentid: 'Edm.Guid', sample_name: 'Edm.String' } },
  sample_sensordatas: {
    entitySet: 'sample_sensordatas',
    logicalName: 'sample_sensordata',
    primaryKey: 'sample_sensordataid',
    tableType: 'elastic',
    columns: { sample_sensordataid: 'Edm.Guid', partitionid: 'Edm.String', sample_value: 'Edm.Int32', ttlinseconds: 'Edm.Int32' },
  },
};

/** Starts an emulator on a free port. */
export function startWorkloadEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ port: 0, ...options });
}

/** A client of `emulator` with {@link WORKLOAD_MODEL}. */
export function workloadClient(emulator: Emulator, extra: Partial<DynamicsClientOptions> = {}): DynamicsClient {
  return new DynamicsClient({
    url: emulator.url,
    ca: emulator.caPem,
    auth: { tokenUrl: emulator.tokenUrl, clientId: emulator.client.clientId, clientSecret: emulator.client.clientSecret },
    model: WORKLOAD_MODEL,
    ...extra,
  } as DynamicsClientOptions);
}
