/**
 * The fix is named in the error for the service errors whose cause is known (issue 13): a GUID sent
 * quoted, FetchXML's aggregate limit and its link-entity limit; other errors are left as worded.
 */
import { statusError } from '../../../src/http/errors';
import { serviceAdvice } from '../../../src/http/serviceAdvice';

const request = { method: 'GET' as const, url: 'https://contoso.crm.dynamics.com/api/data/v9.2/contacts' };

describe('serviceAdvice', () => {
  it('explains a GUID compared with a quoted string, in either operand order', () => {
    for (const message of [
      "A binary operator with incompatible types was detected. Found operand types 'Edm.Guid' and 'Edm.String' for operator kind 'Equal'.",
      "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Guid' for operator kind 'NotEqual'.",
    ]) {
      const error = statusError(400, { 'content-type': 'application/json' }, JSON.stringify({ error: { code: '0x80060888', message } }), request);
      expect(error.message).toContain(message);
      expect(error.message).toContain('wrap the value in guid(id)');
      expect(error.message).toContain('model');
    }
  });

  it('names what to do about the aggregate limit (8004E023) and the link-entity limit (0x8004430D)', () => {
    expect(serviceAdvice({ status: 400, code: '0x8004e023' })).toMatch(/50,000 rows.*narrow its filter, or aggregate in parts/);
    expect(serviceAdvice({ status: 400, code: '8004E023' })).not.toBe('');
    expect(serviceAdvice({ status: 500, code: 'http_error', serviceMessage: 'AggregateQueryRecordLimit exceeded. Cannot perform this operation.' })).not.toBe('');
    expect(serviceAdvice({ status: 400, code: '0x8004430D' })).toMatch(/at most 15 tables: use fewer link-entity elements/);
    expect(serviceAdvice({ status: 400, code: '-2147204339' })).not.toBe('');
  });

  it('adds nothing to other errors', () => {
    expect(serviceAdvice({ status: 400, code: '0x80060888', serviceMessage: "Could not find a property named 'x'" })).toBe('');
    expect(serviceAdvice({ status: 404, code: '0x80040217', serviceMessage: "Entity 'account' With Id = 1 Does Not Exist" })).toBe('');
    expect(serviceAdvice({ status: 400, code: 'http_error', serviceMessage: "incompatible types 'Edm.Int32' and 'Edm.String'" })).toBe('');
  });
});
