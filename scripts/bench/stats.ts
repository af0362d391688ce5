/** Small statistics helpers for the benchmark: medians over repeated runs, ratios, formatting. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The median of the per-round ratios `a[i] / b[i]`, with their range: two contenders measured in the
 * same interleaved round ran at nearly the same moment, so their ratio cancels the machine's drift
 * between rounds, which comparing each contender's own median does not (its median round and the
 * other's may be rounds apart). NaN when there is no complete pair.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): { median: number; low: number; high: number; rounds: number } {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (b[i] > 0 && Number.isFinite(a[i]) && Number.isFinite(b[i])) ratios.push(a[i] / b[i]);
  return { median: median(ratios), low: min(ratios), high: max(ratios), rounds: ratios.length };
}

export function min(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

export function max(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

/** `a / b` rounded to two decimals, `n/a` when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(2)}×`;
}

export function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value >= 100 ? `${Math.round(value).toLocaleString('en-US')} ms` : `${value.toFixed(1)} ms`;
}

export function int(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return Math.round(value).toLocaleString('en-US');
}

export function mb(kilobytes: number | undefined): string {
  if (kilobytes === undefined || !Number.isFinite(kilobytes)) return 'n/a';
  return `${Math.round(kilobytes / 1024).toLocaleString('en-US')} MB`;
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}
