/**
 * Worker processes (scripts/bench/fleet-worker.ts, run with tsx) creating rows in one emulator as one
 * application user, for the fleet limiter's tests. A worker loads the library once and runs one task
 * after another.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { FleetWorkerCommand, FleetWorkerMessage, FleetWorkerProgress, FleetWorkerResult, FleetWorkerTask } from '../../scripts/bench/fleet-worker';

const repo = path.resolve(__dirname, '../..');
const WORKER = path.join(repo, 'scripts', 'bench', 'fleet-worker.ts');

export interface FleetWorker {
  readonly child: ChildProcess;
  /** Resolves once the library is loaded. */
  readonly loaded: Promise<void>;
  /** The latest progress report of the current task (zeros before the first). */
  readonly progress: FleetWorkerProgress;
  /** Hands over a task; resolves when the worker is warm (token, Redis) and waits for `go()`. */
  prepare(task: FleetWorkerTask): Promise<void>;
  go(): void;
  /** The current task's result; rejects if the worker fails or dies first. */
  result(): Promise<FleetWorkerResult>;
  stop(): void;
  kill(): void;
  exit(): void;
}

/** Forks one worker (`--dist` runs the compiled library). */
export function startFleetWorker(options: { dist?: boolean } = {}): FleetWorker {
  const child = fork(WORKER, options.dist ? ['--dist'] : [], { cwd: repo, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let progress: FleetWorkerProgress = { type: 'progress', created: 0, held: 0, waiting: 0, redis: 'none' };
  type Pending = { resolve(m: FleetWorkerMessage): void; reject(e: Error): void };
  const waiters = new Map<string, Pending>();
  let dead: Error | undefined;
  const awaitMessage = (type: string) =>
    new Promise<FleetWorkerMessage>((resolve, reject) => {
      if (dead) return reject(dead);
      waiters.set(type, { resolve, reject });
    });
  const failAll = (error: Error) => {
    dead ??= error;
    for (const w of waiters.values()) w.reject(error);
    waiters.clear();
  };
  child.on('message', (m: FleetWorkerMessage) => {
    if (m.type === 'progress') progress = m;
    else if (m.type === 'error') failAll(new Error(`fleet worker failed:\n${m.message}`));
    else {
      const w = waiters.get(m.type);
      waiters.delete(m.type);
      w?.resolve(m);
    }
  });
  child.on('exit', (code, signal) => failAll(new Error(`fleet worker exited (${code ?? signal})`)));
  const loaded = awaitMessage('loaded').then(() => undefined);
  loaded.catch(() => undefined);
  let current: Promise<FleetWorkerResult> | undefined;
  const send = (command: FleetWorkerCommand) => {
    if (child.connected) child.send(command);
  };
  return {
    child,
    loaded,
    get progress() {
      return progress;
    },
    async prepare(task) {
      await loaded;
      progress = { type: 'progress', created: 0, held: 0, waiting: 0, redis: 'none' };
      const ready = awaitMessage('ready');
      current = awaitMessage('result') as Promise<FleetWorkerResult>;
      current.catch(() => undefined);
      send({ type: 'task', task });
      await ready;
    },
    go: () => send({ type: 'go' }),
    result: () => current ?? Promise.reject(new Error('no task was prepared')),
    stop: () => send({ type: 'stop' }),
    kill: () => void child.kill('SIGKILL'),
    exit: () => send({ type: 'exit' }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
