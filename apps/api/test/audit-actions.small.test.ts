import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveAudit, toolboxAction, STATE_CHANGING_METHODS, type AuditSpec } from '../src/audit/actions.js';
import { maskSecrets, requestMetadata, MAX_METADATA_BYTES } from '../src/audit/mask.js';
import { apiRoutes } from '../src/routes/index.js';

/** Every audited operation of the public API as `METHOD /path` -> [action, targetType], from the real route table. */
function auditedOperations(): Map<string, [string, string | null]> {
  const out = new Map<string, [string, string | null]>();
  const fake = {
    route(o: { method: string; url: string; config: { audit?: AuditSpec | false } }) {
      const spec = o.config.audit;
      if (spec === false || (!spec && !STATE_CHANGING_METHODS.has(o.method))) return;
      const r = deriveAudit(o.method, o.url, spec || {});
      out.set(`${o.method} ${o.url}`, [r.action, r.targetType]);
    },
  };
  apiRoutes(fake as never, {} as never);
  return out;
}

// The names e2e tests and operators filter on (the reference's AuditAction values where it has one).
const PINNED: Record<string, [string, string]> = {
  'POST /sandbox': ['create', 'sandbox'],
  'DELETE /sandbox/:sandboxId': ['delete', 'sandbox'],
  'POST /sandbox/:sandboxId/start': ['start', 'sandbox'],
  'POST /sandbox/:sandboxId/stop': ['stop', 'sandbox'],
  'POST /sandbox/:sandboxId/archive': ['archive', 'sandbox'],
  'PUT /sandbox/:sandboxId/labels': ['replace_labels', 'sandbox'],
  'POST /sandbox/:sandboxId/backup': ['create_backup', 'sandbox'],
  'POST /sandbox/:sandboxId/public/:isPublic': ['update_public_status', 'sandbox'],
  'POST /sandbox/:sandboxId/autostop/:interval': ['set_auto_stop_interval', 'sandbox'],
  'POST /sandbox/:sandboxId/autoarchive/:interval': ['set_auto_archive_interval', 'sandbox'],
  'POST /sandbox/:sandboxId/autodelete/:interval': ['set_auto_delete_interval', 'sandbox'],
  'POST /snapshots': ['create', 'snapshot'],
  'POST /snapshots/:id/activate': ['activate', 'snapshot'],
  'POST /snapshots/:id/deactivate': ['deactivate', 'snapshot'],
  'PATCH /snapshots/:id/general': ['set_general_status', 'snapshot'],
  'POST /api-keys': ['create', 'api_key'],
  'DELETE /api-keys/:name': ['delete', 'api_key'],
  'POST /docker-registry/:id/set-default': ['set_default', 'docker_registry'],
  'POST /organizations': ['create', 'organization'],
  'DELETE /organizations/:organizationId': ['delete', 'organization'],
  'POST /organizations/:organizationId/leave': ['leave_organization', 'organization'],
  'PATCH /organizations/:organizationId/quota': ['update_quota', 'organization'],
  'POST /organizations/:organizationId/suspend': ['suspend', 'organization'],
  'POST /organizations/:organizationId/unsuspend': ['unsuspend', 'organization'],
  'POST /organizations/:organizationId/sandbox-default-limited-network-egress': ['update_sandbox_default_limited_network_egress', 'organization'],
  'POST /organizations/:organizationId/invitations': ['create', 'organization_invitation'],
  'POST /organizations/:organizationId/invitations/:invitationId/cancel': ['cancel', 'organization_invitation'],
  'POST /organizations/invitations/:invitationId/accept': ['accept', 'organization_invitation'],
  'POST /organizations/invitations/:invitationId/decline': ['decline', 'organization_invitation'],
  'POST /organizations/:organizationId/roles': ['create', 'organization_role'],
  'DELETE /organizations/:organizationId/roles/:roleId': ['delete', 'organization_role'],
  'POST /organizations/:organizationId/users/:userId/access': ['update_access', 'organization_user'],
  'DELETE /organizations/:organizationId/users/:userId': ['delete', 'organization_user'],
  'PATCH /runners/:id/scheduling': ['update_scheduling', 'runner'],
  'POST /users': ['create', 'user'],
  'POST /users/:id/regenerate-key-pair': ['regenerate_key_pair', 'user'],
  'POST /webhooks/organizations/:organizationId/send': ['send_webhook_message', 'organization'],
  'POST /webhooks/organizations/:organizationId/initialize': ['initialize_webhooks', 'organization'],
};

