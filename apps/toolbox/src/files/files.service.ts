import { chmod, chown, cp, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FileInfo, Match, ReplaceResult } from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, conflict, fromErrno, notFound } from '../http/errors.js';
import { resolveGid, resolveUid } from '../system-users.js';
import { toFileInfo } from './file-info.js';
import { globToRegExp } from './glob.js';
import { walk } from './walk.js';

/** Files larger than this are not grepped: `find` is for source trees, not for scanning disk images. */
const FIND_MAX_FILE_BYTES = 64 * 1024 * 1024;

function parseMode(raw: string | null | undefined, fallback: number): number {
  if (raw === null || raw === undefined || raw === '') return fallback;
  if (!/^0?[0-7]{1,4}$/.test(raw)) throw badRequest(`invalid mode ${JSON.stringify(raw)}: expected octal such as 755`);
  return parseInt(raw, 8);
}

export class FilesService {
  constructor(private readonly ctx: ToolboxContext) {}

  resolve(path: string): string {
    if (path.includes('\0')) throw badRequest('path must not contain NUL bytes');
    return resolvePath(this.ctx, path);
  }

  async list(path: string): Promise<FileInfo[]> {
    const dir = this.resolve(path);
    let names: string[];
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw badRequest(`${path}: not a directory`);
      names = await readdir(dir);
    } catch (err) {
      throw fromErrno(err, path);
    }
    names.sort();
    const result: FileInfo[] = [];
    for (const name of names) {
      try {
        result.push(toFileInfo(name, await lstat(join(dir, name), { bigint: true })));
      } catch {
        // Raced with a delete: the entry is simply gone.
      }
    }
    return result;
  }

  async info(path: string): Promise<FileInfo> {
    const abs = this.resolve(path);
    try {
      return toFileInfo(basename(abs) || abs, await stat(abs, { bigint: true }));
    } catch (err) {
      throw fromErrno(err, path);
    }
  }

  async remove(path: string, recursive: boolean): Promise<void> {
    const abs = this.resolve(path);
    if (abs === '/') throw badRequest('refusing to delete /');
    try {
      const info = await lstat(abs);
      if (info.isDirectory() && !recursive) throw badRequest(`${path}: is a directory, set recursive=true to delete it`);
      await rm(abs, { recursive, force: false });
    } catch (err) {
      throw fromErrno(err, path);
    }
  }

  async createFolder(path: string, mode: string | null): Promise<void> {
    const abs = this.resolve(path);
    const bits = parseMode(mode, 0o755);
    try {
      await mkdir(abs, { recursive: true, mode: bits });
      // mkdir is subject to the umask; the caller asked for an exact mode.
      await chmod(abs, bits);
    } catch (err) {
      throw fromErrno(err, path);
    }
  }

  async move(source: string, destination: string): Promise<void> {
    const from = this.resolve(source);
    const to = this.resolve(destination);
    try {
      await lstat(from);
    } catch (err) {
      throw fromErrno(err, source);
    }
    try {
      await lstat(to);
      throw conflict(`${destination}: destination already exists`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromErrno(err, destination);
    }
    try {
      await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw fromErrno(err, `${source} -> ${destination}`);
      // Across mounts (e.g. into a volume) rename cannot work; copy then delete.
      try {
        await cp(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        await rm(from, { recursive: true });
      } catch (copyErr) {
        throw fromErrno(copyErr, `${source} -> ${destination}`);
      }
    }
  }

  async setPermissions(path: string, owner: string | null, group: string | null, mode: string | null): Promise<void> {
    const abs = this.resolve(path);
    let uid = -1;
    let gid = -1;
    if (owner) {
      const resolved = resolveUid(owner);
      if (resolved === undefined) throw badRequest(`unknown user ${owner}`);
      uid = resolved;
    }
    if (group) {
      const resolved = resolveGid(group);
      if (resolved === undefined) throw badRequest(`unknown group ${group}`);
      gid = resolved;
    }
    const bits = mode ? parseMode(mode, 0) : undefined;
    try {
      await stat(abs);
      if (uid !== -1 || gid !== -1) await chown(abs, uid, gid);
      if (bits !== undefined) await chmod(abs, bits);
    } catch (err) {
      throw fromErrno(err, path);
    }
  }

  async find(path: string, pattern: string): Promise<Match[]> {
    const root = this.resolve(path);
    let rootStats;
    try {
      rootStats = await stat(root);
    } catch (err) {
      throw fromErrno(err, path);
    }
    const files: { abs: string; shown: string }[] = [];
    if (rootStats.isFile()) files.push({ abs: root, shown: path });
    else for await (const entry of walk(root, path)) if (entry.isFile) files.push({ abs: resolvePath(this.ctx, entry.path), shown: entry.path });
    const matches: Match[] = [];
    for (const file of files) {
      let content: Buffer;
      try {
        const info = await stat(file.abs);
        if (info.size > FIND_MAX_FILE_BYTES) continue;
        content = await readFile(file.abs);
      } catch {
        continue;
      }
      // Like grep -I: a NUL byte in the first 8 KiB marks a binary file.
      if (content.subarray(0, 8192).includes(0)) continue;
      const lines = content.toString('utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.includes(pattern)) matches.push({ file: file.shown, line: i + 1, content: line.replace(/\r$/, '') });
      });
    }
    return matches;
  }

  async search(path: string, pattern: string): Promise<string[]> {
    const regex = globToRegExp(pattern);
    if (!regex) throw badRequest(`invalid glob pattern ${JSON.stringify(pattern)}`);
    const root = this.resolve(path);
    try {
      if (!(await stat(root)).isDirectory()) throw badRequest(`${path}: not a directory`);
    } catch (err) {
      throw fromErrno(err, path);
    }
    const files: string[] = [];
    for await (const entry of walk(root, path)) if (regex.test(entry.name)) files.push(entry.path);
    return files;
  }

  async replace(files: string[], pattern: string, newValue: string): Promise<ReplaceResult[]> {
    const results: ReplaceResult[] = [];
    for (const file of files) {
      try {
        const abs = this.resolve(file);
        const content = await readFile(abs, 'utf8');
        if (content.includes(pattern)) await writeFile(abs, content.split(pattern).join(newValue));
        results.push({ file, success: true });
      } catch (err) {
        results.push({ file, success: false, error: fromErrno(err, file).message });
      }
    }
    return results;
  }

  /** Opens a regular file for download; the caller streams and closes it. */
  async openForRead(path: string) {
    const abs = this.resolve(path);
    let handle;
    try {
      handle = await open(abs, 'r');
    } catch (err) {
      throw fromErrno(err, path);
    }
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw info.isDirectory() ? badRequest(`${path}: is a directory`) : notFound(`${path}: not a regular file`);
    }
    return { handle, size: info.size, abs };
  }

  async ensureParent(abs: string): Promise<void> {
    await mkdir(dirname(abs), { recursive: true });
  }
}
