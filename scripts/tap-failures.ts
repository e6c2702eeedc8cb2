/**
 * What a failed test said, taken from node's TAP output, for the end of a run: CI keeps only the tail of the output,
 * and a file that ran beside another printed its failure minutes earlier. Suites that failed only because a test in
 * them did are left out; their failing tests are listed themselves.
 */
export interface TapFailure {
  name: string;
  location?: string;
  /** The error message, up to MAX_ERROR_LINES lines. */
  error: string[];
  /** The first frame of the stack outside node's internals: where in the test it failed. */
  at?: string;
}

const MAX_ERROR_LINES = 12;

export function tapFailures(tap: string): TapFailure[] {
  const lines = tap.split('\n');
  const out: TapFailure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]!);
    if (!head) continue;
    const indent = head[1]!.length + 2;
    const block: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      for (i += 2; i < lines.length && lines[i]!.trim() !== '...'; i++) block.push(lines[i]!.slice(indent));
    }
    const field = (k: string) => block.find((l) => l.startsWith(`${k}: `))?.slice(k.length + 2);
    if (field('failureType') === "'subtestsFailed'") continue;
    const f: TapFailure = { name: head[2]!, error: multiline(block, 'error') };
    const location = field('location');
    if (location) f.location = location.replace(/^'|'$/g, '');
    const at = multiline(block, 'stack', Infinity).find((l) => !l.includes('node:') && !l.includes('node_modules'));
    if (at) f.at = at;
    out.push(f);
  }
  return out;
}

/** A YAML field that is either `k: value` or `k: |-` followed by lines indented by two more. */
function multiline(block: string[], key: string, max = MAX_ERROR_LINES): string[] {
  const start = block.findIndex((l) => l.startsWith(`${key}: `));
  if (start < 0) return [];
  const first = block[start]!.slice(key.length + 2);
  if (first !== '|-' && first !== '|') return [first.replace(/^'|'$/g, '')];
  const body: string[] = [];
  for (let j = start + 1; j < block.length && (block[j]!.startsWith('  ') || block[j] === ''); j++) body.push(block[j]!.slice(2));
  while (body.length && body[body.length - 1]!.trim() === '') body.pop();
  return body.length > max ? [...body.slice(0, max), `… ${body.length - max} more line(s)`] : body;
}

/** The digest printed at the end of a run. */
export function formatFailures(byFile: { file: string; failures: TapFailure[] }[]): string {
  const parts: string[] = [];
  for (const { file, failures } of byFile) {
    for (const f of failures) {
      parts.push(`✖ ${file}: ${f.name}`);
      if (f.at ?? f.location) parts.push(`    at ${f.at ?? f.location}`);
      for (const l of f.error) parts.push(`    ${l}`);
    }
  }
  return parts.join('\n');
}
