/**
 * net's one origin comparison (item 9 of issue 11): the transport, the nextLink check, the
 * continuation-token check and request()'s absolute URLs all use it, so a URL passes all of them or
 * none. Scheme and host compare without regard to case, a default port equals none, userinfo (even
 * empty) is refused.
 */
import { originOf, sameOrigin } from '../../../src/net/origin';
import { checkNextLink } from '../../../src/odata/collection';
import { checkContinuation } from '../../../src/client/paging';
import { retryPolicy } from '../../../src/http/policies/retryPolicy';
import { ThrottleGate } from '../../../src/http/policies/throttlePolicy';
import { TransportError, type HttpRequest } from '../../../src/http/types';
import { silentLogger } from '../../../src/logger';
import { parseRetryAfter } from '../../../src/net/retryAfter';

const ORIGIN = 'https://org.crm.dynamics.com';
const ROOT = `${ORIGIN}/api/data/v9.2/`;

const SAME = [
  `${ORIGIN}/api/data/v9.2/accounts`,
  'HTTPS://ORG.CRM.DYNAMICS.COM/api/data/v9.2/accounts',
  'https://Org.Crm.Dynamics.Com:443/api/data/v9.2/accounts',
];
const OTHER = [
  'http://org.crm.dynamics.com/api/data/v9.2/accounts',
  'https://org.crm.dynamics.com:444/api/data/v9.2/accounts',
  'https://org.crm.dynamics.com.evil.example/api/data/v9.2/accounts',
  'https://user:pass@org.crm.dynamics.com/api/data/v9.2/accounts',
  'https://user@org.crm.dynamics.com/api/data/v9.2/accounts',
  'https://@org.crm.dynamics.com/api/data/v9.2/accounts',
  'https://org.crm.dynamics.com@evil.example/api/data/v9.2/accounts',
  'ftp://org.crm.dynamics.com/api/data/v9.2/accounts',
  'accounts',
];

it.each(SAME)('%s is on the origin for every check', (url) => {
  expect(originOf(url)).toBe(ORIGIN);
  expect(sameOrigin(url, ORIGIN)).toBe(true);
  expect(checkNextLink(url, ROOT)).toBe(url);
  expect(checkContinuation(url, ROOT, 'token')).toBe(url);
});

it.each(OTHER)('%s is refused by every check', (url) => {
  expect(sameOrigin(url, ORIGIN)).toBe(false);
  expect(() => checkNextLink(url, ROOT)).toThrow(expect.objectContaining({ code: 'malformed_response' }));
  expect(() => checkContinuation(url, ROOT, 'token')).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
});

it("no error quotes a URL's password", () => {
  for (const check of [() => checkNextLink('https://u:hunter22@org.crm.dynamics.com/api/data/v9.2/x', ROOT), () => checkContinuation('https://u:hunter22@org.crm.dynamics.com/api/data/v9.2/x', ROOT, 't')]) {
    expect(check).toThrow();
    try {
      check();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter22');
    }
  }
});

it("the transport's refusal (a TransportError `invalid`) fails at once: never retried", async () => {
  let sent = 0;
  const request: HttpRequest = { method: 'GET', url: `${ROOT}accounts`, headers: {}, deadline: Date.now() + 60_000, retrySafe: true };
  const policy = retryPolicy(new ThrottleGate(), { maxRetries: 10, maxRetryAfterInMs: 60_000, logger: silentLogger, parseRetryAfter });
  const error = await policy
    .sendRequest(request, async () => {
      sent++;
      throw new TransportError('invalid', 'refusing to send a request to another origin');
    })
    .catch((e: unknown) => e);
  expect(error).toMatchObject({ kind: 'invalid' });
  expect(sent).toBe(1);
});
