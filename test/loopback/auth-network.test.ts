/**
 * The token endpoint's network client against a purpose-built HTTPS server on loopback: the retry
 * rules it shares with the Web API (Retry-After with jitter on 429/503 only, backoff otherwise) and
 * what it copies from an error body into an error (redacted, with the request id).
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificates, type EmulatorCertificates } from '../../src/emulator/cert';
import { AuthenticationError } from '../../src/errors';
import { createRedactor } from '../../src/net/redact';
import { HttpsNetworkClient, TransportFailure } from '../../src/auth/networkClient';
import type { Logger } from '../../src/logger';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push(`${level} ${message} ${meta ? JSON.stringify(meta) : ''}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug') };
}

const delaysOf = (logger: { lines: string[] }): number[] => logger.lines.filter((l) => l.includes('retrying')).map((l) => Number(/"delayInMs":(\d+)/.exec(l)?.[1]));

describe('HttpsNetworkClient (token endpoint transport)', () => {
  let certs: EmulatorCertificates;
  let server: https.Server;
  let url: string;
  let answers: Answer[] = [];
  let requests = 0;
  const clients: HttpsNetworkClient[] = [];

  beforeAll(async () => {
    certs = await createCertificates();
    server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req, res) => {
      requests++;
      req.resume();
      const answer = answers.shift() ?? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token":"x","token_type":"Bearer","expires_in":3600}' };
      // Status 0: never answer (a stalled token endpoint).
      if (answer.status === 0) return;
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/tenant/oauth2/v2.0/token`;
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    answers = [];
    requests = 0;
  });

  function client(extra: Partial<ConstructorParameters<typeof HttpsNetworkClient>[0]> = {}): HttpsNetworkClient {
    const c = new HttpsNetworkClient({ ca: certs.caPem, logger: captureLogger(), env: {}, ...extra });
    clients.push(c);
    return c;
  }

  it('waits Retry-After plus the shared jitter on 429 and 503', async () => {
    const logger = captureLogger();
    answers.push({ status: 429, headers: { 'retry-after': '0.2' }, body: '{}' }, { status: 503, headers: { 'retry-after': '0.1' }, body: '{}' });
    const res = await client({ logger, random: () => 0.5 }).sendPostRequestAsync(url, { body: 'grant_type=client_credentials' });
    expect(res.status).toBe(200);
    expect(requests).toBe(3);
    // retryAfterDelay (src/net/retry.ts): the wait plus up to 10% of it; half of that with random() = 0.5.
    expect(delaysOf(logger)).toEqual([210, 105]);
  });

  it('backs off on 500/502/504 whatever their Retry-After says, as the Web API does', async () => {
    const logger = captureLogger();
    answers.push({ status: 502, headers: { 'retry-after': '3600' }, body: '<html>bad gateway</html>' }, { status: 500, body: '{}' });
    const res = await client({ logger, random: () => 0, retry: { retryDelayInMs: 20 } }).sendPostRequestAsync(url, { body: 'grant_type=client_credentials' });
    expect(res.status).toBe(200);
    // backoffDelay: base * 2^attempt, scaled by 0.5 with random() = 0.
    expect(delaysOf(logger)).toEqual([10, 20]);
  });

  it('fails at once on a throttle whose Retry-After is longer than maxRetryAfterInMs', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '120' }, body: '{"error":"temporarily_unavailable"}' });
    const err = await client().sendPostRequestAsync(url, { body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportFailure);
    expect((err as TransportFailure).failure.retryAfterInMs).toBe(120_000);
    expect(requests).toBe(1);
  });

  it('an acquisition that ends leaves the scope (deadline) of one still running, and the next one gets its own', async () => {
    const c = client({ timeoutInMs: 20_000, retry: { maxRetries: 0 } });
    const scope = (inMs: number) => ({ deadline: Date.now() + inMs, signal: new AbortController().signal });
    const stalled = (): Promise<number> => {
      answers.push({ status: 0, body: '' });
      const started = Date.now();
      return c.sendPostRequestAsync(url, { body: 'x' }).then(
        () => Infinity,
        () => Date.now() - started,
      );
    };
    // B starts while A runs, and sends only after A has ended: its request must still end at B's deadline.
    const a = c.within(scope(60_000), async () => 'a');
    const b = c.within(scope(400), async () => {
      await a;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return stalled();
    });
    expect(await b).toBeLessThan(5_000);
    // With no acquisition left the scope is off; a new one turns it on again.
    expect(await c.within(scope(400), stalled)).toBeLessThan(5_000);
  });

  it("redacts the error body's text with the provider's secrets and keeps the request id", async () => {
    const secret = 'configured-client-secret-value-123';
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    const body = JSON.stringify({
      error: 'server_error',
      error_description: `AADSTS90033: upstream echoed client_secret ${secret} and ${jwt}`,
      error_codes: [90033],
      correlation_id: '6c1d9d3e-0000-4000-8000-000000000001',
    });
    answers.push({ status: 500, headers: { 'content-type': 'application/json', 'x-ms-request-id': 'req-123' }, body });
    const c = client({ retry: { maxRetries: 0 }, redact: createRedactor([secret]) });
    const err = await c.sendPostRequestAsync(url, { body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportFailure);
    const failure = (err as TransportFailure).failure as AuthenticationError;
    expect(failure).toBeInstanceOf(AuthenticationError);
    expect(failure.status).toBe(500);
    expect(failure.requestId).toBe('req-123');
    expect(failure.entraErrorCodes).toEqual([90033]);
    const description = String((failure.body as Record<string, unknown>).error_description);
    expect(description).toContain('AADSTS90033');
    expect(description).not.toContain(secret);
    expect(description).not.toContain(jwt);
    expect(c.lastFailure).toBe(failure);
  });
});
