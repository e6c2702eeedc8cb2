import { exec } from '../util/exec.js';

export interface TreeUsage {
  /** Disk bytes (allocated blocks; hard links counted once). */
  bytes: number;
  /** Distinct inodes. */
  files: number;
  /** Block and character devices found, by path. */
  devices: string[];
}

/**
 * One walk of `dir` that never follows a symlink (find's default) nor leaves the filesystem: what it takes on disk, how
 * many files it holds and which device nodes are in it.
 */
export async function treeUsage(dir: string): Promise<TreeUsage> {
  const out = await exec('find', [dir, '-xdev', '-printf', '%y %i %n %b %p\\0']);
  const seen = new Set<string>();
  const u: TreeUsage = { bytes: 0, files: 0, devices: [] };
  for (const rec of out.stdout.split('\0')) {
    if (!rec) continue;
    const [type, ino, links, blocks] = rec.split(' ', 4);
    if (links !== '1' && type !== 'd') {
      if (seen.has(ino!)) continue;
      seen.add(ino!);
    }
    u.files++;
    u.bytes += (Number(blocks) || 0) * 512;
    if (type === 'b' || type === 'c') u.devices.push(rec.slice(type.length + ino!.length + links!.length + blocks!.length + 4));
  }
  return u;
}
