import { DynamicsError, ErrorCode } from '../../../src/errors';
import {
  entityPath,
  formatKey,
  isGuid,
  normalizeGuid,
  parseEntityId,
  parseEntityReference,
  validateName,
  FORBIDDEN_KEY_CHARACTERS,
} from '../../../src/odata/keys';

const ID = '00000000-0000-0000-0000-000000000001';

function thrown(fn: () => unknown): DynamicsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

describe('formatKey', () => {
  it('writes a GUID unquoted and lower-cased, accepting braces', () => {
    expect(formatKey(ID)).toBe(`(${ID})`);
    expect(formatKey('E73FFC82-E292-ED11-AAD1-000D3A9933C9')).toBe('(e73ffc82-e292-ed11-aad1-000d3a9933c9)');
    expect(formatKey('{E73FFC82-E292-ED11-AAD1-000D3A9933C9}')).toBe('(e73ffc82-e292-ed11-aad1-000d3a9933c9)');
  });

  it.each(['abc', '', 'A1', `${ID}x`, ` ${ID}`, '00000000-0000-0000-0000-00000000000g', "accountnumber='A1'"])(
    'rejects the non-GUID string %j naming the argument',
    (key) => {
      const error = thrown(() => formatKey(key));
      expect(error.code).toBe(ErrorCode.invalidArgument);
      expect(error.message).toMatch(/^key: expected a GUID/);
      expect(error.message).toContain('alternate-key object');
    },
  );

  it('uses the argument name given', () => {
    expect(thrown(() => formatKey('nope', 'target')).message).toMatch(/^target: /);
  });

  // The documented forms (use-alternate-key-reference-record.md) and the escaping table.
  it.each<[Record<string, string | number | boolean | null>, string]>([
    [{ accountnumber: 'ABC123' }, "(accountnumber='ABC123')"],
    [{ firstname: 'Joe', emailaddress1: 'abc@example.com' }, "(firstname='Joe',emailaddress1='abc%40example.com')"],
    [{ _primarycontactid_value: ID }, `(_primarycontactid_value=${ID})`],
    [{ _primarycontactid_value: ID.toUpperCase() }, `(_primarycontactid_value=${ID})`],
    [{ lastname: "O'Brien" }, "(lastname='O''Brien')"],
    [{ lastname: "''" }, "(lastname='''''')"],
    [{ name: 'a b' }, "(name='a%20b')"],
    [{ name: 'a,b=c' }, "(name='a%2Cb%3Dc')"],
    [{ name: '(x)' }, "(name='(x)')"],
    [{ name: 'say "hi"' }, "(name='say%20%22hi%22')"],
    [{ name: 'Zoë' }, "(name='Zo%C3%AB')"],
    [{ name: '東京' }, "(name='%E6%9D%B1%E4%BA%AC')"],
    [{ name: '😀' }, "(name='%F0%9F%98%80')"],
    [{ name: 'a;b$c@d' }, "(name='a%3Bb%24c%40d')"],
    [{ name: 'tab-less_~.!' }, "(name='tab-less_~.!')"],
    [{ code: 42 }, '(code=42)'],
    [{ code: -1.5 }, '(code=-1.5)'],
    [{ active: true, deleted: false }, '(active=true,deleted=false)'],
    [{ parent: null }, '(parent=null)'],
  ])('%j → %s', (key, expected) => {
    expect(formatKey(key)).toBe(expected);
  });

  it.each(FORBIDDEN_KEY_CHARACTERS)('rejects %j in an alternate-key value before sending', (ch) => {
    const error = thrown(() => formatKey({ accountnumber: `A${ch}1` }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toContain('key.accountnumber');
    expect(error.message).toContain(`contains "${ch}"`);
    expect(error.message).toContain('$filter');
  });

  it('lists exactly the documented characters plus #', () => {
    expect([...FORBIDDEN_KEY_CHARACTERS].sort()).toEqual(['#', '%', '&', '*', '+', '/', ':', '<', '>', '?', '\\'].sort());
  });

  it.each(['a\nb', 'a\u0000', 'a\u007f', 'a\tb'])('rejects control characters in %j', (value) => {
    expect(thrown(() => formatKey({ name: value })).message).toContain('control characters');
  });

  it.each<[unknown, RegExp]>([
    [{}, /at least one column/],
    [[], /alternate-key object/],
    [null, /alternate-key object/],
    [42, /alternate-key object/],
    [{ 'bad name': 'x' }, /key column name/],
    [{ '1abc': 'x' }, /key column name/],
    [{ name: '' }, /key\.name: expected a non-empty string/],
    [{ n: Number.NaN }, /key\.n: expected a finite number/],
    [{ n: Infinity }, /key\.n: expected a finite number/],
    [{ n: 1e21 }, /without an exponent/],
    [{ n: { nested: 1 } }, /key\.n: expected a string, number, boolean or null/],
    [{ n: undefined }, /key\.n: expected a string, number, boolean or null/],
  ])('rejects %j', (key, message) => {
    const error = thrown(() => formatKey(key as never));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(message);
  });

  it('shortens a huge value in the message', () => {
    const error = thrown(() => formatKey('x'.repeat(10_000)));
    expect(error.message.length).toBeLessThan(400);
  });
});

describe('entityPath', () => {
  it('joins the entity set and key', () => {
    expect(entityPath('accounts', ID)).toBe(`accounts(${ID})`);
    expect(entityPath('accounts')).toBe('accounts');
    expect(entityPath('EntityDefinitions', { LogicalName: 'account' })).toBe("EntityDefinitions(LogicalName='account')");
    expect(entityPath('new_widgets', { new_code: 'W 1' })).toBe("new_widgets(new_code='W%201')");
  });

  it.each(['', 'accounts/x', 'accounts(1)', '1accounts', 'acc ounts', 'accounts?$top=1', '$batch', 'ác'])(
    'rejects the entity set %j',
    (entitySet) => {
      const error = thrown(() => entityPath(entitySet, ID));
      expect(error.code).toBe(ErrorCode.invalidArgument);
      expect(error.message).toMatch(/^entitySet: expected a name/);
    },
  );

  it('rejects non-strings', () => {
    expect(thrown(() => entityPath(undefined as never)).message).toMatch(/^entitySet: /);
  });
});

describe('validateName / isGuid / normalizeGuid', () => {
  it('validates names with the given argument', () => {
    expect(validateName('Account_Tasks', 'navigationProperty')).toBe('Account_Tasks');
    expect(thrown(() => validateName('a/b', 'navigationProperty')).message).toMatch(/^navigationProperty: /);
    expect(thrown(() => validateName('a'.repeat(129))).code).toBe(ErrorCode.invalidArgument);
  });

  it('recognises GUIDs', () => {
    expect(isGuid(ID)).toBe(true);
    expect(isGuid(`{${ID}}`)).toBe(false);
    expect(isGuid(42)).toBe(false);
    expect(normalizeGuid(`{${ID.toUpperCase()}}`)).toBe(ID);
    expect(thrown(() => normalizeGuid('x', 'callerObjectId')).message).toMatch(/^callerObjectId: expected a GUID/);
  });
});

describe('parseEntityId', () => {
  it('returns the GUID from OData-EntityId', () => {
    expect(parseEntityId(`https://org.crm.dynamics.com/api/data/v9.2/accounts(${ID})`)).toBe(ID);
    expect(parseEntityId('[Organization Uri]/api/data/v9.2/tasks(E73FFC82-E292-ED11-AAD1-000D3A9933C9)')).toBe(
      'e73ffc82-e292-ed11-aad1-000d3a9933c9',
    );
    expect(parseEntityReference(` https://x/api/data/v9.2/new_widgets(${ID}) `)).toEqual({ entitySet: 'new_widgets', key: ID });
  });

  it('returns an alternate key map', () => {
    expect(parseEntityId("https://x/api/data/v9.2/accounts(accountnumber='A1')")).toEqual({ accountnumber: 'A1' });
    expect(parseEntityId(`https://x/api/data/v9.2/accounts(accountid=${ID})`)).toEqual({ accountid: ID });
    expect(parseEntityId("https://x/api/data/v9.2/contacts(firstname='Joe',emailaddress1='abc%40example.com')")).toEqual({
      firstname: 'Joe',
      emailaddress1: 'abc@example.com',
    });
    expect(parseEntityId('https://x/api/data/v9.2/things(a=1,b=-2.5,c=true,d=null)')).toEqual({ a: 1, b: -2.5, c: true, d: null });
  });

  it.each<Record<string, string | number | boolean | null>>([
    { lastname: "O'Brien" },
    { name: 'Zoë 東京 😀', code: 7 },
    { name: "a,b=c ''(x)'" },
    { _primarycontactid_value: ID, accountnumber: 'x' },
  ])('round-trips formatKey %j', (key) => {
    expect(parseEntityId(`https://x/api/data/v9.2/${entityPath('accounts', key)}`)).toEqual(key);
  });

  it.each([
    '',
    'https://x/api/data/v9.2/accounts',
    'https://x/api/data/v9.2/accounts()',
    'https://x/api/data/v9.2/accounts(abc)',
    "https://x/api/data/v9.2/accounts(name='unterminated)",
    "https://x/api/data/v9.2/accounts(name='a'b)",
    "https://x/api/data/v9.2/accounts(name='a',)",
    'https://x/api/data/v9.2/accounts(%E0%A4%A)',
    `https://x/api/data/v9.2/accounts(${ID}`,
    '<html>oops</html>',
  ])('throws malformed_response for %j', (header) => {
    const error = thrown(() => parseEntityId(header));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.message).toMatch(/^OData-EntityId: /);
  });

  it('throws malformed_response for a missing header', () => {
    expect(thrown(() => parseEntityId(undefined as never)).code).toBe(ErrorCode.malformedResponse);
  });
});

describe('alternate keys: every bad value is a DynamicsError (issue 11, item 14)', () => {
  it.each<[string, string]>([
    ['a lone high surrogate', 'A1\ud800'],
    ['a lone low surrogate', '\udc00A1'],
  ])('refuses %s with invalid_argument naming the column (was a raw URIError)', (_, accountnumber) => {
    const error = thrown(() => formatKey({ accountnumber }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^key\.accountnumber: expected well-formed Unicode text \(found a lone surrogate\)/);
    expect(() => entityPath('accounts', { accountnumber })).toThrow(DynamicsError);
  });

  it('keeps well-formed surrogate pairs', () => {
    expect(formatKey({ name: 'a😀' })).toBe("(name='a%F0%9F%98%80')");
  });

  it('refuses a key whose URL segment is longer than the 260 characters Dataverse accepts, quoting only its start', () => {
    const accountnumber = 'x'.repeat(300);
    const error = thrown(() => entityPath('accounts', { accountnumber }));
    expect(error.code).toBe(ErrorCode.invalidArgument);
    expect(error.message).toMatch(/^key: the URL segment "accounts\(accountnumber='x+…" is 326 characters long, and Dataverse refuses a segment longer than 260/);
    expect(error.message).toContain('$filter');
    expect(error.message.length).toBeLessThan(500);
  });

  it('measures the segment decoded: 200 é are 1,200 characters encoded but 200 in the segment', () => {
    const name = 'é'.repeat(200);
    expect(entityPath('accounts', { name })).toBe(`accounts(name='${'%C3%A9'.repeat(200)}')`);
    expect(() => entityPath('accounts', { name: 'é'.repeat(250) })).toThrow(/is 267 characters long/);
  });
});
