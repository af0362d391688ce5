import { ConfigurationError } from '../../../src/errors';
import { DynamicsClient } from '../../../src/client/DynamicsClient';
import { resolveClientOptions, DEFAULT_CLIENT_OPTIONS } from '../../../src/client/options';
import { functionCall, functionLiteral, operationPath } from '../../../src/client/operations/operations';

const provider = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('client options', () => {
  it('merges over the written-down defaults', () => {
    const c = resolveClientOptions({ url: 'https://org.crm.dynamics.com/', auth: provider });
    expect(c).toMatchObject({
      origin: 'https://org.crm.dynamics.com',
      apiRoot: 'https://org.crm.dynamics.com/api/data/v9.2/',
      timeoutInMs: DEFAULT_CLIENT_OPTIONS.timeoutInMs,
      maxRetries: DEFAULT_CLIENT_OPTIONS.maxRetries,
      validate: false,
    });
    expect(c.maxConcurrency).toBeUndefined();
  });

  it('takes the API version from a URL ending in /api/data/v9.x', () => {
    expect(resolveClientOptions({ url: 'https://org.crm.dynamics.com/api/data/v9.1/', auth: provider }).apiRoot).toBe('https://org.crm.dynamics.com/api/data/v9.1/');
  });

  it('names every bad option and what was expected', () => {
    let error: unknown;
    try {
      new DynamicsClient({ url: 'http://org.crm.dynamics.com', auth: {} as never, maxRetries: -1, timeoutInMs: 'soon' as never, maxConcurrncy: 4 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    const names = (error as ConfigurationError).issues.map((i) => i.name).sort();
    expect(names).toEqual(['auth', 'maxConcurrncy', 'maxRetries', 'timeoutInMs', 'url']);
    expect((error as Error).message).toContain('url: expected the environment URL');
  });

  it('never quotes a secret given in auth options', () => {
    let message = '';
    try {
      new DynamicsClient({ url: 'nope', auth: { clientId: 'x', clientSecret: 'TOPSECRET' } } as never);
    } catch (e) {
      message = String((e as Error).message);
    }
    expect(message).toContain('url');
    expect(message).not.toContain('TOPSECRET');
  });

  it('accepts http only on loopback', () => {
    expect(() => resolveClientOptions({ url: 'http://127.0.0.1:8080', auth: provider })).not.toThrow();
    expect(() => resolveClientOptions({ url: 'http://example.com', auth: provider })).toThrow(ConfigurationError);
  });
});

describe('function calls', () => {
  it('WhoAmI() and aliases with OData literals', () => {
    expect(functionCall('WhoAmI', undefined)).toBe('WhoAmI()');
    expect(functionCall('Fn', { name: "O'Brien", n: 5, b: true, z: null })).toBe("Fn(name=@p1,n=@p2,b=@p3,z=@p4)?@p1='O''Brien'&@p2=5&@p3=true&@p4=null");
  });
  it('percent-encodes & # ? + % and unicode inside string values', () => {
    const q = functionCall('Fn', { s: 'a&b#c?d+e%f é' });
    expect(q).toBe("Fn(s=@p1)?@p1='a%26b%23c%3Fd%2Be%25f%20%C3%A9'");
    expect(decodeURIComponent(q.split('=').slice(2).join('='))).toBe("'a&b#c?d+e%f é'");
  });
  it('GUIDs unquoted, dates as ISO, raw enums verbatim, objects as JSON', () => {
    expect(functionLiteral({ type: 'guid', value: '6AEE91BB-1EDF-4B1E-93AF-56BC12F8A49F' }, 'p')).toBe('6aee91bb-1edf-4b1e-93af-56bc12f8a49f');
    expect(functionLiteral(new Date('2024-01-02T03:04:05Z'), 'p')).toBe('2024-01-02T03:04:05.000Z');
    expect(functionLiteral({ type: 'raw', value: "Microsoft.Dynamics.CRM.EntityFilters'Entity'" }, 'p')).toBe("Microsoft.Dynamics.CRM.EntityFilters'Entity'");
    expect(functionLiteral({ '@odata.id': 'accounts(1)' }, 'p')).toBe('{"@odata.id":"accounts(1)"}');
    expect(() => functionLiteral(Number.NaN, 'p')).toThrow(/p: expected a finite number/);
  });
  it('bound operations get the namespace', () => {
    expect(operationPath('WinOpportunity', undefined)).toBe('WinOpportunity');
    expect(operationPath('RetrieveUserPrivileges', { entitySet: 'systemusers', key: '6aee91bb-1edf-4b1e-93af-56bc12f8a49f' })).toBe(
      'systemusers(6aee91bb-1edf-4b1e-93af-56bc12f8a49f)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges',
    );
    expect(() => operationPath('bad name', undefined)).toThrow(/name: expected/);
  });
});
