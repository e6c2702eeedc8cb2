import pg from 'pg';
import type { ShoalApp } from '../../src/app.js';
import { apiKeyRecord } from '../../src/auth/api-key-format.js';
import { adminAuth } from './app.js';

export interface OrgTestUser {
  id: string;
  email: string;
  personalOrganizationId: string;
  /** A full key of the user's personal organization. */
  auth: { authorization: string };
}

/** A user created by the admin (so with a verified address) with a full key of its personal organization. */
export async function createOrgUser(app: ShoalApp, id: string, email = `${id}@example.test`): Promise<OrgTestUser> {
  const res = await app.inject({ method: 'POST', url: '/api/users', headers: adminAuth, payload: { id, name: id, email, emailVerified: true, createApiKey: true } });
  if (res.statusCode !== 201) throw new Error(`user creation failed: ${res.statusCode} ${res.body}`);
  const body = res.json() as { apiKey: string; organizationId: string };
  return { id, email, personalOrganizationId: body.organizationId, auth: { authorization: `Bearer ${body.apiKey}` } };
}

/**
 * A key of `userId` in `organizationId`, written straight to the database: with API keys alone a user cannot get a
 * key of an organization it joined (keys are made in the caller's organization; a JWT login picks another one), and
 * these tests must not depend on the OIDC login. It stands for the key the member would create after logging in.
 */
export async function insertKey(databaseUrl: string, organizationId: string, userId: string, permissions: string[], name = `k-${Math.random().toString(36).slice(2, 8)}`): Promise<{ authorization: string }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    const { value, keyHash, keyPrefix, keySuffix } = apiKeyRecord();
    await pool.query(
      'INSERT INTO api_key (organization_id, user_id, name, key_hash, key_prefix, key_suffix, permissions) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [organizationId, userId, name, keyHash, keyPrefix, keySuffix, permissions],
    );
    return { authorization: `Bearer ${value}` };
  } finally {
    await pool.end();
  }
}

/** One SQL query against the test database (assertions on rows the API does not expose). */
export async function query<T extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    return (await pool.query<T>(text, values)).rows;
  } finally {
    await pool.end();
  }
}
