/**
 * The emulator's `$batch` over plain HTTPS: the documented change-set exchange, atomic rollback,
 * Content-ID references, continue-on-error, stop-on-error and the limits, framed like the documented
 * responses in ../shared/fixtures/real/batch-*.http.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Emulator } from '../../src/emulator';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

const fixtures = path.resolve(__dirname, '../../../shared/fixtures/real');
let em: Emulator;
let token: string;

beforeAll(async () => {
  em = await startTestEmulator();
  token = await appToken(em);
});
afterAll(async () => {
  await em.close();
});

interface Op {
  method: string;
  url: string;
  body?: unknown;
  contentId?: string;
  headers?: Record<string, string>;
}

function part(op: Op): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (op.contentId) lines.push(`Content-ID: ${op.contentId}`);
  lines.push('', `${op.method} ${op.url} HTTP/1.1`);
  if (op.body !== undefined) lines.push('Content-Type: application/json; type=entry');
  for (const [k, v] of Object.entries(op.headers ?? {})) lines.push(`${k}: ${v}`);
  lines.push('', op.body !== undefined ? JSON.stringify(op.body) : '');
  return lines.join('\r\n');
}

function batchBody(items: (Op | Op[])[]): string {
  const out: string[] = [];
  items.forEach((item, i) => {
    if (Array.isArray(item)) {
      const cs = `changeset_${i}`;
      out.push(`--batch_b\r\nContent-Type: multipart/mixed; boundary=${cs}\r\n\r\n${item.map((op) => `--${cs}\r\n${part(op)}\r\n`).join('')}--${cs}--\r\n`);
    } else {
      out.push(`--batch_b\r\n${part(item)}\r\n`);
    }
  });
  return `${out.join('')}--batch_b--\r\n`;
}

function sendBatch(body: string, headers: Record<string, string> = {}, contentType = 'multipart/mixed; boundary="batch_b"'): Promise<RawResponse> {
  return httpsRequest(em, {
    method: 'POST',
    path: '/api/data/v9.2/$batch',
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'OData-Version': '4.0', 'Content-Type': contentType, ...headers },
    body,
  });
}

interface ParsedPart {
  status: number;
  headers: Record<string, string>;
  body: string;
  contentId?: string;
  changeset?: string;
}

/** Reads a batch response into its operations, in order (change-set parts flagged with their boundary). */
function parseResponse(r: RawResponse): ParsedPart[] {
  const boundary = /boundary=([^;\s]+)/.exec(String(r.headers['content-type']))?.[1] as string;
  const out: ParsedPart[] = [];
  const walk = (text: string, b: string, changeset?: string) => {
    const chunks = text.split(new RegExp(`\\r?\\n?--${b}(?:--)?\\r?\\n`)).slice(1);
    for (const chunk of chunks) {
      if (!chunk.trim()) continue;
      const [head, ...rest] = chunk.split('\r\n\r\n');
      const inner = /boundary=(\S+)/.exec(head as string)?.[1];
      if (inner) {
        walk(rest.join('\r\n\r\n'), inner, inner);
        continue;
      }
      const contentId = /Content-ID: (\S+)/.exec(head as string)?.[1];
      const http = rest.join('\r\n\r\n');
      const [statusAndHeaders, ...bodyParts] = http.split('\r\n\r\n');
      const lines = (statusAndHeaders as string).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':'))] = l.slice(l.indexOf(':') + 1).trim();
      out.push({
        status: Number(/^HTTP\/1\.1 (\d+)/.exec(lines[0] as string)?.[1]),
        headers,
        body: bodyParts.join('\r\n\r\n').trim(),
        ...(contentId ? { contentId } : {}),
        ...(changeset ? { changeset } : {}),
      });
    }
  };
  walk(r.body, boundary);
  return out;
}

