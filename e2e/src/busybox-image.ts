/*
 * A one-layer test image a few MB in size: static busybox (the Debian `busybox-static` package) with a handful of
 * applets, /etc/passwd, /etc/group and /tmp, made with umoci and pushed with skopeo to a registry on loopback. Snapshot
 * and build tests use it so pulls and builds stay quick and nothing leaves the host.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const APPLETS = ['sh', 'echo', 'cat', 'ls', 'id', 'sleep', 'mkdir', 'env', 'pwd'];

/**
 * Builds the image in `workDir` (which must be empty) and pushes it as `ref`; `cmd` becomes the image's CMD. `applets`
 * replaces the default set (e.g. without `sh`, an image sandboxes cannot run commands in).
 */
export async function pushBusyboxImage(workDir: string, ref: string, cmd: string[], applets: readonly string[] = APPLETS): Promise<void> {
  const rootfs = join(workDir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await run('cp', ['/bin/busybox', join(rootfs, 'bin/busybox')]);
  for (const app of applets) await run('ln', ['-s', 'busybox', join(rootfs, 'bin', app)]);
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
  await run('tar', ['-C', rootfs, '-cf', join(workDir, 'layer.tar'), '.']);
  const oci = join(workDir, 'oci');
  await run('umoci', ['init', '--layout', oci]);
  await run('umoci', ['new', '--image', `${oci}:1`]);
  await run('umoci', ['raw', 'add-layer', '--image', `${oci}:1`, join(workDir, 'layer.tar')]);
  await run('umoci', ['config', '--image', `${oci}:1`, '--config.env', 'PATH=/bin', ...cmd.flatMap((c) => ['--config.cmd', c])]);
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:1`, `docker://${ref}`]);
}
