/**
 * The daemon's entry in a V8 startup snapshot (dist/toolbox.blob, made by scripts/build.mjs with `node
 * --build-snapshot`). The bundle's modules are evaluated once, when the blob is made, and every sandbox's start
 * deserializes the resulting heap instead of compiling and running them again. Nothing of the daemon runs at build
 * time: no config is read, no identity taken, no socket opened; Node calls the function below in the started process.
 *
 * The blob is made on the host by the build, from Shoal's own bundle, and reaches a sandbox through the read-only
 * bind mount, like the bundle itself. Node refuses a blob made by another Node binary; the runner checks the blob
 * with the Node it injects before using it (TOOLBOX_SNAPSHOT_CHECK_ENV) and starts toolbox.cjs otherwise. This entry
 * exports nothing: a snapshot's entry script may not assign module.exports.
 */
import { dirname, join } from 'node:path';
import { startupSnapshot } from 'node:v8';
import { TOOLBOX_SNAPSHOT_CHECK_ENV, TOOLBOX_SNAPSHOT_LOADS } from '@shoal/contracts';
import { runDaemon } from './daemon.js';
import { startThreadPool } from './thread-pool.js';


// The snapshot keeps everything the modules' evaluation made, and node:crypto caches random bytes in JS (randomUUID's
// pool): had that run now, every sandbox would start with the same pool and hand out the same ids. So the build
// refuses a snapshot in which node:crypto was loaded (the build's lazy built-ins load it only on first use).
if ((process as unknown as { moduleLoadList: string[] }).moduleLoadList.includes('NativeModule crypto')) {
  throw new Error('node:crypto was loaded while the startup snapshot was made; its random pools would be shared by every sandbox');
}

startupSnapshot.setDeserializeMainFunction(() => {
  // eslint-disable-next-line no-restricted-properties -- read before the daemon's config exists, by the runner's check only
  if (process.env[TOOLBOX_SNAPSHOT_CHECK_ENV] === '1') {
    process.stdout.write(`${TOOLBOX_SNAPSHOT_LOADS}\n`);
    process.exit(0);
  }
  // Started as `node --snapshot-blob <dist>/toolbox.blob`, so argv names no script. What ships beside the bundle
  // (the language servers, node-pty's addon) is found from argv[1], as when the daemon starts as <dist>/toolbox.cjs.
  const at = process.execArgv.indexOf('--snapshot-blob');
  const blob = at >= 0 ? process.execArgv[at + 1] : undefined;
  if (blob) process.argv.splice(1, 0, join(dirname(blob), 'toolbox.cjs'));
  startThreadPool();
  runDaemon();
});