describe('$batch', () => {
  it('runs the documented change-set request and answers with the documented framing', async () => {
    const account = '00000000-0000-0000-0000-000000000001';
    em.store.insert('accounts', [{ accountid: account, name: 'Batch parent' }]);
    const doc = fs.readFileSync(path.join(fixtures, 'batch-changeset-request.docs-excerpt.http'), 'utf8');
    const split = doc.indexOf('\n\n');
    const contentType = /Content-Type: (.*)/.exec(doc.slice(0, split))?.[1] as string;
    const r = await sendBatch(doc.slice(split + 2).replace(/\n/g, '\r\n'), {}, contentType);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^multipart\/mixed; boundary=batchresponse_[0-9a-f-]{36}$/);
    expect(r.headers['odata-version']).toBe('4.0');
    const parts = parseResponse(r);
    expect(parts.map((p) => [p.status, p.contentId ?? null, Boolean(p.changeset)])).toEqual([
      [204, '1', true],
      [204, '2', true],
      [204, '3', true],
      [200, null, false],
    ]);
    for (const p of parts.slice(0, 3)) {
      expect(p.headers['OData-EntityId']).toMatch(new RegExp(`^${em.url}/api/data/v9.2/tasks\\([0-9a-f-]{36}\\)$`));
      expect(p.headers['Location']).toBe(p.headers['OData-EntityId']);
    }
    const list = JSON.parse(parts[3]?.body as string) as { '@odata.context': string; value: { subject: string; activityid: string }[] };
    expect(list['@odata.context']).toBe(`${em.url}/api/data/v9.2/$metadata#tasks(subject)`);
    expect(list.value.map((t) => t.subject).sort()).toEqual(['Task 1 in batch', 'Task 2 in batch', 'Task 3 in batch']);
    expect(Object.keys(list.value[0] as object)).toEqual(['@odata.etag', 'subject', 'activityid']);

    // Framing lines match the documented response (boundaries replaced).
    const expected = fs.readFileSync(path.join(fixtures, 'batch-changeset-response.docs-excerpt.http'), 'utf8').split('\n').slice(3);
    const norm = (l: string) => l.replace(/(batchresponse|changesetresponse)_[0-9a-f-]{36}/g, '$1_X').replace(/\[Organization Uri\]|https:\/\/127\.0\.0\.1:\d+/g, 'ORG').replace(/\([0-9a-f-]{36}\)/g, '(ID)');
    const framing = (lines: string[]) => lines.map(norm).filter((l) => /^(--|Content-|HTTP\/|OData-|Location)/.test(l));
    expect(framing(r.body.split('\r\n'))).toEqual(framing(expected));
  });

  it('rolls back every operation of a change set when one fails, answering the failing operation alone', async () => {
    const before = em.store.count('accounts');
    const r = await sendBatch(
      batchBody([
        [
          { method: 'POST', url: '/api/data/v9.2/accounts', body: { name: 'in change set 1' }, contentId: '1' },
          { method: 'POST', url: 'accounts', body: { name: 'in change set 2' }, contentId: '2' },
          { method: 'POST', url: 'accounts', body: { name: 'bad', nosuchcolumn: 1 }, contentId: '3' },
        ],
        { method: 'GET', url: 'accounts?$select=name' },
      ]),
    );
    expect(r.status).toBe(400);
    const parts = parseResponse(r);
    expect(parts).toHaveLength(1);
    expect(parts[0]?.status).toBe(400);
    expect(parts[0]?.changeset).toBeUndefined();
    expect(parts[0]?.headers['REQ_ID']).toMatch(/^[0-9a-f-]{36}$/);
    expect(parts[0]?.headers['Content-Type']).toBe('application/json; odata.metadata=minimal');
    expect(JSON.parse(parts[0]?.body as string).error.message).toMatch(/nosuchcolumn/);
    expect(em.store.count('accounts')).toBe(before);
    expect(em.store.rows('accounts').some((a) => String(a['name']).startsWith('in change set'))).toBe(false);
  });

  it('resolves Content-ID references in URLs and @odata.bind, and rejects forward references', async () => {
    const r = await sendBatch(
      batchBody([
        [
          { method: 'POST', url: 'contacts', body: { firstname: 'Ref', lastname: 'Target' }, contentId: '1' },
          { method: 'POST', url: 'accounts', body: { name: 'Refers', 'primarycontactid@odata.bind': '$1' }, contentId: '2' },
          { method: 'PATCH', url: '$1', body: { jobtitle: 'Patched via $1' }, contentId: '3' },
        ],
      ]),
    );
    expect(r.status).toBe(200);
    const parts = parseResponse(r);
    expect(parts.map((p) => p.status)).toEqual([204, 204, 204]);
    const contactId = /\(([0-9a-f-]{36})\)/.exec(parts[0]?.headers['OData-EntityId'] as string)?.[1];
    const accountId = /\(([0-9a-f-]{36})\)/.exec(parts[1]?.headers['OData-EntityId'] as string)?.[1];
    const account = em.store.rows('accounts').find((a) => a['accountid'] === accountId);
    expect(account?.['_primarycontactid_value']).toBe(contactId);
    expect(em.store.rows('contacts').find((c) => c['contactid'] === contactId)?.['jobtitle']).toBe('Patched via $1');

    const forward = await sendBatch(
      batchBody([
        [
          { method: 'POST', url: 'accounts', body: { name: 'forward', 'primarycontactid@odata.bind': '$2' }, contentId: '1' },
          { method: 'POST', url: 'contacts', body: { firstname: 'later' }, contentId: '2' },
        ],
      ]),
    );
    expect(forward.status).toBe(400);
    expect(JSON.parse(parseResponse(forward)[0]?.body as string).error.message).toMatch(/Content-ID Reference: '\$2'/);
    expect(em.store.rows('accounts').some((a) => a['name'] === 'forward')).toBe(false);
  });

  it('continues after a failure with odata.continue-on-error, and stops at the first failure without it', async () => {
    const ops: Op[] = [
      { method: 'POST', url: 'tasks', body: { subject: 'x', nosuch: 1 } },
      { method: 'POST', url: 'tasks', body: { subject: 'second' } },
      { method: 'POST', url: 'tasks', body: { subject: 'third' } },
    ];
    const cont = await sendBatch(batchBody(ops), { Prefer: 'odata.continue-on-error' });
    expect(cont.status).toBe(200);
    const parts = parseResponse(cont);
    expect(parts.map((p) => p.status)).toEqual([400, 204, 204]);
    // Documented continue-on-error response: REQ_ID and a JSON error on the failed part.
    const doc = fs.readFileSync(path.join(fixtures, 'batch-continue-on-error-response.docs-excerpt.http'), 'utf8');
    const docHeaders = /HTTP\/1\.1 400 Bad Request\n([\s\S]*?)\n\n/.exec(doc)?.[1]?.split('\n').map((l) => l.split(':')[0]);
    expect(Object.keys(parts[0]?.headers ?? {}).sort()).toEqual([...(docHeaders ?? [])].sort());
    expect(Object.keys(JSON.parse(parts[0]?.body as string).error).sort()).toEqual(['code', 'message']);

    const tasksBefore = em.store.count('tasks');
    const stop = await sendBatch(batchBody(ops));
    expect(stop.status).toBe(400);
    expect(parseResponse(stop).map((p) => p.status)).toEqual([400]);
    expect(em.store.count('tasks')).toBe(tasksBefore);
  });

  it('rejects GET inside a change set, more than 1000 operations and a non-multipart body', async () => {
    const get = await sendBatch(batchBody([[{ method: 'GET', url: 'accounts' }]]));
    expect(get.status).toBe(400);
    expect(JSON.parse(get.body).error.message).toMatch(/GET requests are not allowed inside a change set/);
    const many = await sendBatch(batchBody(Array.from({ length: 1001 }, () => ({ method: 'GET', url: 'WhoAmI' }))));
    expect(many.status).toBe(400);
    expect(JSON.parse(many.body).error.message).toMatch(/maximum number of '1000'/);
    const thousand = await sendBatch(batchBody(Array.from({ length: 1000 }, () => ({ method: 'GET', url: 'WhoAmI' }))));
    expect(thousand.status).toBe(200);
    expect(parseResponse(thousand)).toHaveLength(1000);
    const notMultipart = await sendBatch('{}', {}, 'application/json');
    expect(notMultipart.status).toBe(400);
  });
});
