import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../src/util/exec.js';
import { freePort } from './helpers.js';

/** A Debian docker-registry on loopback, optionally behind htpasswd (bcrypt) basic auth. */
export interface TestRegistry {
  host: string;
  stop(): Promise<void>;
}

export async function startTestRegistry(dir: string, user?: { username: string; password: string }): Promise<TestRegistry> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'storage')}`, 'http:', `  addr: 127.0.0.1:${port}`];
  if (user) {
    // The registry only accepts bcrypt lines; Python's crypt (libxcrypt) makes them without extra packages.
    const hash = await exec('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'], { input: user.password });
    await writeFile(join(dir, 'htpasswd'), `${user.username}:${hash.stdout.trim()}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: test', `    path: ${join(dir, 'htpasswd')}`);
  }
  await writeFile(join(dir, 'config.yml'), lines.join('\n') + '\n');
  const child: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('test registry did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One tar entry written by Python's tarfile, which can express whatever a hostile layer holds. */
export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block';
  mode?: number;
  link?: string;
  content?: string;
  uid?: number;
  major?: number;
  minor?: number;
}

const TAR_PY = `
import io, json, sys, tarfile
spec = json.load(sys.stdin)
types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
         'char': tarfile.CHRTYPE, 'block': tarfile.BLKTYPE}
with tarfile.open(spec['out'], 'w', format=tarfile.GNU_FORMAT) as t:
    for e in spec['entries']:
        count = e.get('repeat', 1)
        for i in range(count):
            ti = tarfile.TarInfo(e['name'] if count == 1 else '%s%d' % (e['name'], i))
            ti.type = types[e['type']]
            ti.mode = e.get('mode', 0o755 if e['type'] == 'dir' else 0o644)
            ti.uid = ti.gid = e.get('uid', 0)
            ti.linkname = e.get('link', '')
            ti.devmajor = e.get('major', 0)
            ti.devminor = e.get('minor', 0)
            data = e.get('content', '').encode()
            ti.size = len(data) if e['type'] == 'file' else 0
            t.addfile(ti, io.BytesIO(data) if ti.size else None)
`;

export async function writeLayer(out: string, entries: (TarEntry & { repeat?: number })[]): Promise<string> {
  await exec('python3', ['-c', TAR_PY], { input: JSON.stringify({ out, entries }) });
  return out;
}

export interface BuiltImage {
  /** Registry manifest digest. */
  digest: string;
  /** Sum of the compressed layer sizes in the pushed manifest. */
  sizeBytes: number;
}

/**
 * Builds an image from layer tarballs with umoci and pushes it to `ref` (credentials through an auth file).
 * Returns the digest and layer size sum the registry serves.
 */
export async function buildAndPush(
  work: string,
  ref: string,
  layers: string[],
  o: { arch?: string; config?: string[]; authFile?: string } = {},
): Promise<BuiltImage> {
  const oci = join(work, `oci-${Math.random().toString(36).slice(2)}`);
  await exec('umoci', ['init', '--layout', oci]);
  await exec('umoci', ['new', '--image', `${oci}:img`]);
  for (const l of layers) await exec('umoci', ['raw', 'add-layer', '--image', `${oci}:img`, l]);
  await exec('umoci', ['config', '--image', `${oci}:img`, '--architecture', o.arch ?? 'amd64', '--os', 'linux', ...(o.config ?? [])]);
  const digestFile = `${oci}.digest`;
  await exec('skopeo', ['copy', '--dest-tls-verify=false', ...(o.authFile ? ['--dest-authfile', o.authFile] : []), '--digestfile', digestFile, `oci:${oci}:img`, `docker://${ref}`]);
  const digest = (await readFile(digestFile, 'utf8')).trim();
  const raw = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(o.authFile ? ['--authfile', o.authFile] : []), `docker://${ref}`]);
  const manifest = JSON.parse(raw.stdout) as { layers: { size: number }[] };
  return { digest, sizeBytes: manifest.layers.reduce((a, l) => a + l.size, 0) };
}

export async function authFile(path: string, host: string, username: string, password: string): Promise<string> {
  await writeFile(path, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }), { mode: 0o600 });
  return path;
}
