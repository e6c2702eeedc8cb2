/*
 * Old and new ratios side by side: `node --import tsx bench/src/compare.ts <old.json> <new.json>`.
 * Rows are matched by what they measure (sample counts and list sizes differ between runs).
 */
import { readFileSync } from 'node:fs';
import type { Row } from './platform-bench.js';
import { rowRatios } from './report.js';
import { fmt, fmtRatio, type Summary } from './stats.js';

export function rowKind(name: string): string {
  const rules: Array<[RegExp, string]> = [
    [/^create\(\) -> started, \d+ sequential/, 'create() -> started, sequential'],
    [/^create\(\)\+exec\(node -v\), \d+ sequential/, 'create()+exec(node -v), sequential'],
    [/^create\(\) -> started, \d+ concurrent/, 'create() -> started, concurrent'],
    [/^create\(\)\+exec\(node -v\), \d+ concurrent/, 'create()+exec(node -v), concurrent'],
    [/^executeCommand\('echo hi'\)/, "executeCommand('echo hi')"],
    [/^(upload|download) \d+ MB/, ''],
    [/^GET \/sandbox\/\{id\}/, 'GET /sandbox/{id}'],
    [/^GET \/sandbox\/paginated/, 'GET /sandbox/paginated'],
    [/^GET \/sandbox \(/, 'GET /sandbox'],
  ];
  for (const [re, kind] of rules) {
    const m = re.exec(name);
    if (m) return kind || m[0];
  }
  return name;
}

const p50 = (v: Summary | number | undefined) => (v === undefined ? undefined : typeof v === 'object' ? v.p50 : v);

export function compareTable(oldRows: Row[], newRows: Row[]): string {
  const header = ['measurement', 'old Shoal p50', 'old floor p50', 'OLD ratio p50', 'new Shoal p50', 'new floor p50', 'NEW ratio p50', 'NEW ratio p99', 'new floor'];
  const out = [`| ${header.join(' | ')} |`, `|---|${header.slice(1, -1).map(() => '---:').join('|')}|---|`];
  const oldByKind = new Map(oldRows.map((r) => [rowKind(r.name), r]));
  const seen = new Set<string>();
  const cell = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : fmt(n));
  for (const r of newRows) {
    const kind = rowKind(r.name);
    seen.add(kind);
    const o = oldByKind.get(kind);
    out.push(
      `| ${kind} (${r.unit}) | ${o ? cell(p50(o.value)) : '-'} | ${o ? cell(p50(o.floor)) : '-'} | ${o ? fmtRatio(rowRatios(o).p50) || '-' : '-'} | ` +
        `${cell(p50(r.value))} | ${cell(p50(r.floor))} | ${fmtRatio(rowRatios(r).p50) || '-'} | ${fmtRatio(rowRatios(r).p99) || '-'} | ${r.floorName ?? ''} |`,
    );
  }
  for (const o of oldRows) {
    const kind = rowKind(o.name);
    if (!seen.has(kind)) out.push(`| ${kind} (${o.unit}) | ${cell(p50(o.value))} | ${cell(p50(o.floor))} | ${fmtRatio(rowRatios(o).p50) || '-'} | - | - | - | - | (not in the new run) |`);
  }
  return out.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [oldFile, newFile] = process.argv.slice(2);
  if (!oldFile || !newFile) throw new Error('usage: compare.ts <old.json> <new.json>');
  const read = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as { rows: Row[] }).rows;
  console.log(compareTable(read(oldFile), read(newFile)));
}
