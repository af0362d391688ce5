import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, type ConfigurationIssue } from '../../errors';
import { silentLogger, type Logger } from '../../logger';
import { checkDuration } from '../durations';
import { sanitizeCache } from './sanitize';
import type { TokenCacheAccessContext, TokenCachePlugin } from './types';

/** Options of {@link fileTokenCache}. */
export interface FileTokenCacheOptions {
  /** Where warnings (a corrupt or unusable cache file, a stale lock) go. Default: silent. */
  logger?: Logger;
  /** A lock older than this is considered abandoned by a crashed process and removed (0 to 2147483647 ms). Default: 10000. */
  staleLockInMs?: number;
  /**
   * Stop waiting for the lock after this long (1 to 2147483647 ms); the access then goes on without
   * the lock and without writing the file (the tokens stay in memory), with a warning. Default: 15000.
   */
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
 * - A corrupt file is treated as empty, and entries MSAL could not read (wrong types, `null`) are
 *   dropped, with a warning; the file is rewritten with the next token.
 * - A cache that cannot be used never fails authentication: a file that cannot be read or written
 *   (permissions, a read-only disk, a directory in its place) or a lock that cannot be created or
 *   obtained logs one warning (not one per call) and the provider carries on with its tokens in
 *   memory, trying the file again on each access.
 *
 * The file holds refresh tokens: keep it out of version control and backups like a password. The
 * plugin keeps what it read in private fields, so logging or inspecting it shows no token.
 *
 * @example
 * ```ts
 * new MsalTokenProvider({ ...options, cache: fileTokenCache('/var/lib/myapp/msal-cache.json') });
 * ```
 * @throws TypeError for an empty path; ConfigurationError naming a duration that is not a whole
 *   number of milliseconds up to 2147483647.
 */
export function fileTokenCache(filePath: string, options: FileTokenCacheOptions = {}): TokenCachePlugin {
  if (typeof filePath !== 'string' || !filePath) throw new TypeError('fileTokenCache: path must be a non-empty string');
  const issues: ConfigurationIssue[] = [];
  checkDuration(options?.staleLockInMs, 'staleLockInMs', 0, issues);
  checkDuration(options?.lockTimeoutInMs, 'lockTimeoutInMs', 1, issues);
  if (issues.length) throw new ConfigurationError(issues, 'Invalid fileTokenCache options');
  return new FileTokenCache(path.resolve(filePath), options ?? {});
}

class FileTokenCache implements TokenCachePlugin {
  // Private fields: the cache content is every token of every account, and the plugin is an object
  // the application holds (and may log).
  readonly #filePath: string;
  readonly #lockPath: string;
  readonly #logger: Logger;
  readonly #staleLockInMs: number;
  readonly #lockTimeoutInMs: number;
  /** The cache as last read or written (or, when the file cannot be written, as MSAL last left it). */
  #content = EMPTY;
  #signature?: string;
  /** What we wrote into the lock file while we hold it, so we never delete someone else's lock. */
  #lockToken?: string;
  #queue: Promise<void> = Promise.resolve();
  #release?: () => void;
  /** This access goes on without the file lock: its result stays in memory. */
  #unlocked = false;
  /** Problems already logged, so that a cache that stays unusable warns once, not on every call. */
  readonly #warned = new Set<string>();

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
    } catch (err) {
      this.#warnOnce(`read:${errorCode(err)}`, 'The token cache file cannot be read; carrying on with the tokens in memory', err);
    }
    try {
      // Deserialize every time, even when unchanged: msal-node's silent flow clears its memory
      // and rebuilds it from the last deserialized snapshot (TokenCache.overwriteCache).
      context.tokenCache.deserialize(this.#content);
    } catch (err) {
      // What sanitizeCache let through and MSAL still refused: start from an empty cache.
      this.#warnOnce('deserialize', 'The token cache file could not be loaded; treating it as empty (it will be overwritten on the next token)', err);
      this.#content = EMPTY;
      context.tokenCache.deserialize(EMPTY);
    }
  }

  async afterCacheAccess(context: TokenCacheAccessContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    try {
      const content = context.tokenCache.serialize();
      // Kept in memory whatever happens to the file: the next access starts from it.
      this.#content = content;
      if (this.#unlocked) return;
      try {
        await this.#write(content);
        this.#warned.clear();
      } catch (err) {
        this.#warnOnce(`write:${errorCode(err)}`, 'The token cache file cannot be written; carrying on with the tokens in memory', err);
      }
    } finally {
      await this.#unlock();
    }
  }

  #warnOnce(key: string, message: string, err?: unknown): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message, { path: this.#filePath, ...(err === undefined ? {} : { error: errorCode(err) }) });
  }

  async #load(): Promise<void> {
    let stat: Stats;
    try {
      stat = await fs.stat(this.#filePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Gone (or never written): a cache we could not write keeps what is in memory.
        if (this.#signature !== undefined) this.#content = EMPTY;
        this.#signature = undefined;
        return;
      }
      throw err;
    }
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: stat.isDirectory() ? 'EISDIR' : 'ENOTFILE' });
    const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (signature === this.#signature) return;
    const text = await fs.readFile(this.#filePath, 'utf8');
    this.#signature = signature;
    const sanitized = sanitizeCache(text);
    if (sanitized.unreadable !== undefined) {
      this.#warnOnce(`corrupt:${signature}`, `Token cache file is corrupt (${sanitized.unreadable}); treating it as empty (it will be overwritten on the next token)`);
    } else if (sanitized.dropped > 0) {
      this.#warnOnce(`corrupt:${signature}`, `Token cache file has ${sanitized.dropped} entr${sanitized.dropped === 1 ? 'y' : 'ies'} MSAL cannot read; ignoring them (the file will be rewritten on the next token)`);
    }
    this.#content = sanitized.json;
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
      await fs.rm(temp, { force: true }).catch(() => undefined);
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
    this.#release = release;
    this.#unlocked = false;
    try {
      this.#lockToken = await this.#acquireFileLock();
    } catch (err) {
      // No lock, no write (another process may be writing): this access stays in memory.
      this.#unlocked = true;
      this.#warnOnce(`lock:${errorCode(err)}`, 'The token cache lock cannot be taken; carrying on with the tokens in memory', err);
    }
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
        throw Object.assign(new Error(`Timed out after ${this.#lockTimeoutInMs} ms waiting for the token cache lock ${this.#lockPath}`), { code: 'ELOCKTIMEOUT' });
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 200);
    }
  }

  async #removeIfStale(): Promise<void> {
    try {
      const stat = await fs.stat(this.#lockPath);
      if (Date.now() - stat.mtimeMs > this.#staleLockInMs) {
        // Once per lock: one that cannot be removed (a directory, a read-only folder) is retried until lockTimeoutInMs.
        if (!this.#warned.has(`stale:${stat.ino}:${stat.mtimeMs}`)) {
          this.#warned.add(`stale:${stat.ino}:${stat.mtimeMs}`);
          this.#logger.warn('Removing an abandoned token cache lock', { path: this.#lockPath, ageInMs: Math.round(Date.now() - stat.mtimeMs) });
        }
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
    this.#unlocked = false;
    try {
      if (token !== undefined) {
        const current = await fs.readFile(this.#lockPath, 'utf8').catch(() => undefined);
        if (current === token) await fs.rm(this.#lockPath, { force: true }).catch(() => undefined);
      }
    } finally {
      release();
    }
  }
}

/** The errno code of a file-system failure (`EACCES`, `EROFS`, `EISDIR`, …): what a warning may say about it. */
function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}
