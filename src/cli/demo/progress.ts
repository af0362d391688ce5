/**
 * A progress bar for the demo, in plain ANSI with no dependency. On a terminal it redraws one line
 * (`\r` + erase-line), at most every 50 ms; anywhere else (a pipe, a CI log) it prints a line at
 * each quarter, so logs stay short and readable.
 */

/** Where the bar is drawn: `process.stderr` or anything with `write` and an optional `isTTY`. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBar {
  /** Set the number done so far (and the total, when it becomes known). */
  update(done: number, total?: number): void;
  /** Finish the bar: a last full redraw and a newline. */
  done(): void;
}

const REDRAW_EVERY_MS = 50;

function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * @param label Shown before the bar (`accounts`).
 * @param total The expected count, or undefined when unknown (then a running count is shown).
 */
export function createProgressBar(stream: ProgressStream, label: string, total?: number): ProgressBar {
  const tty = stream.isTTY === true;
  const started = Date.now();
  let current = 0;
  let expected = total;
  let lastDraw = 0;
  let lastQuarter = -1;
  let finished = false;

  const line = (): string => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (expected === undefined || expected <= 0) return `  ${label} ${formatCount(current)} rows · ${seconds} s`;
    const fraction = Math.min(1, current / expected);
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 50));
    const filled = Math.round(fraction * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    return `  ${label} ${bar} ${String(Math.floor(fraction * 100)).padStart(3)}% ${formatCount(current)}/${formatCount(expected)} · ${seconds} s`;
  };

  const draw = (force: boolean): void => {
    if (tty) {
      const now = Date.now();
      if (!force && now - lastDraw < REDRAW_EVERY_MS) return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${line()}`);
      return;
    }
    // Not a terminal: one line per quarter (0 %, 25 %, 50 %, 75 %) and one at the end.
    if (expected !== undefined && expected > 0) {
      const quarter = Math.min(3, Math.floor((current / expected) * 4));
      if (quarter > lastQuarter && current < expected) {
        lastQuarter = quarter;
        stream.write(`${line()}\n`);
      }
    }
  };

  return {
    update(done: number, newTotal?: number): void {
      if (finished) return;
      current = done;
      if (newTotal !== undefined) expected = newTotal;
      draw(false);
    },
    done(): void {
      if (finished) return;
      finished = true;
      if (tty) stream.write(`\r\x1b[2K${line()}\n`);
      else stream.write(`${line()}\n`);
    },
  };
}
