/**
 * fromTokenCredential shares one credential call among concurrent callers (issue 11, item 8, the
 * provider side): each caller's abort and timeout end that caller's wait only, and the credential is
 * called with the acquisition's own AbortSignal, aborted at its deadline, never with a caller's.
 */
import { fromTokenCredential, type TokenCredentialLike } from '../../../src/auth';
import { DynamicsError, TimeoutError } from '../../../src/errors';

/** A credential whose calls wait until the test answers them, recording the signal each got. */
function heldCredential() {
  const calls: Array<{ signal?: AbortSignal; answer(token: string): void }> = [];
  const credential: TokenCredentialLike = {
    getToken: (_scopes, options) =>
      new Promise((resolve, reject) => {
        options?.abortSignal?.addEventListener('abort', () => reject(new Error('credential call aborted')), { once: true });
        calls.push({ signal: options?.abortSignal, answer: (token) => resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) });
      }),
  };
  return { credential, calls };
}

const settled = <T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

it("calls the credential with the acquisition's own signal, which no caller's abort reaches", async () => {
  const { credential, calls } = heldCredential();
  const tokens = fromTokenCredential(credential, { scopes: ['https://x.crm.dynamics.com/.default'] });
  const controller = new AbortController();
  const aborting = settled(tokens.getToken({ abortSignal: controller.signal }));
  const other = tokens.getToken();
  expect(calls).toHaveLength(1);
  expect(calls[0]!.signal).toBeInstanceOf(AbortSignal);
  expect(calls[0]!.signal).not.toBe(controller.signal);
  controller.abort();
  expect(((await aborting).error as DynamicsError).code).toBe('aborted');
  expect(calls[0]!.signal!.aborted).toBe(false);
  calls[0]!.answer('shared-token');
  expect((await other).token).toBe('shared-token');
  expect(calls).toHaveLength(1);
});

it("a caller's timeoutInMs ends its wait; a later caller's abort is honoured while the call runs", async () => {
  const { credential, calls } = heldCredential();
  const tokens = fromTokenCredential(credential, { scopes: ['s/.default'] });
  const first = tokens.getToken();
  const impatient = await settled(tokens.getToken({ timeoutInMs: 50 }));
  expect(impatient.error).toBeInstanceOf(TimeoutError);
  expect((impatient.error as TimeoutError).code).toBe('timeout');
  const controller = new AbortController();
  const later = settled(tokens.getToken({ abortSignal: controller.signal }));
  controller.abort();
  expect(((await later).error as DynamicsError).code).toBe('aborted');
  calls[0]!.answer('t1');
  expect((await first).token).toBe('t1');
  expect(calls).toHaveLength(1);
});

it('acquisitionTimeoutInMs fails every waiting caller with a TimeoutError and aborts the credential call; the next call starts afresh', async () => {
  const { credential, calls } = heldCredential();
  const tokens = fromTokenCredential(credential, { scopes: ['s/.default'], acquisitionTimeoutInMs: 100 });
  const outcomes = await Promise.all([settled(tokens.getToken()), settled(tokens.getToken())]);
  for (const o of outcomes) {
    expect(o.error).toBeInstanceOf(TimeoutError);
    expect((o.error as Error).message).toMatch(/did not complete within acquisitionTimeoutInMs \(100 ms\)/);
  }
  expect(calls[0]!.signal!.aborted).toBe(true);
  const next = tokens.getToken();
  expect(calls).toHaveLength(2);
  calls[1]!.answer('t2');
  expect((await next).token).toBe('t2');
});
