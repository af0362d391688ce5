import { DynamicsError, ErrorCode } from '../../../src/errors';
import { SingleFlight, raceAbort } from '../../../src/auth/singleFlight';

/** A promise settled from outside, to hold an acquisition in flight while the test acts. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An acquisition that records each start and waits until the test settles it. */
function recorder<T>() {
  const starts: Array<{ forced: boolean; settle: ReturnType<typeof deferred<T>> }> = [];
  const start = (forced: boolean): Promise<T> => {
    const settle = deferred<T>();
    starts.push({ forced, settle });
    return settle.promise;
  };
  return { starts, start };
}

const settled = <T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

describe('SingleFlight', () => {
  it('gives concurrent callers one acquisition and the same result', async () => {
    const flights = new SingleFlight<string>();
    const { starts, start } = recorder<string>();
    const callers = Array.from({ length: 50 }, () => flights.run(start));
    expect(starts).toHaveLength(1);
    expect(starts[0].forced).toBe(false);
    starts[0].settle.resolve('token-1');
    expect(await Promise.all(callers)).toEqual(Array(50).fill('token-1'));
    // Settled: the next call starts a new acquisition.
    const next = flights.run(start);
    expect(starts).toHaveLength(2);
    starts[1].settle.resolve('token-2');
    expect(await next).toBe('token-2');
  });

  it('starts a forced refresh beside a normal acquisition, and later normal callers join the forced one', async () => {
    const flights = new SingleFlight<string>();
    const { starts, start } = recorder<string>();
    const normal = flights.run(start);
    const forced = flights.run(start, { forceRefresh: true });
    const forcedToo = flights.run(start, { forceRefresh: true });
    const late = flights.run(start);
    expect(starts.map((s) => s.forced)).toEqual([false, true]);
    starts[1].settle.resolve('fresh');
    starts[0].settle.resolve('stale');
    expect(await normal).toBe('stale');
    expect(await forced).toBe('fresh');
    expect(await forcedToo).toBe('fresh');
    expect(await late).toBe('fresh');
  });

  it("rejects only the aborting caller's wait; the shared acquisition carries on", async () => {
    const flights = new SingleFlight<string>();
    const { starts, start } = recorder<string>();
    const controller = new AbortController();
    const patient = flights.run(start);
    const impatient = settled(flights.run(start, { abortSignal: controller.signal }));
    controller.abort();
    // Bounded, so that a wait the abort failed to end shows up as such rather than as a test timeout.
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([impatient, new Promise<{ error: unknown }>((r) => (timer = setTimeout(() => r({ error: 'still waiting' }), 1000)))]);
    clearTimeout(timer);
    expect(outcome.error).toBeInstanceOf(DynamicsError);
    expect((outcome.error as DynamicsError).code).toBe(ErrorCode.aborted);
    // Still one acquisition, still in flight, and the other caller gets its result.
    expect(starts).toHaveLength(1);
    starts[0].settle.resolve('token');
    expect(await patient).toBe('token');
  });

  it('rejects at once, starting nothing, when the signal is already aborted', async () => {
    const flights = new SingleFlight<string>();
    const { starts, start } = recorder<string>();
    const outcome = await settled(flights.run(start, { abortSignal: AbortSignal.abort() }));
    expect((outcome.error as DynamicsError).code).toBe(ErrorCode.aborted);
    expect(starts).toHaveLength(0);
  });

  it('shares a failure with every waiting caller, then starts afresh', async () => {
    const flights = new SingleFlight<string>();
    const { starts, start } = recorder<string>();
    const callers = [flights.run(start), flights.run(start), flights.run(start)].map(settled);
    const failure = new Error('token endpoint down');
    starts[0].settle.reject(failure);
    for (const outcome of await Promise.all(callers)) expect(outcome.error).toBe(failure);
    const retry = flights.run(start);
    expect(starts).toHaveLength(2);
    starts[1].settle.resolve('recovered');
    expect(await retry).toBe('recovered');
  });

  it('treats a synchronous throw of start like a rejection', async () => {
    const flights = new SingleFlight<string>();
    let calls = 0;
    const failure = new TypeError('bad');
    const start = (): Promise<string> => {
      calls++;
      if (calls === 1) throw failure;
      return Promise.resolve('ok');
    };
    expect((await settled(flights.run(start))).error).toBe(failure);
    expect(await flights.run(start)).toBe('ok');
  });
});

describe('raceAbort', () => {
  it('removes its abort listener once the promise settles', async () => {
    const controller = new AbortController();
    const added = jest.spyOn(controller.signal, 'addEventListener');
    const removed = jest.spyOn(controller.signal, 'removeEventListener');
    expect(await raceAbort(Promise.resolve(1), controller.signal)).toBe(1);
    expect(added).toHaveBeenCalledTimes(1);
    expect(removed).toHaveBeenCalledWith('abort', added.mock.calls[0][1]);
  });
});
