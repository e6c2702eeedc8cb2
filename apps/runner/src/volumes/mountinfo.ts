import { readFile } from 'node:fs/promises';

export interface MountEntry {
  /** major:minor of the filesystem. */
  dev: string;
  /** Root of the mount within its filesystem. */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

/** The host's mount table (this process's namespace), unescaped. */
export async function mountTable(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const f = left!.split(' ');
    const r = (right ?? '').split(' ');
    out.push({ dev: f[2]!, root: unescape(f[3]!), mountPoint: unescape(f[4]!), fsType: r[0] ?? '', source: unescape(r[1] ?? '') });
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
