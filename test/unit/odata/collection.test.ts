import * as fs from 'node:fs';
import * as path from 'node:path';
import { DynamicsError, ErrorCode } from '../../../src/errors';
import { checkNextLink, parseCollectionPage } from '../../../src/odata/collection';
import { parsePreferenceApplied } from '../../../src/odata/query';

const REAL = path.resolve(__dirname, '../../../../shared/fixtures/real');

function thrown(fn: () => unknown): DynamicsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicsError);
    return error as DynamicsError;
  }
  throw new Error('expected a throw');
}

describe('parseCollectionPage: real captures', () => {
  it('reads the real leads collection (no nextLink, no count)', () => {
    const text = fs.readFileSync(path.join(REAL, 'leads-collection-v9.1.json'), 'utf8');
    const page = parseCollectionPage<{ leadid: string; '@odata.etag': string; _ownerid_value: string | null; fullname: string }>(text);
    expect(page.context).toBe('https://emmanueltest.crm.dynamics.com/api/data/v9.1/$metadata#leads');
    expect(page.nextLink).toBeUndefined();
    expect(page.count).toBeUndefined();
    expect(page.value.length).toBe((JSON.parse(text) as { value: unknown[] }).value.length);
    expect(page.value.length).toBeGreaterThan(1);
    expect(page.value[0]).toMatchObject({ leadid: 'f64e2b60-2741-e911-a820-000d3a1d5203', '@odata.etag': 'W/"1175539"', fullname: 'ahah tata' });
    expect(parseCollectionPage(Buffer.from(text)).value).toEqual(page.value);
  });

  it('reads the documented paging response: Preference-Applied and an opaque nextLink kept byte for byte', () => {
    const text = fs.readFileSync(path.join(REAL, 'paging-nextlink-contacts.docs-excerpt.http'), 'utf8');
    const split = text.indexOf('\n\n');
    const head = text.slice(0, split).split('\n');
    const preference = head.find((l) => l.startsWith('Preference-Applied:'))!.slice('Preference-Applied:'.length);
    expect(parsePreferenceApplied(preference).maxPageSize).toBe(2);
    const page = parseCollectionPage<{ fullname: string }>(text.slice(split + 2));
    expect(page.value.map((c) => c.fullname)).toEqual(['Yvonne McKay (sample)', 'Susanna Stubberod (sample)']);
    const raw = /"@odata.nextLink": "([^"]+)"/.exec(text)![1];
    expect(page.nextLink).toBe(raw);
    expect(page.nextLink).toContain('$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie');
    // With a real host in place of the docs' placeholder, the link is under the API root and comes back unmodified.
    const link = page.nextLink!.replace('[Organization URI]', 'https://org.crm.dynamics.com');
    expect(checkNextLink(link, 'https://org.crm.dynamics.com/api/data/v9.2/')).toBe(link);
  });

  it('reads counts and the total-record-count annotations', () => {
    const page = parseCollectionPage({
      value: [],
      '@odata.count': 5000,
      '@Microsoft.Dynamics.CRM.totalrecordcount': 5000,
      '@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded': true,
    });
    expect(page).toEqual({ value: [], count: 5000, totalRecordCount: 5000, totalRecordCountLimitExceeded: true });
  });

  it.each<[unknown, RegExp]>([
    ['<html>502</html>', /not JSON/],
    ['{"value":[{"a":1}', /not JSON/],
    ['[1,2]', /JSON object/],
    ['{"error":{"code":"","message":"x"}}', /"value" array/],
    ['{"value":{}}', /"value" array/],
    ['{"value":[],"@odata.nextLink":42}', /nextLink/],
    [null, /JSON object/],
  ])('throws malformed_response for %j', (body, message) => {
    const error = thrown(() => parseCollectionPage(body));
    expect(error.code).toBe(ErrorCode.malformedResponse);
    expect(error.message).toMatch(message);
  });
});

describe('checkNextLink', () => {
  const root = 'https://org.crm.dynamics.com/api/data/v9.2/';
  it('accepts links under the root (host case-insensitively)', () => {
    expect(checkNextLink('https://ORG.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x', root)).toBe('https://ORG.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x');
    expect(checkNextLink('https://127.0.0.1:8443/api/data/v9.2/accounts', 'https://127.0.0.1:8443/api/data/v9.2')).toBe('https://127.0.0.1:8443/api/data/v9.2/accounts');
  });
  it.each([
    'https://evil.example/api/data/v9.2/accounts',
    'http://org.crm.dynamics.com/api/data/v9.2/accounts',
    'https://org.crm.dynamics.com:444/api/data/v9.2/accounts',
    'https://org.crm.dynamics.com/api/data/v9.1/accounts',
    'https://org.crm.dynamics.com.evil.example/api/data/v9.2/accounts',
    'accounts?$skiptoken=x',
  ])('refuses %s (the bearer token would go elsewhere)', (link) => {
    expect(thrown(() => checkNextLink(link, root)).code).toBe(ErrorCode.malformedResponse);
  });
});
