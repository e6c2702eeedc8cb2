/*
 * Two organizations on a running Shoal: A (the admin's) holding resources, and B (a second user) attacking them.
 * Everything goes through the public HTTP API, as a client would.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PERMISSIONS } from '@shoal/contracts';

export const ALL_PERMISSIONS: string[] = [...PERMISSIONS];

export async function api<T = unknown>(apiUrl: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: T; text: string }> {
  const res = await fetch(apiUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // non-JSON bodies are reported through `text`
  }
  return { status: res.status, json: json as T, text };
}

async function must<T>(p: Promise<{ status: number; json: T; text: string }>, what: string): Promise<T> {
  const r = await p;
  if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${r.text}`);
  return r.json;
}

export interface SandboxRow {
  id: string;
  state: string;
  errorReason?: string | null;
  labels: Record<string, string>;
  [k: string]: unknown;
}

export interface Tenants {
  a: {
    key: string;
    userId: string;
    organizationId: string;
    sandbox: SandboxRow;
    /** How the sandbox came to be: 'started' with a working runner, otherwise the state creation ended in and why. */
    sandboxNote: string;
    victimKeyName: string;
    expiredKey: string;
    missingPermission: Record<string, string>;
    sshToken: string;
    previewToken: string;
    secretLabel: string;
    secretEnv: string;
  };
  b: { key: string; userId: string; organizationId: string };
  /** Stops what the setup started in this process (the stand-in runner, when one was needed). */
  close(): Promise<void>;
  defaultSnapshotId: string;
  runnerId: string;
}


/**
 * Creates org A's sandbox on the platform's real runner. Should the runner fail, the row it leaves in `error` is
 * still an org-A resource worth attacking, and the note says so.
 */
async function createVictimSandbox(
  apiUrl: string,
  key: string,
  labels: Record<string, string>,
  env: Record<string, string>,
): Promise<{ sandbox: SandboxRow; note: string }> {
  const body = { labels, env, autoStopInterval: 0, autoArchiveInterval: 0, autoDeleteInterval: -1 };
  const r = await api<SandboxRow & { message?: string }>(apiUrl, key, 'POST', '/sandbox', body);
  let note = '';
  if (r.status >= 300) note += `create answered HTTP ${r.status}: ${r.text}. `;
  // Whatever the create call answered, the row is found by its unique label and waited on until it settles.
  const selector = encodeURIComponent(JSON.stringify(labels));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const list = await must(api<SandboxRow[]>(apiUrl, key, 'GET', `/sandbox?labels=${selector}&includeErroredDeleted=true`), 'listing sandboxes');
    const sb = list[0];
    if (!sb) throw new Error(`no sandbox row was created: ${note}`);
    if (['started', 'error', 'build_failed', 'stopped'].includes(sb.state)) {
      if (sb.state !== 'started') note += `sandbox ended in ${sb.state}: ${sb.errorReason ?? ''}`;
      return { sandbox: sb, note: note || 'started' };
    }
    if (Date.now() > deadline) return { sandbox: sb, note: `${note}sandbox still ${sb.state} after 120 s` };
    await sleep(500);
  }
}

