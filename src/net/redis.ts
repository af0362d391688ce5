/**
 * Opening a Redis connection from a URL, for what the library builds from `DYNAMICS_REDIS_URL` (the
 * token cache, the fleet limiter). `ioredis` is an optional peer dependency: it is loaded here, when
 * a connection is asked for, and never otherwise.
 */
import { ConfigurationError } from '../errors';

/** The parts of an ioredis connection the library uses (the token cache's and the limiter's commands, and closing). */
export interface RedisConnection {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

type RedisConstructor = new (url: string, options?: Record<string, unknown>) => RedisConnection;

/**
 * A new ioredis connection to `url`.
 *
 * @param variable - the setting the URL came from, named in the error when ioredis is missing.
 * @param options - ioredis options (`maxRetriesPerRequest`, …).
 * @throws ConfigurationError when the optional peer dependency `ioredis` is not installed.
 */
export function connectRedis(url: string, variable: string, options: Record<string, unknown> = {}): RedisConnection {
  let Redis: RedisConstructor;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('ioredis') as { default?: RedisConstructor; Redis?: RedisConstructor } & RedisConstructor;
    Redis = mod.Redis ?? mod.default ?? mod;
  } catch {
    throw new ConfigurationError([{ name: variable, expected: "the optional peer dependency 'ioredis' to be installed (npm install ioredis)" }]);
  }
  return new Redis(url, options);
}
