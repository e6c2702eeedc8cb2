import { useState } from 'preact/hooks';
import { PERMISSIONS } from '../../../../packages/contracts/src/permissions.js';
import { api, getSession } from '../api.js';
import { useAction, usePoll, type Polled } from '../hooks.js';
import { ErrorBanner, Field, Loading, Page, formatDate } from '../ui.js';

// The organization's routes take its id in the path (/organizations/{id}/...), and the API checks the caller's role in
// THAT organization: owners manage members, roles and invitations; any member reads members, roles and usage.

export interface Organization {
  id: string;
  name: string;
  personal: boolean;
  createdAt: string;
  suspended: boolean;
  suspensionReason: string | null;
  suspendedUntil: string | null;
  totalCpuQuota: number;
  totalMemoryQuota: number;
  totalDiskQuota: number;
  maxCpuPerSandbox: number;
  maxMemoryPerSandbox: number;
  maxDiskPerSandbox: number;
  sandboxLimitedNetworkEgress: boolean;
}

interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  isGlobal: boolean;
}

interface Member {
  userId: string;
  name: string;
  email: string;
  role: 'owner' | 'member';
  assignedRoles: Role[];
  createdAt: string;
}

interface Invitation {
  id: string;
  email: string;
  invitedBy: string;
  role: 'owner' | 'member';
  assignedRoles: Role[];
  status: string;
  expiresAt: string;
}

interface Usage {
  totalCpuQuota: number;
  totalMemoryQuota: number;
  totalDiskQuota: number;
  currentCpuUsage: number;
  currentMemoryUsage: number;
  currentDiskUsage: number;
  totalSnapshotQuota: number;
  currentSnapshotUsage: number;
  totalVolumeQuota: number;
  currentVolumeUsage: number;
}

export interface CurrentOrganization {
  org: Organization;
  /** Set when the page had to guess which organization the signed-in user acts in. */
  note?: string;
}

/**
 * The organization the pages act in: the one chosen in the switcher, else the signed-in key's own (GET
 * /api-keys/current names it). A session without a key of its own (OIDC) and no choice yet falls back to the user's
 * only organization, or its personal one with a note.
 */
export async function currentOrganization(): Promise<CurrentOrganization> {
  const orgs = await api<Organization[]>('GET', '/organizations');
  const byId = (id: string | undefined) => (id ? orgs.find((o) => o.id === id) : undefined);
  const chosen = byId(getSession()?.organizationId);
  if (chosen) return { org: chosen };
  const keyOwn = byId(await api<{ organizationId: string }>('GET', '/api-keys/current').then((k) => k.organizationId, () => undefined));
  if (keyOwn) return { org: keyOwn };
  if (orgs.length === 1) return { org: orgs[0]! };
  const fallback = orgs.find((o) => o.personal) ?? orgs[0];
  if (!fallback) throw new Error('The signed-in user belongs to no organization.');
  return { org: fallback, note: `Showing "${fallback.name}": choose another organization with the organization switcher.` };
}

export function useCurrentOrganization() {
  return usePoll(currentOrganization, 0, [getSession()?.organizationId ?? '']);
}

export function OrganizationPage() {
  const current = useCurrentOrganization();
  const org = current.data?.org;
  return (
    <Page title="Organization">
      <ErrorBanner error={current.error} />
      {current.data?.note && <p class="notice">{current.data.note}</p>}
      {!org ? (
        current.loading && <Loading what="the organization" />
      ) : (
        <OrganizationDetails key={org.id} orgId={org.id} />
      )}
    </Page>
  );
}

function OrganizationDetails({ orgId }: { orgId: string }) {
  const base = `/organizations/${encodeURIComponent(orgId)}`;
  const org = usePoll(() => api<Organization>('GET', base), 5000, [orgId]);
  const usage = usePoll(() => api<Usage>('GET', `${base}/usage`), 5000, [orgId]);
  const roles = usePoll(() => api<Role[]>('GET', `${base}/roles`), 5000, [orgId]);
  const o = org.data;
  return (
    <>
      <section class="card" aria-labelledby="org-title">
        <h2 id="org-title">{o ? o.name : 'Organization'}</h2>
        <ErrorBanner error={org.error} />
        {o && (
          <dl class="kv">
            <dt>Id</dt>
            <dd class="mono">{o.id}</dd>
            <dt>Kind</dt>
            <dd>{o.personal ? 'Personal' : 'Shared'}</dd>
            <dt>Created</dt>
            <dd>{formatDate(o.createdAt)}</dd>
            <dt>Suspended</dt>
            <dd>{o.suspended ? `Yes${o.suspensionReason ? `: ${o.suspensionReason}` : ''}${o.suspendedUntil ? ` (until ${formatDate(o.suspendedUntil)})` : ''}` : 'No'}</dd>
            <dt>New sandboxes' egress</dt>
            <dd>{o.sandboxLimitedNetworkEgress ? 'Limited' : 'Open'}</dd>
          </dl>
        )}
      </section>
      <section class="card" aria-labelledby="usage-title">
        <h2 id="usage-title">Quotas and usage</h2>
        <ErrorBanner error={usage.error} />
        {usage.data ? (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Resource</th>
                  <th>In use</th>
                  <th>Quota</th>
                  <th class="optional">Per sandbox</th>
                </tr>
              </thead>
              <tbody>
                <UsageRow what="CPU (vCPU)" used={usage.data.currentCpuUsage} total={usage.data.totalCpuQuota} per={o?.maxCpuPerSandbox} />
                <UsageRow what="Memory (GiB)" used={usage.data.currentMemoryUsage} total={usage.data.totalMemoryQuota} per={o?.maxMemoryPerSandbox} />
                <UsageRow what="Disk (GiB)" used={usage.data.currentDiskUsage} total={usage.data.totalDiskQuota} per={o?.maxDiskPerSandbox} />
                <UsageRow what="Snapshots" used={usage.data.currentSnapshotUsage} total={usage.data.totalSnapshotQuota} />
                <UsageRow what="Volumes" used={usage.data.currentVolumeUsage} total={usage.data.totalVolumeQuota} />
              </tbody>
            </table>
          </div>
        ) : (
          usage.loading && <Loading what="usage" />
        )}
      </section>
      <Members base={base} roles={roles.data ?? []} />
      <Roles base={base} roles={roles} />
      <Invitations base={base} roles={roles.data ?? []} />
    </>
  );
}

