import type { Network } from '../network/network.js';
import type { RuntimeBackend } from '../runtime/backend.js';
import type { LiveSandbox } from './live-sandbox.js';
import type { SandboxMeta, SandboxStore } from './sandbox.store.js';
import type { UidPool } from './uid-pool.js';

export interface RecoveryDeps {
  store: SandboxStore;
  uids: UidPool;
  network: Network;
  backend: RuntimeBackend;
  log: { info: (msg: string) => void; warn: (msg: string) => void };
  /** Whether the sandbox's toolbox answers on its socket. */
  answers: (id: string) => Promise<boolean>;
  /** Releases what a sandbox that is not running still holds (processes, mounts, netns); its files stay. */
  release: (meta: SandboxMeta) => Promise<void>;
  /** Takes the sandbox into the runner's set (before its release, so policy syncs see it). */
  adopt: (l: LiveSandbox) => void;
}

/**
 * Brings back the sandboxes a previous runner process left on disk: re-adopts the ones whose container still runs
 * and answers, finishes destroys a crash interrupted, releases everything else (stopped, files kept) and removes
 * containers no sandbox claims.
 */
export async function recoverSandboxes(d: RecoveryDeps): Promise<void> {
  const metas = await d.store.init();
  // Every range a sandbox on disk holds is taken again before anything is allocated, destroyed-but-not-removed ones too (their files still belong to it).
  for (const meta of metas) {
    if (meta.uidBase !== undefined && !d.uids.adopt(meta.uidBase)) {
      d.log.warn(`sandbox ${meta.id} shares host uid range ${meta.uidBase} with another sandbox (corrupt meta?)`);
    }
  }
  // The table is rebuilt before recovery so cleanup of dead sandboxes can already sync policies.
  await d.network.init([]);
  const known = new Set<string>();
  for (const meta of metas) {
    const st = await d.backend.state(meta.id);
    const live: LiveSandbox = { meta, state: 'stopped' };
    d.adopt(live);
    known.add(meta.id);
    if (meta.desired === 'destroyed') {
      // A destroy interrupted by a crash is finished here: no process, mount or netns may survive it.
      await d.release(meta);
      live.state = 'destroyed';
      continue;
    }
    if (st?.status === 'running' && (await d.answers(meta.id))) {
      live.state = 'started';
      live.pid = st.pid;
      d.log.info(`re-adopted running sandbox ${meta.id}`);
      continue;
    }
    await d.release(meta);
    live.state = 'stopped';
  }
  // A crash between `crun run` and saving the sandbox's metadata leaves a container nobody knows: remove it.
  for (const id of await d.backend.list().catch(() => [] as string[])) {
    if (known.has(id)) continue;
    d.log.warn(`removing unknown container ${id} left by a previous run`);
    await d.backend.kill(id, 'KILL').catch(() => undefined);
    await d.backend.delete(id).catch(() => undefined);
  }
}
