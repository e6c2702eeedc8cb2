import type { Api } from '../../api.js';

export interface SandboxState {
  id: string;
  state: string;
  backupState?: string;
  backupCreatedAt?: string;
  errorReason?: string;
}

/** Polls GET /sandbox/{id} until `done` says so or `timeoutMs` passes; returns the last answer. */
export async function waitSandbox(client: Api, id: string, done: (s: SandboxState) => boolean, timeoutMs: number): Promise<SandboxState> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await client.request<SandboxState>('GET', `/sandbox/${encodeURIComponent(id)}`);
    if (done(s) || Date.now() >= end) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
}
