/**
 * How the demo prints: the readable summary on stdout, progress on stderr. Colour only on a
 * terminal and never when `NO_COLOR` is set (no-color.org).
 */
import type { ProgressStream } from './progress';

/** Streams and environment of one demo run (the CLI passes the process's; tests pass their own). */
export interface DemoIO {
  stdout: ProgressStream;
  stderr: ProgressStream;
  env: Readonly<Record<string, string | undefined>>;
}

export interface StepRecord {
  title: string;
  ms: number;
  ok: boolean;
}

const STEP_MARKS = ['①', '②', '③', '④', '⑤', '⑥', '⑦', '⑧', '⑨'];

export class Printer {
  readonly steps: StepRecord[] = [];
  private readonly color: boolean;

  constructor(private readonly io: DemoIO) {
    this.color = io.stdout.isTTY === true && io.env.NO_COLOR === undefined;
  }

  private paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  bold(text: string): string {
    return this.paint('1', text);
  }

  dim(text: string): string {
    return this.paint('2', text);
  }

  green(text: string): string {
    return this.paint('32', text);
  }

  yellow(text: string): string {
    return this.paint('33', text);
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** An indented detail line under a step. */
  detail(text: string): void {
    this.line(`    ${text}`);
  }

  /** A setup line (`▸ Emulator …`), not counted as a tour step. */
  setup(label: string, text: string): void {
    this.line(`${this.bold(`▸ ${label.padEnd(12)}`)} ${text}`);
  }

  /** Runs one numbered step, printing its title first and recording its time. */
  async step<T>(title: string, body: () => Promise<T>): Promise<T> {
    const mark = STEP_MARKS[this.steps.length] ?? `${this.steps.length + 1}.`;
    this.line();
    this.line(this.bold(`${mark} ${title}`));
    const start = performance.now();
    const record: StepRecord = { title, ms: 0, ok: false };
    this.steps.push(record);
    try {
      const result = await body();
      record.ok = true;
      return result;
    } finally {
      record.ms = performance.now() - start;
    }
  }

  /** Table rows, columns padded to their widest cell. */
  table(rows: string[][]): void {
    const widths: number[] = [];
    for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
    for (const row of rows) this.detail(row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - [...cell].length))).join('   '));
  }
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function money(n: number): string {
  return n.toLocaleString('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 0 });
}
