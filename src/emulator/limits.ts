/**
 * The emulator's limits on what it reads and waits for, in one place: request sizes (as Dataverse and
 * Entra bound them, so that a client which works against the emulator does not fail in production
 * for a size the emulator let through) and the largest duration a timer can hold.
 */

/**
 * Largest Web API request body: 128 MiB. Dataverse documents no general request limit; 128 MB is the
 * largest single-request upload it documents (file columns, "Allowed only if the file is <128 MB",
 * dp/file-column-data.md) and the largest attachment size a note can be configured for. Larger bodies
 * get 413 without being read.
 */
export const MAX_REQUEST_BYTES = 128 * 1024 * 1024;

/** Largest form an Entra ID endpoint reads (token, device code): 1 MiB, far above any real token request. */
export const MAX_FORM_BYTES = 1024 * 1024;

/**
 * Longest Web API URL: 32,768 characters; inside a `$batch`, 65,536
 * (dp/webapi/compose-http-requests-handle-errors.md, "Maximum URL length").
 */
export const MAX_URL_CHARS = 32 * 1024;
export const MAX_BATCH_URL_CHARS = 64 * 1024;

/**
 * Longest duration a Node.js timer holds: 2^31 − 1 ms (about 24.8 days). A longer `setTimeout` fires
 * after 1 ms instead, so every duration the emulator accepts is held below it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** {@link MAX_TIMER_MS} in whole seconds: 2,147,483 (durations given in seconds, which clients turn into timers). */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
