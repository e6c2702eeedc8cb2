/** Summary statistics for latency samples (milliseconds) — nearest-rank percentiles. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

export function fmt(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/**
 * Runs `n` rounds of `first` then `second`, strictly one after the other: a sample (its teardown included, which the
 * callers keep outside their own timed region) has finished before the next one begins, so the two series share the
 * host's load over the whole run instead of one of them inheriting the other's tail of background work.
 */
export async function interleave<A, B>(n: number, first: (i: number) => Promise<A>, second: (i: number) => Promise<B>): Promise<{ first: A[]; second: B[] }> {
  const a: A[] = [];
  const b: B[] = [];
  for (let i = 0; i < n; i++) {
    a.push(await first(i));
    b.push(await second(i));
  }
  return { first: a, second: b };
}

/** value / floor for one percentile; NaN when either side is missing. */
export function ratio(value: number | undefined, floor: number | undefined): number {
  if (value === undefined || floor === undefined || !Number.isFinite(value) || !Number.isFinite(floor) || floor === 0) return NaN;
  return value / floor;
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : '';
}