function UsageRow({ what, used, total, per }: { what: string; used: number; total: number; per?: number | undefined }) {
  return (
    <tr>
      <td>{what}</td>
      <td>
        {used}
        {total > 0 && <span class="muted"> ({Math.round((used / total) * 100)}%)</span>}
      </td>
      <td>{total}</td>
      <td class="optional">{per ?? '—'}</td>
    </tr>
  );
}

/** Role ids as a multiple select; only the organization's and global roles the API listed. */
function RolePicker({ roles, value, onChange, label }: { roles: Role[]; value: string[]; onChange: (ids: string[]) => void; label: string }) {
  return (
    <Field label={label} hint="Ctrl/Cmd-click for several">
      <select multiple size={Math.min(6, Math.max(2, roles.length))} onChange={(e) => onChange(Array.from(e.currentTarget.selectedOptions, (o) => o.value))}>
        {roles.map((r) => (
          <option key={r.id} value={r.id} selected={value.includes(r.id)}>
            {r.name}
          </option>
        ))}
      </select>
    </Field>
  );
}

function Members({ base, roles }: { base: string; roles: Role[] }) {
  const members = usePoll(() => api<Member[]>('GET', `${base}/users`), 5000, [base]);
  const action = useAction();
  const [editing, setEditing] = useState<{ userId: string; role: 'owner' | 'member'; assignedRoleIds: string[] }>();
  const act = (fn: () => Promise<unknown>) => void action.run(fn).then((ok) => ok && (setEditing(undefined), members.reload()));
  return (
    <section class="card" aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={members.error} />
      {!members.data ? (
        members.loading && <Loading what="members" />
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Member</th>
                <th>Role</th>
                <th class="optional">Assigned roles</th>
                <th class="optional">Since</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((m) => (
                <tr key={m.userId}>
                  <td class="wrap">
                    {m.name || m.email}
                    {m.name && <div class="muted">{m.email}</div>}
                  </td>
                  {editing?.userId === m.userId ? (
                    <>
                      <td>
                        <label>
                          <span class="sr-only">Role of {m.email}</span>
                          <select value={editing.role} onChange={(e) => setEditing({ ...editing, role: e.currentTarget.value as 'owner' | 'member' })}>
                            <option value="member">member</option>
                            <option value="owner">owner</option>
                          </select>
                        </label>
                      </td>
                      <td class="optional">
                        <RolePicker label="Assigned roles" roles={roles} value={editing.assignedRoleIds} onChange={(ids) => setEditing({ ...editing, assignedRoleIds: ids })} />
                      </td>
                      <td class="optional">{formatDate(m.createdAt)}</td>
                      <td>
                        <div class="actions">
                          <button
                            class="primary"
                            disabled={action.busy}
                            onClick={() => act(() => api('POST', `${base}/users/${encodeURIComponent(m.userId)}/access`, { role: editing.role, assignedRoleIds: editing.assignedRoleIds }))}
                          >
                            Save
                          </button>
                          <button onClick={() => setEditing(undefined)}>Cancel</button>
                        </div>
                      </td>
                    </>
                  ) : (
                    <>
                      <td>{m.role}</td>
                      <td class="optional wrap">{m.assignedRoles.map((r) => r.name).join(', ') || '—'}</td>
                      <td class="optional">{formatDate(m.createdAt)}</td>
                      <td>
                        <div class="actions">
                          <button onClick={() => setEditing({ userId: m.userId, role: m.role, assignedRoleIds: m.assignedRoles.map((r) => r.id) })}>Change role</button>
                          <button
                            class="danger"
                            disabled={action.busy}
                            onClick={() => confirm(`Remove ${m.email} from the organization? Their keys of it are deleted.`) && act(() => api('DELETE', `${base}/users/${encodeURIComponent(m.userId)}`))}
                          >
                            Remove
                          </button>
                        </div>
                      </td>
                    </>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Roles({ base, roles }: { base: string; roles: Polled<Role[]> }) {
  const action = useAction();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [perms, setPerms] = useState<string[]>([]);
  const create = (e: Event) => {
    e.preventDefault();
    void action.run(() => api('POST', `${base}/roles`, { name: name.trim(), description, permissions: perms })).then((ok) => {
      if (!ok) return;
      setName('');
      setDescription('');
      setPerms([]);
      roles.reload();
    });
  };
  return (
    <section class="card" aria-labelledby="roles-title">
      <h2 id="roles-title">Roles</h2>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={roles.error} />
      {!roles.data ? (
        roles.loading && <Loading what="roles" />
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th class="optional">Description</th>
                <th>Permissions</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {roles.data.map((r) => (
                <tr key={r.id}>
                  <td class="wrap">
                    {r.name}
                    {r.isGlobal && <span class="muted"> (global)</span>}
                  </td>
                  <td class="optional wrap">{r.description || '—'}</td>
                  <td class="wrap">{r.permissions.join(', ')}</td>
                  <td>
                    {!r.isGlobal && (
                      <button
                        class="danger"
                        disabled={action.busy}
                        onClick={() => confirm(`Delete role "${r.name}"?`) && void action.run(() => api('DELETE', `${base}/roles/${encodeURIComponent(r.id)}`)).then((ok) => ok && roles.reload())}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form onSubmit={create} aria-labelledby="create-role-title">
        <h3 id="create-role-title">New role</h3>
        <div class="form-grid">
          <Field label="Name">
            <input required value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={255} />
          </Field>
          <Field label="Description">
            <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} maxLength={1000} />
          </Field>
        </div>
        <fieldset class="form-grid">
          <legend>Permissions</legend>
          {PERMISSIONS.map((p) => (
            <label key={p}>
              <input type="checkbox" checked={perms.includes(p)} onChange={(e) => setPerms(e.currentTarget.checked ? [...perms, p] : perms.filter((x) => x !== p))} /> {p}
            </label>
          ))}
        </fieldset>
        <button type="submit" class="primary" disabled={action.busy || !name.trim() || perms.length === 0}>
          Create role
        </button>
      </form>
    </section>
  );
}

function Invitations({ base, roles }: { base: string; roles: Role[] }) {
  const invitations = usePoll(() => api<Invitation[]>('GET', `${base}/invitations`), 5000, [base]);
  const action = useAction();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<'owner' | 'member'>('member');
  const [assigned, setAssigned] = useState<string[]>([]);
  const invite = (e: Event) => {
    e.preventDefault();
    void action.run(() => api('POST', `${base}/invitations`, { email: email.trim(), role, assignedRoleIds: assigned })).then((ok) => {
      if (!ok) return;
      setEmail('');
      setAssigned([]);
      invitations.reload();
    });
  };
  return (
    <section class="card" aria-labelledby="invitations-title">
      <h2 id="invitations-title">Invitations</h2>
      <ErrorBanner error={action.error} onClose={action.clear} />
      <ErrorBanner error={invitations.error} />
      {!invitations.data ? (
        invitations.loading && <Loading what="invitations" />
      ) : invitations.data.length === 0 ? (
        <p class="muted">No pending invitations.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>E-mail</th>
                <th>Role</th>
                <th class="optional">Invited by</th>
                <th class="optional">Expires</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.map((i) => (
                <tr key={i.id}>
                  <td class="wrap">{i.email}</td>
                  <td>
                    {i.role}
                    {i.assignedRoles.length > 0 && <div class="muted wrap">{i.assignedRoles.map((r) => r.name).join(', ')}</div>}
                  </td>
                  <td class="optional wrap">{i.invitedBy}</td>
                  <td class="optional">{formatDate(i.expiresAt)}</td>
                  <td>
                    <button
                      class="danger"
                      disabled={action.busy}
                      onClick={() => void action.run(() => api('POST', `${base}/invitations/${encodeURIComponent(i.id)}/cancel`)).then((ok) => ok && invitations.reload())}
                    >
                      Cancel
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form onSubmit={invite} aria-labelledby="invite-title">
        <h3 id="invite-title">Invite</h3>
        <div class="form-grid" style={{ alignItems: 'start' }}>
          <Field label="E-mail">
            <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} maxLength={320} />
          </Field>
          <Field label="Role">
            <select value={role} onChange={(e) => setRole(e.currentTarget.value as 'owner' | 'member')}>
              <option value="member">member</option>
              <option value="owner">owner</option>
            </select>
          </Field>
          <RolePicker label="Assigned roles" roles={roles} value={assigned} onChange={setAssigned} />
        </div>
        <button type="submit" class="primary" disabled={action.busy || !email.trim()}>
          Send invitation
        </button>
      </form>
    </section>
  );
}
