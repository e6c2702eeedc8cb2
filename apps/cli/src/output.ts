/** Prints rows as an aligned table for people, or JSON for scripts (`--json`). */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const cell = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(columns.map((c) => c.toUpperCase())));
  for (const r of rows) console.log(line(columns.map((c) => cell(r[c]))));
}

export function printObject(obj: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(obj, null, 2));
    return;
  }
  const width = Math.max(...Object.keys(obj).map((k) => k.length));
  for (const [k, v] of Object.entries(obj)) {
    console.log(`${k.padEnd(width)}  ${v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
}
