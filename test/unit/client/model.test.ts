/**
 * The runtime model option: validated when the client is built (a wrong shape names the option),
 * and handed to capabilities per entity set.
 */
import { DynamicsClient } from '../../../src/client/DynamicsClient';
import { PipelineContext } from '../../../src/client/context';
import { resolveClientOptions } from '../../../src/client/options';
import { ConfigurationError } from '../../../src/errors';

const auth = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
const accounts = { entitySet: 'accounts', logicalName: 'account', primaryKey: 'accountid', columns: { name: 'Edm.String', _parentaccountid_value: 'Edm.Guid' } };

describe('model option', () => {
  it('is handed to capabilities per entity set, and unknown sets (or inherited names) give undefined', () => {
    const context = new PipelineContext(resolveClientOptions({ url: 'https://contoso.crm.dynamics.com', auth, model: { accounts } }));
    expect(context.entityModel('accounts')).toEqual(accounts);
    expect(context.entityModel('contacts')).toBeUndefined();
    expect(context.entityModel('toString')).toBeUndefined();
    context.close();
  });

  it('refuses a model of the wrong shape, naming the option', () => {
    const bad = () => new DynamicsClient({ url: 'https://contoso.crm.dynamics.com', auth, model: { accounts: { entitySet: 'accounts', columns: {} } as never } });
    expect(bad).toThrow(ConfigurationError);
    expect(bad).toThrow(/model\.accounts: expected the generated runtime model/);
  });

  it('is optional', () => {
    const context = new PipelineContext(resolveClientOptions({ url: 'https://contoso.crm.dynamics.com', auth }));
    expect(context.entityModel('accounts')).toBeUndefined();
    context.close();
  });
});
