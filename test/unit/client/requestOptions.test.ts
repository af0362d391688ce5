import { applyRequestOptions } from '../../../src/client/requestOptions';
import { prepareRequest } from '../../../src/client/call';

describe('applyRequestOptions', () => {
  it('maps each typed option to its header', () => {
    const headers: Record<string, string> = {};
    const url = applyRequestOptions(
      headers,
      {
        bypassCustomPluginExecution: true,
        bypassBusinessLogicExecution: ['CustomSync', 'CustomAsync', 'CustomSync'],
        bypassBusinessLogicExecutionStepIds: ['6a1c3b2e-0000-4000-8000-000000000001'],
        suppressDuplicateDetection: false,
        solutionUniqueName: 'Contoso_Core',
        correlationId: '2b1c3b2e-0000-4000-8000-000000000009',
        sessionToken: '240:8#144100870#7=-1',
      },
      'GET',
      'https://x/api/data/v9.2/accounts',
    );
    expect(headers).toEqual({
      'MSCRM.BypassCustomPluginExecution': 'true',
      'MSCRM.BypassBusinessLogicExecution': 'CustomSync,CustomAsync',
      'MSCRM.BypassBusinessLogicExecutionStepIds': '6a1c3b2e-0000-4000-8000-000000000001',
      'MSCRM.SuppressDuplicateDetection': 'false',
      'MSCRM.SolutionUniqueName': 'Contoso_Core',
      'x-ms-client-request-id': '2b1c3b2e-0000-4000-8000-000000000009',
      'MSCRM.SessionToken': '240:8#144100870#7=-1',
    });
    expect(url).toBe('https://x/api/data/v9.2/accounts');
  });

  it('adds partitionId to reads and deletes, encoded, and refuses it on writes', () => {
    expect(applyRequestOptions({}, { partitionId: 'dev a&b' }, 'GET', 'https://x/a?$select=n')).toBe('https://x/a?$select=n&partitionId=dev%20a%26b');
    expect(applyRequestOptions({}, { partitionId: 'p' }, 'DELETE', 'https://x/a(1)')).toBe('https://x/a(1)?partitionId=p');
    expect(() => applyRequestOptions({}, { partitionId: 'p' }, 'PATCH', 'https://x/a(1)')).toThrow(/options\.partitionId/);
  });

  it('bypassCustomPluginExecution: false sends nothing', () => {
    const headers: Record<string, string> = {};
    applyRequestOptions(headers, { bypassCustomPluginExecution: false }, 'GET', 'u');
    expect(headers).toEqual({});
  });

  it('a caller header wins over the typed option', () => {
    const req = prepareRequest(
      { method: 'GET', url: 'https://x/api/data/v9.2/accounts', options: { suppressDuplicateDetection: false, headers: { 'mscrm.suppressduplicatedetection': 'true' } } },
      1000,
    );
    expect(req.headers['mscrm.suppressduplicatedetection']).toBe('true');
    expect(req.headers['MSCRM.SuppressDuplicateDetection']).toBeUndefined();
  });

  it.each([
    [{ bypassBusinessLogicExecution: [] }, 'bypassBusinessLogicExecution'],
    [{ bypassBusinessLogicExecutionStepIds: ['nope'] }, 'bypassBusinessLogicExecutionStepIds'],
    [{ correlationId: 'has space' }, 'correlationId'],
    [{ correlationId: 'x'.repeat(129) }, 'correlationId'],
    [{ sessionToken: 'a\nb' }, 'sessionToken'],
    [{ solutionUniqueName: '' }, 'solutionUniqueName'],
  ])('refuses %j naming the option', (options, name) => {
    expect(() => applyRequestOptions({}, options as never, 'GET', 'u')).toThrow(new RegExp(`options\\.${name}`));
  });
});