export async function setUpTenants(apiUrl: string, adminKey: string): Promise<Tenants> {
  const tag = randomBytes(4).toString('hex');
  const me = await must(api<{ id: string }>(apiUrl, adminKey, 'GET', '/users/me'), 'GET /users/me');
  const orgs = await must(api<Array<{ id: string }>>(apiUrl, adminKey, 'GET', '/organizations'), 'GET /organizations');

  // B gets no compute or snapshot quota: its own creates (part of the sweep) are refused instead of starting
  // containers nobody needs, and no snapshot of its can send a runner to a registry beyond loopback.
  const b = await must(
    api<{ id: string; organizationId: string; apiKey: string }>(apiUrl, adminKey, 'POST', '/users', {
      name: `tenancy-attacker-${tag}`,
      createApiKey: true,
      personalOrganizationQuota: { totalCpuQuota: 0, totalMemoryQuota: 0, totalDiskQuota: 0, maxCpuPerSandbox: 0, snapshotQuota: 0 },
    }),
    'creating user B',
  );

  const secretLabel = `tenancy-secret-label-${tag}`;
  const secretEnv = `tenancy-secret-env-${tag}`;
  const { sandbox, note } = await createVictimSandbox(apiUrl, adminKey, { tenancy: secretLabel }, { TENANCY_SECRET: secretEnv });

  const orgA = typeof sandbox.organizationId === 'string' ? sandbox.organizationId : orgs[0]!.id;
  const victimKeyName = `tenancy-victim-${tag}`;
  await must(api(apiUrl, adminKey, 'POST', '/api-keys', { name: victimKeyName, permissions: ['write:sandboxes'] }), 'creating the victim key');
  const missingPermission: Record<string, string> = {};
  // read:audit_logs guards no route: its key is an admin key narrowed by one permission, which admin routes refuse.
  for (const perm of ['write:sandboxes', 'delete:sandboxes', 'read:audit_logs']) {
    const k = await must(
      api<{ value: string }>(apiUrl, adminKey, 'POST', '/api-keys', { name: `tenancy-without-${perm.replace(':', '-')}-${tag}`, permissions: ALL_PERMISSIONS.filter((p) => p !== perm) }),
      `creating a key without ${perm}`,
    );
    missingPermission[perm] = k.value;
  }
  const expiresAt = new Date(Date.now() + 1500);
  const expired = await must(
    api<{ value: string }>(apiUrl, adminKey, 'POST', '/api-keys', { name: `tenancy-expired-${tag}`, permissions: ALL_PERMISSIONS, expiresAt: expiresAt.toISOString() }),
    'creating the soon-expired key',
  );

  const ssh = await api<{ token: string }>(apiUrl, adminKey, 'POST', `/sandbox/${sandbox.id}/ssh-access?expiresInMinutes=600`);
  const preview = await api<{ token: string }>(apiUrl, adminKey, 'GET', `/sandbox/${sandbox.id}/ports/3000/preview-url`);
  const snapshots = await must(api<{ items: Array<{ id: string }> }>(apiUrl, adminKey, 'GET', '/snapshots'), 'GET /snapshots');
  const runners = await must(api<Array<{ id: string }>>(apiUrl, adminKey, 'GET', '/runners'), 'GET /runners');

  const wait = expiresAt.getTime() - Date.now() + 100;
  if (wait > 0) await sleep(wait);
  return {
    a: {
      key: adminKey,
      userId: me.id,
      organizationId: orgA,
      sandbox,
      sandboxNote: note,
      victimKeyName,
      expiredKey: expired.value,
      missingPermission,
      sshToken: ssh.status < 300 ? ssh.json.token : '',
      previewToken: preview.status < 300 ? preview.json.token : '',
      secretLabel,
      secretEnv,
    },
    b: { key: b.apiKey, userId: b.id, organizationId: b.organizationId },
    close: async () => undefined,
    defaultSnapshotId: snapshots.items[0]?.id ?? 'no-snapshot',
    runnerId: runners[0]?.id ?? '00000000-0000-0000-0000-000000000000',
  };
}

/** The parts of org A an attack could change; compared before and after each sweep. Volatile timestamps are left out. */
/**
 * What the attacks must not change. `sshGatewayToken` is the SSH gateway's service credential: only the gateway may
 * validate SSH tokens, so the check that org A's token still works is made with it.
 */
export async function victimState(apiUrl: string, t: Tenants, sshGatewayToken?: string): Promise<unknown> {
  const key = t.a.key;
  const sb = await api<Record<string, unknown>>(apiUrl, key, 'GET', `/sandbox/${t.a.sandbox.id}`);
  const keys = await api<Array<{ name: string; permissions: string[]; expiresAt?: string | null; userId: string }>>(apiUrl, key, 'GET', '/api-keys');
  const org = await api<Record<string, unknown>>(apiUrl, key, 'GET', `/organizations/${t.a.organizationId}`);
  const list = await api<Array<{ id: string }>>(apiUrl, key, 'GET', '/sandbox?includeErroredDeleted=true');
  const users = await api<Array<{ id: string }>>(apiUrl, key, 'GET', '/users');
  const runners = await api<Array<{ id: string; unschedulable?: boolean }>>(apiUrl, key, 'GET', '/runners');
  const ssh = t.a.sshToken && sshGatewayToken ? await api<Record<string, unknown>>(apiUrl, sshGatewayToken, 'GET', `/sandbox/ssh-access/validate?token=${t.a.sshToken}`) : null;
  const pick = (o: Record<string, unknown> | undefined, fields: string[]) => Object.fromEntries(fields.map((f) => [f, o?.[f]]));
  return {
    sandbox: {
      status: sb.status,
      ...pick(sb.json, ['id', 'organizationId', 'state', 'desiredState', 'labels', 'env', 'public', 'autoStopInterval', 'autoArchiveInterval', 'autoDeleteInterval', 'networkBlockAll', 'networkAllowList', 'backupState', 'runnerId', 'target']),
    },
    apiKeys: keys.json.map((k) => ({ name: k.name, permissions: [...k.permissions].sort(), expiresAt: k.expiresAt ?? null, userId: k.userId })).sort((x, y) => x.name.localeCompare(y.name)),
    organization: org.json,
    sandboxIds: list.json.map((s) => s.id).sort(),
    userIds: users.json.map((u) => u.id).sort(),
    runners: runners.json.map((r) => ({ id: r.id, unschedulable: r.unschedulable })).sort((x, y) => x.id.localeCompare(y.id)),
    sshAccess: ssh ? { status: ssh.status, body: ssh.json } : null,
  };
}
