// Issue 17 item 3: fields the reference declares required but nullable are always sent, as null when empty. Clients
// generated from the reference (the Python SDK among them) fail on a missing key where they accept a null. The test
// reads Shoal's own OpenAPI document (the schema must say required + nullable) and real answers (the key is present).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ShoalApp } from '../src/app.js';
import { createTestDatabase, TEST_DEFAULT_SNAPSHOT, type TestDatabase } from './helpers/database.js';
import { adminAuth, buildTestApp, createTenant } from './helpers/app.js';

let db: TestDatabase;
let app: ShoalApp;

before(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db.url, { background: false });
});

after(async () => {
  await app?.close();
  await db?.drop();
});

/** Component -> fields the reference requires and allows to be null (daytona-api-facts §3, the reference's DTOs). */
const REQUIRED_NULLABLE: Record<string, string[]> = {
  Organization: ['suspendedAt', 'suspensionReason', 'suspendedUntil'],
  SnapshotDto: ['size', 'entrypoint', 'errorReason', 'lastUsedAt'],
};

interface JsonSchema {
  required?: string[];
  properties?: Record<string, { anyOf?: { type?: string }[]; type?: string | string[]; nullable?: boolean }>;
}

const allowsNull = (p: NonNullable<JsonSchema['properties']>[string]) =>
  p.nullable === true || p.type === 'null' || (Array.isArray(p.type) && p.type.includes('null')) || (p.anyOf ?? []).some((s) => s.type === 'null');

test('the OpenAPI document declares the reference\'s required-but-nullable fields as required and nullable', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { components: { schemas: Record<string, JsonSchema> } };
  const wrong: string[] = [];
  for (const [component, fields] of Object.entries(REQUIRED_NULLABLE)) {
    const schema = doc.components.schemas[component];
    assert.ok(schema, `component ${component} is in the document`);
    for (const f of fields) {
      if (!schema.required?.includes(f)) wrong.push(`${component}.${f} not required`);
      const prop = schema.properties?.[f];
      if (!prop || !allowsNull(prop)) wrong.push(`${component}.${f} not nullable`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('real answers carry those keys, null while empty', async () => {
  const tenant = await createTenant(app, 'nullable-fields');
  const org = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: tenant.auth })).json() as Record<string, unknown>;
  for (const f of REQUIRED_NULLABLE.Organization!) assert.ok(f in org && org[f] === null, `Organization.${f} is present and null: ${JSON.stringify(org[f])}`);
  const list = (await app.inject({ method: 'GET', url: '/api/organizations', headers: tenant.auth })).json() as Record<string, unknown>[];
  for (const f of REQUIRED_NULLABLE.Organization!) assert.ok(list.every((o) => f in o), `Organization.${f} is present in the list`);

  // Suspended, the same keys carry values; unsuspended, they are null again rather than gone.
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const suspend = await app.inject({ method: 'POST', url: `/api/organizations/${tenant.organizationId}/suspend`, headers: adminAuth, payload: { reason: 'audit', until } });
  assert.ok(suspend.statusCode < 300, suspend.body);
  const suspended = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: adminAuth })).json() as Record<string, unknown>;
  assert.equal(suspended.suspensionReason, 'audit');
  assert.equal(typeof suspended.suspendedAt, 'string');
  assert.equal(new Date(String(suspended.suspendedUntil)).toISOString(), until);
  await app.inject({ method: 'POST', url: `/api/organizations/${tenant.organizationId}/unsuspend`, headers: adminAuth });
  const back = (await app.inject({ method: 'GET', url: `/api/organizations/${tenant.organizationId}`, headers: adminAuth })).json() as Record<string, unknown>;
  assert.deepEqual([back.suspendedAt, back.suspensionReason, back.suspendedUntil], [null, null, null]);

  const snapshot = (await app.inject({ method: 'GET', url: `/api/snapshots/${encodeURIComponent(TEST_DEFAULT_SNAPSHOT)}`, headers: adminAuth })).json() as Record<string, unknown>;
  for (const f of REQUIRED_NULLABLE.SnapshotDto!) assert.ok(f in snapshot, `SnapshotDto.${f} is present: ${JSON.stringify(snapshot)}`);
});