test('the public API records the pinned action names and targets', () => {
  const ops = auditedOperations();
  for (const [op, expected] of Object.entries(PINNED)) assert.deepEqual(ops.get(op), expected, op);
});

test('every write of the public API is audited except POST /audit itself; reads are not', () => {
  const ops = auditedOperations();
  assert.ok(!ops.has('POST /audit'));
  assert.ok(![...ops.keys()].some((k) => k.startsWith('GET ')));
  for (const [op, [action]] of ops) assert.match(action, /^[a-z][a-z0-9_]*$/, op);
});

test('target ids: the last id parameter, or for creates the created id (or name) from the response', () => {
  const params = { sandboxId: 'sb-1', interval: '30', organizationId: 'o-1', userId: 'u-1', name: 'k' };
  const ctx = (result?: unknown) => ({ params, query: {}, body: undefined, principal: null, result });
  assert.equal(deriveAudit('POST', '/sandbox/:sandboxId/autostop/:interval').targetId(ctx()), 'sb-1');
  assert.equal(deriveAudit('POST', '/organizations/:organizationId/users/:userId/access').targetId(ctx()), 'u-1');
  assert.equal(deriveAudit('POST', '/sandbox').targetId(ctx({ id: 'new-1' })), 'new-1');
  assert.equal(deriveAudit('POST', '/api-keys').targetId(ctx({ name: 'k2', value: 'dtn_x' })), 'k2');
  assert.equal(deriveAudit('POST', '/organizations').organizationId({ ...ctx({ id: 'org-new' }), params: {} }), 'org-new');
});

test('toolbox actions follow the reference names', () => {
  assert.equal(toolboxAction('POST', '/process/execute'), 'toolbox_execute_command');
  assert.equal(toolboxAction('POST', '/process/session'), 'toolbox_create_session');
  assert.equal(toolboxAction('POST', '/process/session/s1/exec'), 'toolbox_session_execute_command');
  assert.equal(toolboxAction('DELETE', '/process/session/s1'), 'toolbox_delete_session');
  assert.equal(toolboxAction('DELETE', '/files'), 'toolbox_delete_file');
  assert.equal(toolboxAction('POST', '/files/upload'), 'toolbox_upload_file');
  assert.equal(toolboxAction('POST', '/git/clone'), 'toolbox_git_clone_repository');
  assert.equal(toolboxAction('PUT', '/something/else'), 'toolbox_put');
});

test('masking: env values, passwords, tokens and keys at any depth; other fields kept; big bodies summarized', () => {
  const masked = maskSecrets({
    env: { A: '1', SECRET: 's' },
    password: 'p',
    apiKey: 'k',
    nested: { accessToken: 't', list: [{ privateKey: 'x', keep: 'y' }] },
    labels: { team: 'a' },
    name: 'n',
  });
  assert.deepEqual(masked, {
    env: { A: '********', SECRET: '********' },
    password: '********',
    apiKey: '********',
    nested: { accessToken: '********', list: [{ privateKey: '********', keep: 'y' }] },
    labels: { team: 'a' },
    name: 'n',
  });
  assert.deepEqual(requestMetadata({ blob: 'x'.repeat(MAX_METADATA_BYTES) }, {}), { truncated: true, bytes: MAX_METADATA_BYTES + 20 });
  assert.equal(requestMetadata(undefined, {}), null);
});
