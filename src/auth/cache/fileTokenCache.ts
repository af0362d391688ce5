import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { silentLogger, type Logger } from '../../logger';
import type { TokenCacheAccessContext, TokenCachePlugin } from './types';

/** Options of {@link fileTokenCache}. */
export interface FileTokenCacheOptions {
  /** Where warnings (a corrupt cache file, a stale lock) go. Default: silent. */
  logger?: Logger;
  /** A lock older than this is considered abandoned by a crashed process and removed. Default: 10000. */
  staleLockInMs?: number;
  /** Give up waiting for the lock after this long. Default: 15000. */
  lockTimeoutInMs?: number;
}

/** The cache as an empty JSON object: deserializing it empties MSAL's in-memory cache. */
const EMPTY = '{}';

/**
 * An MSAL cache plugin that keeps the token cache in one JSON file shared by any number of
 * processes on the machine.
 *
 * - Writes are atomic (a temporary file renamed over the cache) with mode 0600.
 * - A lock file (`<path>.lock`, created with `O_EXCL`) is held from MSAL's "before" to its
 *   "after" whenever MSAL intends to write, so a read-modify-write by one process never loses
 *   another's update; an abandoned lock is removed after `staleLockInMs`.
 * - The file is re-read only when it changed (size, mtime, inode).
 * - A corrupt file is treated as empty, with a warning.
 *
 * The file holds refresh tokens: keep it out of version control and backups like a password. The
 * plugin keeps what it read in private fields, so logging or inspecting it shows no token.
 *
 * @example
 * ```ts
 * new MsalTokenProvider({ ...options, cache: fileTokenCache('/var/lib/myapp/msal-cache.json') });
 * ```
 */
export function fileTokenCache(filePath: string, options: FileTokenCacheOptions = {}): TokenCachePlugin {
  if (typeof filePath !== 'string' || !filePath) throw new TypeError('fileTokenCache: path must be a non-empty string');
  return new FileTokenCache(path.resolve(filePath), options);
}

class FileTokenCache implements TokenCachePlugin {
  // Private fields: the cache content is every token of every account, and the plugin is an object
  // the application holds (and may log).
  readonly #filePath: string;
  readonly #lockPath: string;
  readonly #logger: Logger;
  readonly #staleLockInMs: number;
  readonly #lockTimeoutInMs: number;
  #content = EMPTY;
  #signature?: string;
  /** What we wrote into the lock file while we hold it, so we never delete someone else's lock. */
  #lockToken?: string;
  #queue: Promise<void> = Promise.resolve();
  #release?: () => void;

  constructor(filePath: string, options: FileTokenCacheOptions) {
    this.#filePath = filePath;
    this.#lockPath = `${filePath}.lock`;
    this.#logger = options.logger ?? silentLogger;
    this.#staleLockInMs = options.staleLockInMs ?? 10_000;
    this.#lockTimeoutInMs = options.lockTimeoutInMs ?? 15_000;
  }

  async beforeCacheAccess(context: TokenCacheAccessContext): Promise<void> {
    if (context.cacheHasChanged) await this.#lock();
    try {
      await this.#load();
      // Deserialize every time, even when unchanged: msal-node's silent flow clears its memory
      // and rebuilds it from the last deserialized snapshot (TokenCache.overwriteCache).
      context.tokenCache.deserialize(this.#content);
    } catch (err) {
      if (context.cacheHasChanged) await this.#unlock();
      throw err;
    }
  }

  async afterCacheAccess(context: TokenCacheAccessContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    try {
      const content = context.tokenCache.serialize();
      await this.#write(content);
    } finally {
      await this.#unlock();
    }
  }

  async #load(): Promise<void> {
    let stat: Stats;
    try {
      stat = await fs.stat(this.#filePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#content = EMPTY;
        this.#signature = undefined;
        return;
      }
      throw err;
    }
    const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (signature === this.#signature) return;
    const text = await fs.readFile(this.#filePath, 'utf8');
    this.#signature = signature;
    if (!text.trim()) {
      this.#content = EMPTY;
      return;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      this.#content = text;
    } catch {
      this.#logger.warn('Token cache file is corrupt; treating it as empty (it will be overwritten on the next token)', { path: this.#filePath });
      this.#content = EMPTY;
    }
  }

  async #write(content: string): Promise<void> {
    await fs.mkdir(path.dirname(this.#filePath), { recursive: true, mode: 0o700 });
    const temp = `${this.#filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await fs.open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(content, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.#filePath);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    const stat = await fs.stat(this.#filePath);
    this.#signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    this.#content = content;
  }

  async #lock(): Promise<void> {
    // Accesses of this instance queue in memory first, then take the file lock across processes.
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      this.#lockToken = await this.#acquireFileLock();
    } catch (err) {
      release();
      throw err;
    }
    this.#release = release;
  }

  async #acquireFileLock(): Promise<string> {
    const token = `${process.pid}:${randomBytes(8).toString('hex')}`;
    const deadline = Date.now() + this.#lockTimeoutInMs;
    let delay = 10;
    await fs.mkdir(path.dirname(this.#lockPath), { recursive: true, mode: 0o700 });
    for (;;) {
      try {
        const handle = await fs.open(this.#lockPath, 'wx', 0o600);
        try {
          await handle.writeFile(token, 'utf8');
        } finally {
          await handle.close();
        }
        return token;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      await this.#removeIfStale();
      if (Date.now() > deadline) {
        throw new Error(`Timed out after ${this.#lockTimeoutInMs} ms waiting for the token cache lock ${this.#lockPath}`);
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 200);
    }
  }

  async #removeIfStale(): Promise<void> {
    try {
      const stat = await fs.stat(this.#lockPath);
      if (Date.now() - stat.mtimeMs > this.#staleLockInMs) {
        this.#logger.warn('Removing an abandoned token cache lock', { path: this.#lockPath, ageInMs: Math.round(Date.now() - stat.mtimeMs) });
        await fs.rm(this.#lockPath, { force: true });
      }
    } catch {
      // Gone already: the next attempt will take it.
    }
  }

  async #unlock(): Promise<void> {
    const release = this.#release;
    const token = this.#lockToken;
    if (!release) return;
    this.#release = undefined;
    this.#lockToken = undefined;
    try {
      const current = await fs.readFile(this.#lockPath, 'utf8').catch(() => undefined);
      if (current === token) await fs.rm(this.#lockPath, { force: true });
    } finally {
      release();
    }
  }
}
