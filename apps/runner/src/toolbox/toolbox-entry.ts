import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { TOOLBOX_SNAPSHOT_CHECK_ENV, TOOLBOX_SNAPSHOT_LOADS } from '@shoal/contracts';
import { exec } from '../util/exec.js';

/**
 * One V8 worker thread instead of four: an idle daemon is most of a sandbox's memory, and every thread costs a kernel
 * stack, a task and a malloc arena. With the toolbox's own libuv pool of two, 11 threads become 6, and the bench's
 * density row went from 10.7-10.8 to 10.3 MiB per sandbox. A Node option, not a V8 flag, so the code cache holds.
 */
const NODE = ['/.shoal/node/bin/node', '--v8-pool-size=1'];
/**
 * tini, then shoal-exec holding the inherited listening socket (fd 3) until a connection waits in it, then Node: the
 * daemon's start (its largest CPU cost) happens when its first request arrives or the runner asks for it, not as part
 * of the container's start (shoal-exec.c, README "The cold path").
 */
const NODE_IN_SANDBOX = ['/.shoal/bin/tini', '-s', '-g', '--', '/.shoal/bin/shoal-exec', '--on-connect=3', NODE[0]!, ...NODE];

/** The daemon started from its bundle, through V8's code cache (toolbox.cjs, src/code-cache-loader.ts). */
export const TOOLBOX_BUNDLE_ARGS: readonly string[] = [...NODE_IN_SANDBOX, '/.shoal/toolbox/toolbox.cjs'];
/** The daemon started from its startup snapshot (toolbox.blob, src/snapshot-main.ts). */
export const TOOLBOX_SNAPSHOT_ARGS: readonly string[] = [...NODE_IN_SANDBOX, '--snapshot-blob', '/.shoal/toolbox/toolbox.blob'];

/**
 * How sandboxes start their daemon: from the startup snapshot when the operator asked for it, the build made one and
 * the Node the runner injects loads it (Node refuses a blob another binary made, and the daemon would then never
 * start), else from the bundle. Not the default: Node keeps a startup snapshot's blob in memory for the life of the
 * process (an empty snapshot alone costs 4.2 MiB of anonymous memory over a plain start, measured with Node 20), so a
 * sandbox's idle daemon holds about 3 MiB more (RssAnon 13.8 vs 10.8 MiB on the host) for about 10 ms less start.
 * The check runs that Node, through the loader and libraries it ships with, on the blob, which then exits.
 */
export async function chooseToolboxEntry(toolboxDir: string, nodeRuntimeDir: string, allowSnapshot: boolean): Promise<{ args: readonly string[]; reason: string }> {
  const blob = join(toolboxDir, 'toolbox.blob');
  if (!allowSnapshot) return { args: TOOLBOX_BUNDLE_ARGS, reason: 'toolbox: from its bundle (SHOAL_TOOLBOX_SNAPSHOT=1 starts it from its startup snapshot)' };
  if (!(await access(blob).then(() => true, () => false))) return { args: TOOLBOX_BUNDLE_ARGS, reason: 'toolbox: from its bundle (the build made no startup snapshot)' };
  const lib = join(nodeRuntimeDir, 'lib');
  const r = await exec(join(lib, 'ld-linux-x86-64.so.2'), ['--library-path', lib, join(nodeRuntimeDir, 'bin/node'), '--v8-pool-size=1', '--snapshot-blob', blob], {
    allowFailure: true,
    env: { [TOOLBOX_SNAPSHOT_CHECK_ENV]: '1', PATH: '/usr/bin:/bin' },
  });
  if (r.code === 0 && r.stdout.includes(TOOLBOX_SNAPSHOT_LOADS)) return { args: TOOLBOX_SNAPSHOT_ARGS, reason: 'toolbox: from its startup snapshot' };
  const why = (r.stderr.split('\n').find((l) => /[a-z]/i.test(l))?.replace(/^[#\s]+/, '') ?? `exit ${r.code}`).slice(0, 300);
  return { args: TOOLBOX_BUNDLE_ARGS, reason: `toolbox: from its bundle (the startup snapshot does not load with the injected Node: ${why}; rebuild with npm run build -w @shoal/toolbox)` };
}
