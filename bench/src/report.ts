/*
 * The benchmark's table: medians and p99 beside the floor's, and their ratios. A ratio is Shoal / floor for every
 * unit: for latencies (ms) above 1 means slower than the floor, for throughputs (MB/s) below 1 means slower.
 */
import type { Row } from './platform-bench.js';
import { fmt, fmtRatio, ratio, type Summary } from './stats.js';

function isSummary(v: Summary | number | undefined): v is Summary {
  return typeof v === 'object';
}

const p50 = (v: Summary | number | undefined) => (v === undefined ? undefined : isSummary(v) ? v.p50 : v);
const p99 = (v: Summary | number | undefined) => (isSummary(v) ? v.p99 : undefined);

export function rowRatios(r: Row): { p50: number; p99: number } {
  return { p50: ratio(p50(r.value), p50(r.floor)), p99: ratio(p99(r.value), p99(r.floor)) };
}

/** A Markdown table (readable as plain text too). */
export function renderTable(rows: Row[]): string {
  const header = ['benchmark', 'unit', 'n', 'p50', 'p99', 'floor p50', 'floor p99', 'ratio p50', 'ratio p99', 'floor', 'note'];
  const lines = rows.map((r) => {
    const q = rowRatios(r);
    const opt = (n: number | undefined) => (n === undefined ? '' : fmt(n));
    return [
      r.name,
      r.unit,
      isSummary(r.value) ? String(r.value.n) : '',
      opt(p50(r.value)),
      opt(p99(r.value)),
      opt(p50(r.floor)),
      opt(p99(r.floor)),
      fmtRatio(q.p50),
      fmtRatio(q.p99),
      r.floorName ?? '',
      r.note ?? '',
    ];
  });
  const out = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i >= 2 && i <= 8 ? '---:' : '---')).join('|')}|`];
  for (const l of lines) out.push(`| ${l.join(' | ')} |`);
  return out.join('\n');
}
