import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseBatch, writeBatchResponse } from '../../../src/emulator/dataverse/batch';
import { parsePrefer, AnnotationFilter } from '../../../src/emulator/dataverse/prefer';
import { parseQueryString, parsePath, parseKey, decodeSkipToken, encodeSkipToken } from '../../../src/emulator/dataverse/query';

const fixtures = path.resolve(__dirname, '../../../../shared/fixtures/real');

describe('emulator $batch reader', () => {
  const doc = fs.readFileSync(path.join(fixtures, 'batch-changeset-request.docs-excerpt.http'), 'utf8');
  const [head, body] = doc.split(/\n\n/, 2).length === 2 ? [doc.slice(0, doc.indexOf('\n\n')), doc.slice(doc.indexOf('\n\n') + 2)] : ['', ''];
  const contentType = /Content-Type: (.*)/.exec(head as string)?.[1] as string;

  it('reads the documented change-set request (LF line breaks)', () => {
    const items = parseBatch(body as string, contentType);
    expect(items.map((i) => i.kind)).toEqual(['changeset', 'request']);
    const cs = items[0];
    if (cs?.kind !== 'changeset') throw new Error('no change set');
    expect(cs.requests.map((r) => [r.method, r.url, r.contentId])).toEqual([
      ['POST', '/api/data/v9.2/tasks', '1'],
      ['POST', '/api/data/v9.2/tasks', '2'],
      ['POST', '/api/data/v9.2/tasks', '3'],
    ]);
    expect(JSON.parse(cs.requests[0]?.body as string)).toEqual({
      subject: 'Task 1 in batch',
      'regardingobjectid_account_task@odata.bind': 'accounts(00000000-0000-0000-0000-000000000001)',
    });
    const get = items[1];
    if (get?.kind !== 'request') throw new Error('no request');
    expect(get.request.method).toBe('GET');
    expect(get.request.url).toBe('/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject');
    expect(get.request.body).toBe('');
  });

  it('reads the same request with CRLF line breaks', () => {
    const items = parseBatch((body as string).replace(/\n/g, '\r\n'), contentType);
    expect(items).toHaveLength(2);
    const cs = items[0];
    expect(cs?.kind === 'changeset' && cs.requests[2]?.contentId).toBe('3');
  });

  it('rejects GET in a change set, missing close delimiter and more than 1000 operations', () => {
    const cs = (inner: string) =>
      `--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\n${inner}\r\n--cs--\r\n--b--\r\n`;
    expect(() => parseBatch(cs('GET /api/data/v9.2/accounts HTTP/1.1\r\n\r\n'), 'multipart/mixed; boundary=b')).toThrow(/GET requests are not allowed/);
    expect(() => parseBatch('--b\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n', 'multipart/mixed; boundary=b')).toThrow(/closing delimiter/);
    const many = Array.from({ length: 1001 }, () => '--b\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n').join('') + '--b--';
    expect(() => parseBatch(many, 'multipart/mixed; boundary=b')).toThrow(/maximum number of '1000'/);
    const ok = Array.from({ length: 1000 }, () => '--b\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\n\r\n').join('') + '--b--';
    expect(parseBatch(ok, 'multipart/mixed; boundary="b"')).toHaveLength(1000);
  });

  it('writes responses framed like the documented change-set response', () => {
    const text = writeBatchResponse('batchresponse_x', [
      { kind: 'changeset', boundary: 'changesetresponse_y', parts: [{ status: 204, headers: { 'OData-Version': '4.0', 'OData-EntityId': 'u' }, body: '', contentId: '1' }] },
      { kind: 'response', part: { status: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' } },
    ]);
    const expected = fs
      .readFileSync(path.join(fixtures, 'batch-changeset-response.docs-excerpt.http'), 'utf8')
      .split('\n');
    // Same framing lines as the documented response (boundaries, part headers, status lines).
    const framing = (lines: string[]) => lines.filter((l) => /^(--|Content-Type: (application\/http|multipart)|Content-Transfer-Encoding|Content-ID|HTTP\/1.1 20[04])/.test(l)).map((l) => l.replace(/_[0-9a-f-]{36}/, '_X').replace(/_x|_y/, '_X'));
    const ours = framing(text.split('\r\n'));
    const theirs = framing(expected.slice(3));
    expect(ours[0]).toBe(theirs[0]);
    expect(ours.slice(1, 7)).toEqual(theirs.slice(1, 7));
    expect(text.endsWith('--batchresponse_x--\r\n')).toBe(true);
    expect(text).toContain('HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: u\r\n\r\n\r\n--changesetresponse_y--\r\n');
  });
});

describe('emulator Prefer and URL parsing', () => {
  it('parses RFC 7240 preferences with quoted lists', () => {
    const p = parsePrefer('return=representation, odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname",odata.maxpagesize=50; foo=bar, odata.continue-on-error');
    expect(p.get('return')).toBe('representation');
    expect(p.get('odata.maxpagesize')).toBe('50');
    expect(p.has('odata.continue-on-error')).toBe(true);
    const a = new AnnotationFilter(p.get('odata.include-annotations'));
    expect(a.wants('OData.Community.Display.V1.FormattedValue')).toBe(true);
    expect(a.wants('Microsoft.Dynamics.CRM.associatednavigationproperty')).toBe(false);
    expect(new AnnotationFilter('*').wants('Microsoft.Dynamics.CRM.lookuplogicalname')).toBe(true);
    expect(new AnnotationFilter('Microsoft.Dynamics.CRM.*').wants('Microsoft.Dynamics.CRM.lookuplogicalname')).toBe(true);
  });
  it('decodes query values once, with + as space', () => {
    const q = parseQueryString("$filter=name%20eq%20'a%26b%23c%3Fd%2Be%25f'+and+x&$select=name");
    expect(q[0]?.value).toBe("name eq 'a&b#c?d+e%f' and x");
    expect(q[1]).toEqual({ name: '$select', value: 'name', raw: '$select=name' });
  });
  it('splits paths and keys', () => {
    expect(parsePath("accounts(accountnumber='A%2F''1')/primarycontactid/$ref")).toEqual([
      { name: 'accounts', args: "accountnumber='A/''1'" },
      { name: 'primarycontactid' },
      { name: '$ref' },
    ]);
    expect(parseKey("accountnumber='O''Brien'").named?.get('accountnumber')).toEqual({ kind: 'string', value: "O'Brien" });
    expect(parseKey('00000000-0000-0000-0000-00000000000A').single).toEqual({ kind: 'guid', value: '00000000-0000-0000-0000-00000000000a' });
    expect(parseKey("firstname='Joe',emailaddress1='a@b.c'").named?.size).toBe(2);
  });
  it('round-trips the opaque skiptoken and rejects edited ones', () => {
    const t = encodeSkipToken(3, ["o'brien", 5, null, 'id']);
    expect(decodeSkipToken(t)).toEqual({ page: 3, last: ["o'brien", 5, null, 'id'] });
    expect(() => decodeSkipToken(t.replace('pagenumber="3"', 'pagenumber=3'))).toThrow(/skiptoken/);
  });
});
