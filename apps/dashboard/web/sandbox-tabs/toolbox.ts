// The toolbox of a sandbox through the API's proxy (`/api/toolbox/<id>/toolbox/<path>`), with the signed-in key.

export function toolboxPath(sandboxId: string, path: string): string {
  return `/toolbox/${encodeURIComponent(sandboxId)}/toolbox/${path}`;
}

/** `path` with a query built from the defined values. */
export function withQuery(path: string, query: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Session logs carry the toolbox's in-band stream markers (0x01×3 before stdout, 0x02×3 before stderr, on every line).
 * Split into runs of one stream so stderr can be shown apart.
 */
export function demuxLog(text: string): Array<{ stream: 'stdout' | 'stderr'; text: string }> {
  const out: Array<{ stream: 'stdout' | 'stderr'; text: string }> = [];
  let stream: 'stdout' | 'stderr' = 'stdout';
  let i = 0;
  let start = 0;
  const push = (end: number) => {
    if (end <= start) return;
    const last = out[out.length - 1];
    if (last && last.stream === stream) last.text += text.slice(start, end);
    else out.push({ stream, text: text.slice(start, end) });
  };
  while (i < text.length) {
    if (text.startsWith('\x01\x01\x01', i) || text.startsWith('\x02\x02\x02', i)) {
      push(i);
      stream = text[i] === '\x01' ? 'stdout' : 'stderr';
      i += 3;
      start = i;
    } else i++;
  }
  push(i);
  return out;
}
