import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { exec } from '../util/exec.js';

const LOADER_IN_SANDBOX = '/.shoal/node/lib/ld-linux-x86-64.so.2';

/**
 * Prepares `<dataDir>/node-runtime` once: the host's node binary with its interpreter and rpath patched to
 * `/.shoal/node/lib`, plus the shared libraries and loader it links against, so the toolbox runs in any image
 * (glibc or musl, with or without node) from a read-only bind mount.
 */
export async function ensureNodeRuntime(dataDir: string, execPath: string = process.execPath): Promise<string> {
  const dir = join(dataDir, 'node-runtime');
  const stamp = `${process.version} ${execPath}`;
  if ((await readFile(join(dir, 'STAMP'), 'utf8').catch(() => '')) === stamp) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'bin'), { recursive: true });
  await mkdir(join(tmp, 'lib'), { recursive: true });
  await copyFile(execPath, join(tmp, 'bin/node'));
  const ldd = await exec('ldd', [execPath]);
  for (const line of ldd.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (!m?.[1]) continue;
    const lib = m[1];
    const name = /ld-linux/.test(lib) ? 'ld-linux-x86-64.so.2' : basename(lib);
    await copyFile(lib, join(tmp, 'lib', name));
    await chmod(join(tmp, 'lib', name), 0o755);
  }
  await exec('patchelf', ['--set-interpreter', LOADER_IN_SANDBOX, '--set-rpath', '/.shoal/node/lib', join(tmp, 'bin/node')]);
  await chmod(join(tmp, 'bin/node'), 0o755);
  await chmod(tmp, 0o755);
  await writeFile(join(tmp, 'STAMP'), stamp);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return dir;
}
