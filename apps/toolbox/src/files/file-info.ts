import type { BigIntStats } from 'node:fs';
import type { FileInfo } from '@shoal/contracts';

/** Go's `FileMode.String()`: type letters in Go's bit order ("dalTLDpSugct?"), then rwx triplets. */
export function goModeString(stats: BigIntStats): string {
  const mode = Number(stats.mode);
  let letters = '';
  if (stats.isDirectory()) letters += 'd';
  if (stats.isSymbolicLink()) letters += 'L';
  if (stats.isBlockDevice() || stats.isCharacterDevice()) letters += 'D';
  if (stats.isFIFO()) letters += 'p';
  if (stats.isSocket()) letters += 'S';
  if (mode & 0o4000) letters += 'u';
  if (mode & 0o2000) letters += 'g';
  if (stats.isCharacterDevice()) letters += 'c';
  if (mode & 0o1000) letters += 't';
  const rwx = 'rwxrwxrwx';
  let perm = '';
  for (let i = 0; i < 9; i++) perm += mode & (1 << (8 - i)) ? rwx[i] : '-';
  return (letters || '-') + perm;
}

const pad = (n: number | bigint, width = 2) => String(n).padStart(width, '0');

/** Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC` (trailing zeros trimmed). */
export function goTimeString(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${date} ${time}${frac ? `.${frac}` : ''} +0000 UTC`;
}

export function toFileInfo(name: string, stats: BigIntStats): FileInfo {
  return {
    name,
    size: Number(stats.size),
    mode: goModeString(stats),
    modTime: goTimeString(stats.mtimeNs),
    isDir: stats.isDirectory(),
    owner: String(stats.uid),
    group: String(stats.gid),
    permissions: (Number(stats.mode) & 0o777).toString(8).padStart(4, '0'),
  };
}
