import type { Api } from '../../api.js';
import { getSnapshot, SETTLED, type Snapshot } from './snapshot.js';

const POLL_MS = 1000;

/**
 * Streams the snapshot's pull or build log to `write` (GET …/build-logs?follow=true ends when the snapshot settles),
 * then polls until it is in a settled state, reporting each state change, and returns the settled snapshot. A log
 * that cannot be opened does not stop the wait: the state is what decides the outcome.
 */
export async function followUntilSettled(api: Api, snapshot: Snapshot, write: (text: string) => void): Promise<Snapshot> {
  let last = snapshot.state;
  write(`Snapshot ${snapshot.name} (${snapshot.state})\n`);
  if (!SETTLED.has(snapshot.state)) {
    try {
      const decoder = new TextDecoder();
      for await (const chunk of await api.stream(`/snapshots/${encodeURIComponent(snapshot.id)}/build-logs?follow=true`)) {
        write(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      write(`(build log unavailable: ${(err as Error).message})\n`);
    }
  }
  for (;;) {
    const current = await getSnapshot(api, snapshot.id);
    if (current.state !== last) {
      write(`Snapshot ${current.name} is ${current.state}\n`);
      last = current.state;
    }
    if (SETTLED.has(current.state)) return current;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
