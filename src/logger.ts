/**
 * The logger dynamics-odata writes to. Library code never prints; pass a logger (for example
 * `console`, pino or a Nest `Logger`) to see what it does. Messages never contain tokens,
 * secrets or passwords.
 */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug?(message: string, meta?: Record<string, unknown>): void;
}

/** A logger that drops everything: the default. */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};
