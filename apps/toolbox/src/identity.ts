import { appendFileSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { readGroups, readPasswd } from './system-users.js';

export interface Identity {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function defaultShell(): string {
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

/** Dev/test mode: whoever started the daemon, unchanged. */
export function currentIdentity(home?: string): Identity {
  const info = userInfo();
  return {
    user: info.username,
    uid: info.uid,
    gid: info.gid,
    home: home || info.homedir || '/',
    shell: info.shell || defaultShell(),
  };
}

function nextFreeId(used: Set<number>): number {
  let id = 1000;
  while (used.has(id)) id += 1;
  return id;
}

/**
 * Inside a sandbox, started as root: makes sure `name` exists in the image's /etc (many images have no such user),
 * gives it a home, then drops to it for good. Never called in dev mode, so tests never touch the host's /etc.
 */
export function becomeSandboxUser(name: string, beforeDrop: (uid: number, gid: number) => void = () => undefined): Identity {
  let entry = readPasswd().find((p) => p.name === name);
  if (!entry) {
    const groups = readGroups();
    const usedUids = new Set(readPasswd().map((p) => p.uid));
    const usedGids = new Set(groups.map((g) => g.gid));
    const existingGroup = groups.find((g) => g.name === name);
    const uid = nextFreeId(usedUids);
    const gid = existingGroup?.gid ?? (usedGids.has(uid) ? nextFreeId(usedGids) : uid);
    const home = name === 'root' ? '/root' : `/home/${name}`;
    const shell = defaultShell();
    appendFileSync('/etc/passwd', `${name}:x:${uid}:${gid}::${home}:${shell}\n`);
    if (!existingGroup) appendFileSync('/etc/group', `${name}:x:${gid}:\n`);
    if (existsSync('/etc/shadow')) appendFileSync('/etc/shadow', `${name}:!:19000:0:99999:7:::\n`);
    entry = { name, uid, gid, home, shell };
  }
  const home = entry.home && entry.home !== '/nonexistent' ? entry.home : name === 'root' ? '/root' : `/home/${name}`;
  if (!existsSync(home)) {
    mkdirSync(home, { recursive: true, mode: 0o755 });
    chownSync(home, entry.uid, entry.gid);
  } else if (entry.uid !== 0 && statSync(home).uid === 0 && home.startsWith('/home/')) {
    chownSync(home, entry.uid, entry.gid);
  }
  const shell = entry.shell && existsSync(entry.shell) ? entry.shell : defaultShell();
  beforeDrop(entry.uid, entry.gid);
  if (entry.uid !== 0) {
    (process as { initgroups?: (user: string, extraGroup: number) => void }).initgroups?.(name, entry.gid);
    process.setgid?.(entry.gid);
    process.setuid?.(entry.uid);
  }
  return { user: name, uid: entry.uid, gid: entry.gid, home, shell };
}
