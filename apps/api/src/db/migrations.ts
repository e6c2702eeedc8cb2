import { SHOAL_VOLUME_WEBHOOK_TRIGGERS, WEBHOOK_MIGRATION_SQL } from '../webhooks/migration-sql.js';

/**
 * Versioned migrations, applied in order on start under an advisory lock (see migrate.ts). Never edit an applied
 * migration; append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE "user" (
  id text PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL DEFAULT '',
  role text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organization (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  created_by text NOT NULL,
  personal boolean NOT NULL DEFAULT false,
  suspended boolean NOT NULL DEFAULT false,
  suspended_at timestamptz,
  suspension_reason text,
  suspended_until timestamptz,
  suspension_cleanup_grace_period_hours integer NOT NULL DEFAULT 24,
  total_cpu_quota integer NOT NULL DEFAULT 10,
  total_memory_quota integer NOT NULL DEFAULT 10,
  total_disk_quota integer NOT NULL DEFAULT 30,
  max_cpu_per_sandbox integer NOT NULL DEFAULT 4,
  max_memory_per_sandbox integer NOT NULL DEFAULT 8,
  max_disk_per_sandbox integer NOT NULL DEFAULT 10,
  snapshot_quota integer NOT NULL DEFAULT 100,
  max_snapshot_size integer NOT NULL DEFAULT 20,
  volume_quota integer NOT NULL DEFAULT 100,
  sandbox_limited_network_egress boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organization_user (
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE api_key (
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  key_prefix text NOT NULL,
  key_suffix text NOT NULL,
  permissions text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  PRIMARY KEY (organization_id, user_id, name)
);

CREATE TABLE runner (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain text NOT NULL UNIQUE,
  api_url text NOT NULL,
  proxy_url text NOT NULL,
  api_key text NOT NULL UNIQUE,
  cpu integer NOT NULL,
  memory_gib integer NOT NULL,
  disk_gib integer NOT NULL,
  gpu integer NOT NULL DEFAULT 0,
  gpu_type text NOT NULL DEFAULT '',
  class text NOT NULL DEFAULT 'small',
  current_cpu_usage_percentage double precision NOT NULL DEFAULT 0,
  current_memory_usage_percentage double precision NOT NULL DEFAULT 0,
  current_disk_usage_percentage double precision NOT NULL DEFAULT 0,
  current_allocated_cpu double precision NOT NULL DEFAULT 0,
  current_allocated_memory_gib double precision NOT NULL DEFAULT 0,
  current_allocated_disk_gib double precision NOT NULL DEFAULT 0,
  current_snapshot_count integer NOT NULL DEFAULT 0,
  current_started_sandboxes integer NOT NULL DEFAULT 0,
  availability_score double precision NOT NULL DEFAULT 0,
  region text NOT NULL DEFAULT 'us',
  state text NOT NULL DEFAULT 'initializing',
  version text NOT NULL DEFAULT '0',
  last_checked timestamptz,
  check_claimed_until timestamptz,
  unschedulable boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE snapshot (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organization(id) ON DELETE CASCADE,
  general boolean NOT NULL DEFAULT false,
  name text NOT NULL,
  image_name text NOT NULL,
  internal_name text,
  state text NOT NULL DEFAULT 'pending',
  error_reason text,
  size double precision,
  cpu integer NOT NULL DEFAULT 1,
  gpu integer NOT NULL DEFAULT 0,
  mem integer NOT NULL DEFAULT 1,
  disk integer NOT NULL DEFAULT 3,
  hide_from_users boolean NOT NULL DEFAULT false,
  entrypoint text[],
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  UNIQUE (organization_id, name)
);

CREATE TABLE sandbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  region text NOT NULL DEFAULT 'us',
  runner_id uuid REFERENCES runner(id) ON DELETE SET NULL,
  prev_runner_id uuid,
  class text NOT NULL DEFAULT 'small',
  state text NOT NULL DEFAULT 'unknown',
  desired_state text NOT NULL DEFAULT 'started',
  snapshot text,
  image_ref text,
  entrypoint text[],
  os_user text NOT NULL,
  error_reason text,
  env jsonb NOT NULL DEFAULT '{}',
  public boolean NOT NULL DEFAULT false,
  network_block_all boolean NOT NULL DEFAULT false,
  network_allow_list text,
  labels jsonb NOT NULL DEFAULT '{}',
  backup_state text NOT NULL DEFAULT 'None',
  last_backup_at timestamptz,
  cpu integer NOT NULL,
  gpu integer NOT NULL,
  mem integer NOT NULL,
  disk integer NOT NULL,
  volumes jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_activity_at timestamptz NOT NULL DEFAULT now(),
  auto_stop_interval integer NOT NULL DEFAULT 15,
  auto_archive_interval integer NOT NULL DEFAULT 10080,
  auto_delete_interval integer NOT NULL DEFAULT -1,
  auth_token text NOT NULL,
  daemon_version text,
  claimed_by text,
  claim_expires_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  destroyed_at timestamptz
);
CREATE INDEX sandbox_org_created_idx ON sandbox (organization_id, created_at DESC);
CREATE INDEX sandbox_labels_idx ON sandbox USING gin (labels jsonb_path_ops);
CREATE INDEX sandbox_runner_idx ON sandbox (runner_id);
-- The reconciler only ever scans rows whose state differs from the desired one.
CREATE INDEX sandbox_work_idx ON sandbox (updated_at) WHERE state <> desired_state;

CREATE TABLE ssh_access (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sandbox_id uuid NOT NULL REFERENCES sandbox(id) ON DELETE CASCADE,
  token text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 2,
    name: 'runner-token-hash',
    // Runner tokens were stored in plain text; keep only their SHA-256 (hex), as for API keys.
    sql: `
ALTER TABLE runner ADD COLUMN api_key_hash text;
UPDATE runner SET api_key_hash = encode(sha256(convert_to(api_key, 'UTF8')), 'hex');
ALTER TABLE runner ALTER COLUMN api_key_hash SET NOT NULL;
ALTER TABLE runner ADD CONSTRAINT runner_api_key_hash_key UNIQUE (api_key_hash);
ALTER TABLE runner DROP COLUMN api_key;
`,
  },
  {
    version: 3,
    name: 'sandbox-work-notify',
    // Every API replica LISTENs on shoal_sandbox_work (reconciler/sandbox-events.ts). Raising the NOTIFY in the
    // database, when a desired state is set, covers every writer (requests of any replica, auto-stop/archive/delete)
    // and is delivered only on commit, when the row is visible to the woken replicas. PostgreSQL folds identical
    // notifications of one transaction into one, so a batch of rows costs one wake-up per listener. Re-runnable (a
    // test replays migrations from version 2).
    sql: `
CREATE OR REPLACE FUNCTION shoal_notify_sandbox_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_sandbox_work', '');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS sandbox_work_insert ON sandbox;
CREATE TRIGGER sandbox_work_insert AFTER INSERT ON sandbox
  FOR EACH ROW WHEN (NEW.state <> NEW.desired_state) EXECUTE FUNCTION shoal_notify_sandbox_work();
DROP TRIGGER IF EXISTS sandbox_work_update ON sandbox;
CREATE TRIGGER sandbox_work_update AFTER UPDATE OF desired_state, attempts ON sandbox
  FOR EACH ROW WHEN (NEW.state <> NEW.desired_state AND (OLD.desired_state IS DISTINCT FROM NEW.desired_state OR (OLD.attempts > 0 AND NEW.attempts = 0)))
  EXECUTE FUNCTION shoal_notify_sandbox_work();
`,
  },
  {
    version: 4,
    name: 'snapshot-pipeline',
    // The snapshot manager (reconciler/snapshot-manager.ts) claims rows like the sandbox reconciler does, and is woken
    // through the same work channel when a snapshot needs work (created, deleted, activated), from any replica.
    sql: `
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS build_runner_id uuid REFERENCES runner(id) ON DELETE SET NULL;
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS claim_expires_at timestamptz;
CREATE INDEX IF NOT EXISTS snapshot_work_idx ON snapshot (created_at) WHERE state IN ('pending', 'pulling', 'pending_validation', 'validating', 'removing');
CREATE OR REPLACE FUNCTION shoal_notify_snapshot_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_sandbox_work', 'snapshot');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS snapshot_work_insert ON snapshot;
CREATE TRIGGER snapshot_work_insert AFTER INSERT ON snapshot
  FOR EACH ROW WHEN (NEW.state IN ('pending', 'removing')) EXECUTE FUNCTION shoal_notify_snapshot_work();
DROP TRIGGER IF EXISTS snapshot_work_update ON snapshot;
CREATE TRIGGER snapshot_work_update AFTER UPDATE OF state ON snapshot
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('pending', 'removing')) EXECUTE FUNCTION shoal_notify_snapshot_work();
`,
  },
  {
    version: 5,
    name: 'docker-registry',
    // Registry passwords are stored only as AES-256-GCM ciphertext (services/registry-secrets.ts). Push-access
    // credentials of the internal registry are stored as the SHA-256 of their secret, with the project they may write.
    // Re-runnable, like every migration from 3 on (a test replays migrations from version 2).
    sql: `
CREATE TABLE IF NOT EXISTS docker_registry (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  url text NOT NULL,
  username text NOT NULL DEFAULT '',
  password_ciphertext text NOT NULL DEFAULT '',
  is_default boolean NOT NULL DEFAULT false,
  is_fallback boolean NOT NULL DEFAULT false,
  project text NOT NULL DEFAULT '',
  organization_id uuid REFERENCES organization(id) ON DELETE CASCADE,
  region text,
  registry_type text NOT NULL DEFAULT 'internal' CHECK (registry_type IN ('internal', 'organization', 'transient', 'backup')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS docker_registry_org_idx ON docker_registry (organization_id, created_at);

CREATE TABLE IF NOT EXISTS registry_push_access (
  username text PRIMARY KEY,
  secret_hash text NOT NULL,
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  project text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS registry_push_access_expiry_idx ON registry_push_access (expires_at);
`,
  },
  {
    version: 6,
    name: 'build-info',
    // One row per distinct build (Dockerfile + context hashes): snapshots and sandboxes built from the same input share
    // it, so a second identical create finds the snapshot already built (services/build.service.ts).
    sql: `
CREATE TABLE IF NOT EXISTS build_info (
  snapshot_ref text PRIMARY KEY,
  dockerfile_content text NOT NULL,
  context_hashes text[] NOT NULL DEFAULT '{}',
  last_used_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS build_info_snapshot_ref text REFERENCES build_info(snapshot_ref);
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS build_info_snapshot_ref text REFERENCES build_info(snapshot_ref);
CREATE INDEX IF NOT EXISTS snapshot_build_info_idx ON snapshot (organization_id, build_info_snapshot_ref) WHERE build_info_snapshot_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS sandbox_build_info_idx ON sandbox (build_info_snapshot_ref) WHERE build_info_snapshot_ref IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'build-driver',
    // Builds are driven from claimed snapshot rows (reconciler/build-driver.ts), so any API replica picks up a build
    // whose driver died; build_started_at is what the build timeout is measured from, across takeovers.
    sql: `
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS build_started_at timestamptz;
CREATE INDEX IF NOT EXISTS snapshot_build_work_idx ON snapshot (created_at) WHERE state IN ('build_pending', 'building');
`,
  },
  {
    version: 9,
    name: 'snapshot-runner-copies',
    // An inactive snapshot's image is taken off the runners once no sandbox uses it (reconciler/snapshot-lifecycle.ts);
    // null while copies may remain, so a runner that refused (409, in use) is asked again later.
    sql: `
ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS runner_copies_removed_at timestamptz;
CREATE INDEX IF NOT EXISTS snapshot_inactive_copies_idx ON snapshot (updated_at) WHERE state = 'inactive' AND runner_copies_removed_at IS NULL;
`,
  },
  {
    version: 10,
    name: 'organization-access',
    // Organization roles (7 global ones seeded with fixed ids, others per organization), roles assigned to members,
    // and invitations matched by e-mail (stored lower-case; at most one pending per organization and e-mail).
    // Re-runnable, like every migration from 3 on.
    sql: `
CREATE TABLE IF NOT EXISTS organization_role (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organization(id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL DEFAULT '{}',
  is_global boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS organization_role_org_idx ON organization_role (organization_id, created_at);
INSERT INTO organization_role (id, name, description, permissions, is_global) VALUES
  ('00000000-0000-0000-0000-000000000001', 'Developer', 'Grants the ability to create sandboxes and keys in the organization', '{write:sandboxes}', true),
  ('00000000-0000-0000-0000-000000000002', 'Sandboxes Admin', 'Grants admin access to sandboxes in the organization', '{write:sandboxes,delete:sandboxes}', true),
  ('00000000-0000-0000-0000-000000000003', 'Snapshots Admin', 'Grants admin access to snapshots in the organization', '{write:snapshots,delete:snapshots}', true),
  ('00000000-0000-0000-0000-000000000004', 'Registries Admin', 'Grants admin access to docker registries in the organization', '{write:registries,delete:registries}', true),
  ('00000000-0000-0000-0000-000000000005', 'Super Admin', 'Grants full access to sandboxes, snapshots and docker registries in the organization', '{write:registries,delete:registries,write:snapshots,delete:snapshots,write:sandboxes,delete:sandboxes}', true),
  ('00000000-0000-0000-0000-000000000006', 'Volumes Admin', 'Grants admin access to volumes in the organization', '{read:volumes,write:volumes,delete:volumes}', true),
  ('00000000-0000-0000-0000-000000000007', 'Auditor', 'Grants access to the audit logs of the organization', '{read:audit_logs}', true)
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS organization_role_assignment (
  organization_id uuid NOT NULL,
  user_id text NOT NULL,
  role_id uuid NOT NULL REFERENCES organization_role(id) ON DELETE CASCADE,
  PRIMARY KEY (organization_id, user_id, role_id),
  FOREIGN KEY (organization_id, user_id) REFERENCES organization_user(organization_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS organization_role_assignment_role_idx ON organization_role_assignment (role_id);

CREATE TABLE IF NOT EXISTS organization_invitation (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  email text NOT NULL,
  invited_by text NOT NULL DEFAULT '',
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
  expires_at timestamptz NOT NULL DEFAULT now() + interval '7 days',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS organization_invitation_pending_idx ON organization_invitation (organization_id, email) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS organization_invitation_email_idx ON organization_invitation (email) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS organization_invitation_role (
  invitation_id uuid NOT NULL REFERENCES organization_invitation(id) ON DELETE CASCADE,
  role_id uuid NOT NULL REFERENCES organization_role(id) ON DELETE CASCADE,
  PRIMARY KEY (invitation_id, role_id)
);

-- Every user that exists before this migration was created by the admin (or is the admin), which Shoal treats as
-- a verified address; later users get the flag from whoever creates them (admin POST /users, OIDC email_verified).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'user' AND column_name = 'email_verified') THEN
    ALTER TABLE "user" ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
    UPDATE "user" SET email_verified = true;
  END IF;
END $$;
`,
  },
  {
    version: 11,
    name: 'audit-log',
    // One row per state-changing request (audit/hooks.ts): created before the handler runs, completed with the outcome.
    // actor_id is a user id or "runner:<id>"; no foreign keys, so rows outlive the users, organizations and resources
    // they name. Listing is newest first, for everyone or one organization.
    sql: `
CREATE TABLE IF NOT EXISTS audit_log (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  actor_id text NOT NULL,
  actor_email text NOT NULL DEFAULT '',
  organization_id uuid,
  action text NOT NULL,
  target_type text,
  target_id text,
  status_code integer,
  error_message text,
  ip_address text,
  user_agent text,
  source text,
  metadata jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_created_at_idx ON audit_log (created_at);
CREATE INDEX IF NOT EXISTS audit_log_org_created_at_idx ON audit_log (organization_id, created_at);
`,
  },
  {
    version: 12,
    name: 'webhooks',
    // Webhook endpoints, the event outbox fed by triggers in the transaction of the change, deliveries claimed with a
    // lease and every attempt (webhooks/migration-sql.ts).
    sql: WEBHOOK_MIGRATION_SQL,
  },
  {
    version: 13,
    name: 'user-key-pair',
    // The SSH key pair each user has (POST /users/{id}/regenerate-key-pair replaces it): the OpenSSH public key and
    // the private key sealed with the platform secret, so a database dump alone does not hold usable private keys.
    sql: `ALTER TABLE "user" ADD COLUMN IF NOT EXISTS key_pair jsonb;`,
  },
  {
    version: 14,
    name: 'volumes',
    // Volumes (issue 13): the row is the truth the volume manager drives from (pending_create -> creating -> ready,
    // pending_delete -> deleting -> deleted) under a lease like snapshots, so a restart resumes the transitions. A name
    // is unique in its organization among volumes not deleted; deleted rows stay for includeDeleted.
    sql: `
CREATE TABLE IF NOT EXISTS volume (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  name text NOT NULL,
  state text NOT NULL DEFAULT 'pending_create'
    CHECK (state IN ('pending_create', 'creating', 'ready', 'pending_delete', 'deleting', 'deleted', 'error')),
  error_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  claimed_by text,
  claim_expires_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS volume_org_name_idx ON volume (organization_id, name) WHERE state <> 'deleted';
CREATE INDEX IF NOT EXISTS volume_work_idx ON volume (created_at) WHERE state IN ('pending_create', 'creating', 'pending_delete', 'deleting');
${SHOAL_VOLUME_WEBHOOK_TRIGGERS}`,
  },
  {
    version: 15,
    name: 'sandbox backups and archives',
    // Archive and backup move a sandbox's writable layer to object storage (issue 13). backup_snapshot is the object
    // key of the last completed backup (what recovery restores from), existing_backup_snapshots every one made; the
    // backup driver claims Pending rows (and InProgress ones whose lease ran out: a crashed API's) under a lease of its
    // own, separate from the reconciler's. An archived sandbox being started shows `restoring`.
    sql: `
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS backup_snapshot text;
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS backup_error_reason text;
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS existing_backup_snapshots jsonb NOT NULL DEFAULT '[]';
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS backup_claimed_by text;
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS backup_claim_expires_at timestamptz;
CREATE INDEX IF NOT EXISTS sandbox_backup_work_idx ON sandbox (updated_at) WHERE backup_state IN ('Pending', 'InProgress');
CREATE OR REPLACE FUNCTION shoal_sandbox_visible_state(state text, desired text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN state = desired OR state IN ('error', 'build_failed') THEN state
    WHEN desired = 'destroyed' THEN 'destroying'
    WHEN desired = 'started' AND state = 'unknown' THEN 'creating'
    WHEN desired = 'started' AND state = 'archived' THEN 'restoring'
    WHEN desired = 'started' AND state = 'stopped' THEN 'starting'
    WHEN desired = 'stopped' AND state = 'started' THEN 'stopping'
    WHEN desired = 'archived' AND state = 'stopped' THEN 'archiving'
    ELSE state END
$$;`,
  },
  {
    version: 16,
    name: 'credential-change-notify',
    // Each API process caches what an API key resolved to (auth/credential-cache.ts) and empties that cache on
    // shoal_credentials. Raised here, by the database, so every writer is covered: any replica's requests, cascades
    // (an organization or user deleted takes its keys and memberships along) and SQL run by hand. last_used_at is
    // written every few seconds per busy key and changes nothing a cache holds, so it does not notify.
    sql: `
CREATE OR REPLACE FUNCTION shoal_notify_credentials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_credentials', '');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS api_key_credentials ON api_key;
CREATE TRIGGER api_key_credentials AFTER DELETE OR UPDATE OF organization_id, user_id, key_hash, permissions, expires_at ON api_key
  FOR EACH ROW EXECUTE FUNCTION shoal_notify_credentials();
DROP TRIGGER IF EXISTS api_key_credentials_truncate ON api_key;
CREATE TRIGGER api_key_credentials_truncate AFTER TRUNCATE ON api_key FOR EACH STATEMENT EXECUTE FUNCTION shoal_notify_credentials();
DROP TRIGGER IF EXISTS user_credentials ON "user";
CREATE TRIGGER user_credentials AFTER DELETE OR UPDATE OF id, email, role ON "user"
  FOR EACH ROW EXECUTE FUNCTION shoal_notify_credentials();
DROP TRIGGER IF EXISTS organization_user_credentials ON organization_user;
CREATE TRIGGER organization_user_credentials AFTER INSERT OR DELETE OR UPDATE ON organization_user
  FOR EACH ROW EXECUTE FUNCTION shoal_notify_credentials();
DROP TRIGGER IF EXISTS user_credentials_truncate ON "user";
CREATE TRIGGER user_credentials_truncate AFTER TRUNCATE ON "user" FOR EACH STATEMENT EXECUTE FUNCTION shoal_notify_credentials();
DROP TRIGGER IF EXISTS organization_user_credentials_truncate ON organization_user;
CREATE TRIGGER organization_user_credentials_truncate AFTER TRUNCATE ON organization_user FOR EACH STATEMENT EXECUTE FUNCTION shoal_notify_credentials();
`,
  },
  {
    version: 17,
    name: 'warm-pool',
    // Pools of started sandboxes (issue 15; services/warm-pool.service.ts). A pool is one shape: snapshot, resources and
    // the OS user the toolbox drops to at start. Pooled sandboxes belong to a placeholder organization that no user is a
    // member of, so lists, quotas, webhooks and audit of real organizations never see them; a claim moves one into the
    // caller's organization in one UPDATE ... FOR UPDATE SKIP LOCKED, after which it is an ordinary sandbox.
    sql: `
CREATE TABLE IF NOT EXISTS warm_pool (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  snapshot text NOT NULL,
  cpu integer NOT NULL,
  gpu integer NOT NULL DEFAULT 0,
  mem integer NOT NULL,
  disk integer NOT NULL,
  os_user text NOT NULL DEFAULT 'daytona',
  size integer NOT NULL CHECK (size >= 0),
  error_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (snapshot, cpu, gpu, mem, disk, os_user)
);
ALTER TABLE sandbox ADD COLUMN IF NOT EXISTS warm_pool_id uuid REFERENCES warm_pool(id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS sandbox_warm_pool_idx ON sandbox (warm_pool_id, created_at) WHERE warm_pool_id IS NOT NULL;
INSERT INTO organization (id, name, created_by, personal, total_cpu_quota, total_memory_quota, total_disk_quota)
  VALUES ('00000000-0000-0000-0000-000000000000', 'shoal warm pool', 'shoal', false, 0, 0, 0)
  ON CONFLICT (id) DO NOTHING;
-- A claim is the user's create: the organization's webhooks get the same sandbox.created a cold create sends.
CREATE OR REPLACE FUNCTION shoal_webhook_sandbox_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM shoal_webhook_enqueue(NEW.organization_id, 'sandbox.created', jsonb_build_object(
    'id', NEW.id, 'organizationId', NEW.organization_id, 'state', shoal_sandbox_visible_state(NEW.state, NEW.desired_state),
    'class', NEW.class, 'createdAt', shoal_webhook_ts(NEW.created_at)));
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS sandbox_webhook_claimed ON sandbox;
CREATE TRIGGER sandbox_webhook_claimed AFTER UPDATE OF warm_pool_id ON sandbox
  FOR EACH ROW WHEN (OLD.warm_pool_id IS NOT NULL AND NEW.warm_pool_id IS NULL AND OLD.organization_id IS DISTINCT FROM NEW.organization_id)
  EXECUTE FUNCTION shoal_webhook_sandbox_claimed();
`,
  },
  {
    version: 18,
    name: 'sandbox-row-notify',
    // Each API process keeps recently read sandbox rows (services/row-cache.ts) for GET /sandbox/{id} and the
    // proxy, and drops one on shoal_sandbox_row with its id. Raised here so every writer is covered: any replica, the
    // reconciler, cascades and SQL run by hand. Inserts need no notice: a row is never cached before it exists. A
    // runner's domain is part of the cached row (runnerDomain), so changing it, or removing a runner, drops them all.
    sql: `
CREATE OR REPLACE FUNCTION shoal_notify_sandbox_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_sandbox_row', OLD.id::text);
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION shoal_notify_sandbox_rows_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_sandbox_row', '*');
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS sandbox_row_notify ON sandbox;
CREATE TRIGGER sandbox_row_notify AFTER UPDATE OR DELETE ON sandbox FOR EACH ROW EXECUTE FUNCTION shoal_notify_sandbox_row();
DROP TRIGGER IF EXISTS sandbox_row_truncate ON sandbox;
CREATE TRIGGER sandbox_row_truncate AFTER TRUNCATE ON sandbox FOR EACH STATEMENT EXECUTE FUNCTION shoal_notify_sandbox_rows_all();
DROP TRIGGER IF EXISTS runner_domain_notify ON runner;
CREATE TRIGGER runner_domain_notify AFTER DELETE OR UPDATE OF domain ON runner FOR EACH ROW EXECUTE FUNCTION shoal_notify_sandbox_rows_all();
`,
  },
  {
    version: 19,
    name: 'claim-in-one-call',
    // A warm-pool claim was five round trips in a transaction (BEGIN, the organization's lock, its usage, the UPDATE,
    // COMMIT), about 4.5 ms of a 12 ms pooled create on 2 busy cores. shoal_claim_pooled does the same in one call:
    // it locks the organization, sums its usage only then (each statement of a function gets a fresh snapshot under
    // READ COMMITTED, so claims and creates that held the lock before are counted), and takes the claims in order,
    // each against the usage the previous ones left. A claim over a quota is refused with the usage and quotas it was
    // checked against, so the API words the error (services/claim-batcher.ts); a claim whose pool is empty gets no id.
    // shoal_organization_usage is the one definition of what counts against the quotas; the repository's usage()
    // calls it too.
    sql: `
CREATE OR REPLACE FUNCTION shoal_organization_usage(p_org uuid, p_exclude uuid DEFAULT NULL)
RETURNS TABLE (cpu integer, mem integer, disk integer) LANGUAGE sql STABLE AS $$
  SELECT
    coalesce(sum(s.cpu) FILTER (WHERE s.active), 0)::integer,
    coalesce(sum(s.mem) FILTER (WHERE s.active), 0)::integer,
    coalesce(sum(s.disk) FILTER (WHERE s.active OR s.state = 'stopped'), 0)::integer
  FROM (
    SELECT cpu, mem, disk, state,
      (desired_state = 'started' AND state NOT IN ('error', 'build_failed', 'destroyed')) OR state = 'started' AS active
    FROM sandbox WHERE organization_id = p_org AND (p_exclude IS NULL OR id <> p_exclude)
  ) s
$$;
CREATE OR REPLACE FUNCTION shoal_claim_pooled(p_org uuid, p_claims jsonb)
RETURNS TABLE (ord integer, sandbox_id uuid, runner_id uuid, refused boolean,
  used_cpu integer, used_mem integer, used_disk integer, quota_cpu integer, quota_mem integer, quota_disk integer)
LANGUAGE plpgsql AS $$
DECLARE
  c jsonb;
  pool uuid;
BEGIN
  SELECT o.total_cpu_quota, o.total_memory_quota, o.total_disk_quota INTO quota_cpu, quota_mem, quota_disk
    FROM organization o WHERE o.id = p_org FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'organization % not found', p_org; END IF;
  SELECT u.cpu, u.mem, u.disk INTO used_cpu, used_mem, used_disk FROM shoal_organization_usage(p_org) u;
  ord := 0;
  FOR c IN SELECT value FROM jsonb_array_elements(p_claims) LOOP
    sandbox_id := NULL;
    runner_id := NULL;
    refused := used_cpu + (c->>'cpu')::integer > quota_cpu OR used_mem + (c->>'mem')::integer > quota_mem
      OR used_disk + (c->>'disk')::integer > quota_disk;
    IF NOT refused THEN
      UPDATE sandbox SET
        organization_id = p_org,
        class = c->'set'->>'class',
        labels = c->'set'->'labels',
        public = (c->'set'->>'public')::boolean,
        auto_stop_interval = (c->'set'->>'autoStopInterval')::integer,
        auto_archive_interval = (c->'set'->>'autoArchiveInterval')::integer,
        auto_delete_interval = (c->'set'->>'autoDeleteInterval')::integer,
        auth_token = c->'set'->>'authToken',
        env = c->'set'->'env',
        network_block_all = (c->'set'->>'networkBlockAll')::boolean,
        network_allow_list = c->'set'->>'networkAllowList',
        warm_pool_id = NULL,
        created_at = now(),
        updated_at = now(),
        last_activity_at = now()
      WHERE sandbox.id = (
        SELECT s.id FROM sandbox s
        JOIN runner r ON r.id = s.runner_id AND r.state = 'ready' AND NOT r.unschedulable
        WHERE s.warm_pool_id = (c->>'poolId')::uuid AND s.state = 'started' AND s.desired_state = 'started'
          AND (c->>'region' IS NULL OR s.region = c->>'region')
        ORDER BY s.created_at LIMIT 1
        FOR UPDATE OF s SKIP LOCKED)
      RETURNING sandbox.id, sandbox.runner_id INTO sandbox_id, runner_id;
      IF sandbox_id IS NOT NULL THEN
        used_cpu := used_cpu + (c->>'cpu')::integer;
        used_mem := used_mem + (c->>'mem')::integer;
        used_disk := used_disk + (c->>'disk')::integer;
      END IF;
    END IF;
    RETURN NEXT;
    ord := ord + 1;
  END LOOP;
END
$$;
`,
  },
  {
    version: 20,
    name: 'claim-finds-its-pool',
    // A pooled create was still four round trips before its runner call: the pool's lookup, the claim, and the
    // claimed row and runner read back. The claim now takes the create's shape and finds the pool itself (a claim
    // naming a poolId, as an API of migration 19 sends, still works), and looks at no organization when no claim has a
    // pool, so a create of a snapshot without one pays one round trip for that answer as before. The claimed rows
    // come back in the same statement through shoal_sandbox_now: a PL/pgSQL function (never inlined by the planner)
    // whose query takes a fresh snapshot, so it sees the claim's UPDATE, which the calling statement's own snapshot
    // predates.
    sql: `
CREATE OR REPLACE FUNCTION shoal_sandbox_now(p_id uuid) RETURNS SETOF sandbox LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY SELECT * FROM sandbox WHERE id = p_id;
END
$$;
CREATE OR REPLACE FUNCTION shoal_claim_pooled(p_org uuid, p_claims jsonb)
RETURNS TABLE (ord integer, sandbox_id uuid, runner_id uuid, refused boolean,
  used_cpu integer, used_mem integer, used_disk integer, quota_cpu integer, quota_mem integer, quota_disk integer)
LANGUAGE plpgsql AS $$
DECLARE
  c jsonb;
  pools uuid[];
BEGIN
  pools := ARRAY(
    SELECT coalesce((e.value->>'poolId')::uuid, (
      SELECT w.id FROM warm_pool w
      WHERE w.snapshot = e.value->>'snapshot' AND w.cpu = (e.value->>'cpu')::integer AND w.gpu = (e.value->>'gpu')::integer
        AND w.mem = (e.value->>'mem')::integer AND w.disk = (e.value->>'disk')::integer AND w.os_user = e.value->>'osUser'
        AND w.size > 0))
    FROM jsonb_array_elements(p_claims) WITH ORDINALITY e ORDER BY e.ordinality);
  refused := false;
  IF cardinality(array_remove(pools, NULL)) = 0 THEN
    FOR i IN 0 .. cardinality(pools) - 1 LOOP
      ord := i;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;
  SELECT o.total_cpu_quota, o.total_memory_quota, o.total_disk_quota INTO quota_cpu, quota_mem, quota_disk
    FROM organization o WHERE o.id = p_org FOR UPDATE;
  IF NOT FOUND THEN RAISE EXCEPTION 'organization % not found', p_org; END IF;
  SELECT u.cpu, u.mem, u.disk INTO used_cpu, used_mem, used_disk FROM shoal_organization_usage(p_org) u;
  ord := 0;
  FOR c IN SELECT value FROM jsonb_array_elements(p_claims) LOOP
    sandbox_id := NULL;
    runner_id := NULL;
    refused := pools[ord + 1] IS NOT NULL AND (used_cpu + (c->>'cpu')::integer > quota_cpu
      OR used_mem + (c->>'mem')::integer > quota_mem OR used_disk + (c->>'disk')::integer > quota_disk);
    IF pools[ord + 1] IS NOT NULL AND NOT refused THEN
      UPDATE sandbox SET
        organization_id = p_org,
        class = c->'set'->>'class',
        labels = c->'set'->'labels',
        public = (c->'set'->>'public')::boolean,
        auto_stop_interval = (c->'set'->>'autoStopInterval')::integer,
        auto_archive_interval = (c->'set'->>'autoArchiveInterval')::integer,
        auto_delete_interval = (c->'set'->>'autoDeleteInterval')::integer,
        auth_token = c->'set'->>'authToken',
        env = c->'set'->'env',
        network_block_all = (c->'set'->>'networkBlockAll')::boolean,
        network_allow_list = c->'set'->>'networkAllowList',
        warm_pool_id = NULL,
        created_at = now(),
        updated_at = now(),
        last_activity_at = now()
      WHERE sandbox.id = (
        SELECT s.id FROM sandbox s
        JOIN runner r ON r.id = s.runner_id AND r.state = 'ready' AND NOT r.unschedulable
        WHERE s.warm_pool_id = pools[ord + 1] AND s.state = 'started' AND s.desired_state = 'started'
          AND (c->>'region' IS NULL OR s.region = c->>'region')
        ORDER BY s.created_at LIMIT 1
        FOR UPDATE OF s SKIP LOCKED)
      RETURNING sandbox.id, sandbox.runner_id INTO sandbox_id, runner_id;
      IF sandbox_id IS NOT NULL THEN
        used_cpu := used_cpu + (c->>'cpu')::integer;
        used_mem := used_mem + (c->>'mem')::integer;
        used_disk := used_disk + (c->>'disk')::integer;
      END IF;
    END IF;
    RETURN NEXT;
    ord := ord + 1;
  END LOOP;
END
$$;
`,
  },
  {
    version: 21,
    name: 'runner-row-notify',
    // Runner rows are cached too (services/row-cache.ts): the proxy and a warm-pool claim read one per request to
    // know where to send it (its address, and its token's hash, which the API's calls to it are signed with). A change
    // of any column, or its removal, raises shoal_runner_row with its id, as migration 18 does for sandboxes; except
    // the health check's figures (usage, lastChecked): it writes them twice every 10 s, which would empty the cache as
    // often, and no reader of the cache uses them.
    sql: `
CREATE OR REPLACE FUNCTION shoal_notify_runner_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_runner_row', OLD.id::text);
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION shoal_notify_runner_rows_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shoal_runner_row', '*');
  RETURN NULL;
END $$;
-- Every column counts but the health check's own (compared as JSON, so a column added later counts too).
CREATE OR REPLACE FUNCTION shoal_notify_runner_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  health CONSTANT text[] := ARRAY['current_cpu_usage_percentage', 'current_memory_usage_percentage',
    'current_disk_usage_percentage', 'current_allocated_cpu', 'current_allocated_memory_gib', 'current_allocated_disk_gib',
    'current_snapshot_count', 'current_started_sandboxes', 'availability_score', 'last_checked', 'check_claimed_until',
    'updated_at'];
BEGIN
  IF (to_jsonb(OLD) - health) IS DISTINCT FROM (to_jsonb(NEW) - health) THEN
    PERFORM pg_notify('shoal_runner_row', OLD.id::text);
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS runner_row_notify ON runner;
CREATE TRIGGER runner_row_notify AFTER UPDATE ON runner FOR EACH ROW EXECUTE FUNCTION shoal_notify_runner_row_changed();
DROP TRIGGER IF EXISTS runner_row_delete_notify ON runner;
CREATE TRIGGER runner_row_delete_notify AFTER DELETE ON runner FOR EACH ROW EXECUTE FUNCTION shoal_notify_runner_row();
DROP TRIGGER IF EXISTS runner_row_truncate ON runner;
CREATE TRIGGER runner_row_truncate AFTER TRUNCATE ON runner FOR EACH STATEMENT EXECUTE FUNCTION shoal_notify_runner_rows_all();
`,
  },
];
