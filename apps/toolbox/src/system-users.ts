import { readFileSync } from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
  } catch {
    return [];
  }
}

export function readPasswd(path = '/etc/passwd'): PasswdEntry[] {
  return readLines(path).flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7) return [];
    return [{ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '', shell: f[6] ?? '' }];
  });
}

export function readGroups(path = '/etc/group'): GroupEntry[] {
  return readLines(path).flatMap((line) => {
    const f = line.split(':');
    if (f.length < 3) return [];
    return [{ name: f[0] ?? '', gid: Number(f[2]) }];
  });
}

/** A user given by name or numeric id; undefined when neither resolves. */
export function resolveUid(owner: string): number | undefined {
  if (/^\d+$/.test(owner)) return Number(owner);
  return readPasswd().find((entry) => entry.name === owner)?.uid;
}

export function resolveGid(group: string): number | undefined {
  if (/^\d+$/.test(group)) return Number(group);
  return readGroups().find((entry) => entry.name === group)?.gid;
}
