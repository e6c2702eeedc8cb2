/**
 * Migration 12 (db/migrations.ts): Shoal's own webhook delivery. Kept here so the webhook tables, the triggers that
 * feed the outbox and the code that drains it are read together.
 *
 * Events are written by triggers on the rows whose change they describe, so an event exists exactly when the change
 * committed (same transaction), whichever code path or API replica made it. A message fans out to one delivery row
 * per subscribed endpoint, also in that transaction; the delivery worker (webhooks/delivery-worker.ts) claims due
 * deliveries with a lease, so a delivery interrupted by an API restart is picked up again by any replica.
 * Re-runnable (IF NOT EXISTS / OR REPLACE), like every migration from 3 on.
 */
export const WEBHOOK_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS webhook_initialization (
  organization_id uuid PRIMARY KEY REFERENCES organization(id) ON DELETE CASCADE,
  svix_application_id text,
  last_error text,
  retry_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhook_endpoint (
  id text PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- Empty: every event type.
  event_types text[] NOT NULL DEFAULT '{}',
  secret text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_endpoint_org_idx ON webhook_endpoint (organization_id, created_at);

CREATE TABLE IF NOT EXISTS webhook_message (
  id text PRIMARY KEY DEFAULT ('msg_' || replace(gen_random_uuid()::text, '-', '')),
  organization_id uuid NOT NULL REFERENCES organization(id) ON DELETE CASCADE,
  event_type text NOT NULL,
  event_id text,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_message_org_idx ON webhook_message (organization_id, created_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_message_event_id_idx ON webhook_message (organization_id, event_id) WHERE event_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS webhook_delivery (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  message_id text NOT NULL REFERENCES webhook_message(id) ON DELETE CASCADE,
  endpoint_id text NOT NULL REFERENCES webhook_endpoint(id) ON DELETE CASCADE,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  claimed_by text,
  claim_expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (message_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id) WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS webhook_attempt (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  delivery_id uuid NOT NULL REFERENCES webhook_delivery(id) ON DELETE CASCADE,
  message_id text NOT NULL REFERENCES webhook_message(id) ON DELETE CASCADE,
  endpoint_id text NOT NULL,
  attempt integer NOT NULL,
  status_code integer,
  response text NOT NULL DEFAULT '',
  duration_ms integer NOT NULL,
  error text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_attempt_message_idx ON webhook_attempt (message_id, created_at);

CREATE OR REPLACE FUNCTION shoal_webhook_ts(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- An event is stored only when some enabled endpoint of the organization wants it (the outbox does not grow for
-- organizations without webhooks), and only while the organization exists: rows removed by the cascade of an
-- organization delete have nobody left to tell.
CREATE OR REPLACE FUNCTION shoal_webhook_enqueue(org uuid, event_type text, payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF org IS NULL THEN RETURN; END IF;
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoint e WHERE e.organization_id = org AND NOT e.disabled
                 AND (cardinality(e.event_types) = 0 OR event_type = ANY (e.event_types))) THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM organization o WHERE o.id = org) THEN RETURN; END IF;
  INSERT INTO webhook_message (organization_id, event_type, payload) VALUES (org, event_type, payload);
END
$$;

CREATE OR REPLACE FUNCTION shoal_webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_delivery (message_id, endpoint_id)
  SELECT NEW.id, e.id FROM webhook_endpoint e
  WHERE e.organization_id = NEW.organization_id AND NOT e.disabled
    AND (cardinality(e.event_types) = 0 OR NEW.event_type = ANY (e.event_types))
  ON CONFLICT DO NOTHING;
  IF FOUND THEN PERFORM pg_notify('shoal_webhook', ''); END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS webhook_message_fan_out ON webhook_message;
CREATE TRIGGER webhook_message_fan_out AFTER INSERT ON webhook_message FOR EACH ROW EXECUTE FUNCTION shoal_webhook_fan_out();

-- Sandbox rows store settled states plus the desired one; clients see the transitional states derived from the pair
-- (services/sandbox-state.ts derivedState, sandbox.repository.ts DERIVED_STATE), and so do webhook receivers:
-- stop gives started > stopping, then stopping > stopped.
CREATE OR REPLACE FUNCTION shoal_sandbox_visible_state(state text, desired text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN state = desired OR state IN ('error', 'build_failed') THEN state
    WHEN desired = 'destroyed' THEN 'destroying'
    WHEN desired = 'started' AND state = 'unknown' THEN 'creating'
    WHEN desired = 'started' AND state IN ('stopped', 'archived') THEN 'starting'
    WHEN desired = 'stopped' AND state = 'started' THEN 'stopping'
    WHEN desired = 'archived' AND state = 'stopped' THEN 'archiving'
    ELSE state END
$$;

CREATE OR REPLACE FUNCTION shoal_webhook_sandbox_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  new_state text := shoal_sandbox_visible_state(NEW.state, NEW.desired_state);
  old_state text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM shoal_webhook_enqueue(NEW.organization_id, 'sandbox.created', jsonb_build_object(
      'id', NEW.id, 'organizationId', NEW.organization_id, 'state', new_state, 'class', NEW.class,
      'createdAt', shoal_webhook_ts(NEW.created_at)));
  ELSE
    old_state := shoal_sandbox_visible_state(OLD.state, OLD.desired_state);
    IF new_state IS DISTINCT FROM old_state THEN
      PERFORM shoal_webhook_enqueue(NEW.organization_id, 'sandbox.state.updated', jsonb_build_object(
        'id', NEW.id, 'organizationId', NEW.organization_id, 'oldState', old_state, 'newState', new_state,
        'updatedAt', shoal_webhook_ts(now())));
    END IF;
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS sandbox_webhook_insert ON sandbox;
CREATE TRIGGER sandbox_webhook_insert AFTER INSERT ON sandbox FOR EACH ROW EXECUTE FUNCTION shoal_webhook_sandbox_event();
DROP TRIGGER IF EXISTS sandbox_webhook_state ON sandbox;
CREATE TRIGGER sandbox_webhook_state AFTER UPDATE OF state, desired_state ON sandbox
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.desired_state IS DISTINCT FROM NEW.desired_state)
  EXECUTE FUNCTION shoal_webhook_sandbox_event();

-- Snapshots and volumes share their payload shapes (with a name); general snapshots (no organization) are skipped.
CREATE OR REPLACE FUNCTION shoal_webhook_named_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE kind text := TG_ARGV[0];
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM shoal_webhook_enqueue(NEW.organization_id, kind || '.created', jsonb_build_object(
      'id', NEW.id, 'name', NEW.name, 'organizationId', NEW.organization_id, 'state', NEW.state,
      'createdAt', shoal_webhook_ts(NEW.created_at)));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM shoal_webhook_enqueue(NEW.organization_id, kind || '.state.updated', jsonb_build_object(
      'id', NEW.id, 'name', NEW.name, 'organizationId', NEW.organization_id, 'oldState', OLD.state,
      'newState', NEW.state, 'updatedAt', shoal_webhook_ts(now())));
  ELSIF kind = 'snapshot' THEN
    PERFORM shoal_webhook_enqueue(OLD.organization_id, 'snapshot.removed', jsonb_build_object(
      'id', OLD.id, 'name', OLD.name, 'organizationId', OLD.organization_id, 'removedAt', shoal_webhook_ts(now())));
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS snapshot_webhook_insert ON snapshot;
CREATE TRIGGER snapshot_webhook_insert AFTER INSERT ON snapshot FOR EACH ROW EXECUTE FUNCTION shoal_webhook_named_event('snapshot');
DROP TRIGGER IF EXISTS snapshot_webhook_state ON snapshot;
CREATE TRIGGER snapshot_webhook_state AFTER UPDATE OF state ON snapshot
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION shoal_webhook_named_event('snapshot');
DROP TRIGGER IF EXISTS snapshot_webhook_delete ON snapshot;
CREATE TRIGGER snapshot_webhook_delete AFTER DELETE ON snapshot FOR EACH ROW EXECUTE FUNCTION shoal_webhook_named_event('snapshot');

-- Volumes are not stored yet; the migration that adds the table must attach these two triggers (see SHOAL_VOLUME_WEBHOOK_TRIGGERS).
DO $$
BEGIN
  IF to_regclass('public.volume') IS NOT NULL THEN
    EXECUTE 'DROP TRIGGER IF EXISTS volume_webhook_insert ON volume';
    EXECUTE 'CREATE TRIGGER volume_webhook_insert AFTER INSERT ON volume FOR EACH ROW EXECUTE FUNCTION shoal_webhook_named_event(''volume'')';
    EXECUTE 'DROP TRIGGER IF EXISTS volume_webhook_state ON volume';
    EXECUTE 'CREATE TRIGGER volume_webhook_state AFTER UPDATE OF state ON volume FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION shoal_webhook_named_event(''volume'')';
  END IF;
END
$$;
`;

/** What a later migration creating the volume table appends, so volume.created / volume.state.updated are emitted. */
export const SHOAL_VOLUME_WEBHOOK_TRIGGERS = `
DROP TRIGGER IF EXISTS volume_webhook_insert ON volume;
CREATE TRIGGER volume_webhook_insert AFTER INSERT ON volume FOR EACH ROW EXECUTE FUNCTION shoal_webhook_named_event('volume');
DROP TRIGGER IF EXISTS volume_webhook_state ON volume;
CREATE TRIGGER volume_webhook_state AFTER UPDATE OF state ON volume
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION shoal_webhook_named_event('volume');
`;
