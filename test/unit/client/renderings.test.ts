/**
 * A DynamicsClient built from MSAL options holds a client secret (through its token provider). No
 * rendering of the client may reach it: its configuration and pipeline live in `#` fields.
 */
import { inspect } from 'node:util';
import { DynamicsClient } from '../../../src/client/DynamicsClient';

const SECRET = 'SUPER-SECRET-VALUE-3f9c1d';

it('util.inspect (hidden, any depth), JSON, keys, spread and structuredClone of a client show its URLs and no secret', () => {
  const client = new DynamicsClient({
    url: 'https://contoso.crm.dynamics.com',
    auth: { tenantId: '00000000-0000-0000-0000-0000000000aa', clientId: '00000000-0000-0000-0000-0000000000bb', clientSecret: SECRET },
  });
  try {
    const renderings = [
      inspect(client, { showHidden: true, depth: null, getters: true }),
      JSON.stringify(client),
      JSON.stringify(Object.entries(client)),
      JSON.stringify({ ...client }),
      JSON.stringify(structuredClone(client)),
      Object.getOwnPropertyNames(client).join(','),
    ];
    for (const text of renderings) expect(text).not.toContain(SECRET);
    expect(JSON.parse(JSON.stringify(client))).toEqual({ url: 'https://contoso.crm.dynamics.com', apiUrl: 'https://contoso.crm.dynamics.com/api/data/v9.2/' });
  } finally {
    client.close();
  }
});
