import { sql, type Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ClaimedRows } from '../reconciler/claim-loop.js';
import type { WebhookAttemptTable, WebhookEndpointTable, WebhookInitializationTable, WebhookMessageTable } from '../webhooks/tables.js';

export type WebhookEndpoint = Selectable<WebhookEndpointTable>;
export type WebhookMessage = Selectable<WebhookMessageTable>;
export type WebhookAttempt = Selectable<WebhookAttemptTable>;
export type WebhookInitialization = Selectable<WebhookInitializationTable>;

/** A claimed delivery with what is needed to send it. */
export interface DueDelivery {
  id: string;
  attempts: number;
  messageId: string;
  eventType: string;
  payload: Record<string, unknown>;
  messageCreatedAt: Date;
  endpointId: string;
  url: string;
  secret: string;
}

export interface MessageSummary {
  id: string;
  eventType: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  deliveries: { endpointId: string; state: string; attempts: number; nextAttemptAt: Date }[];
}

export class WebhookRepository implements ClaimedRows<DueDelivery> {
  constructor(private readonly db: Db) {}

  /* ---- endpoints ---- */

  listEndpoints(organizationId: string): Promise<WebhookEndpoint[]> {
    return this.db.selectFrom('webhookEndpoint').selectAll().where('organizationId', '=', organizationId).orderBy('createdAt').execute();
  }

  findEndpoint(organizationId: string, id: string): Promise<WebhookEndpoint | undefined> {
    return this.db.selectFrom('webhookEndpoint').selectAll().where('organizationId', '=', organizationId).where('id', '=', id).executeTakeFirst();
  }

  countEndpoints(organizationId: string): Promise<number> {
    return this.db
      .selectFrom('webhookEndpoint')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('organizationId', '=', organizationId)
      .executeTakeFirstOrThrow()
      .then((r) => r.n);
  }

  insertEndpoint(e: { id: string; organizationId: string; url: string; description: string; eventTypes: string[]; secret: string; disabled: boolean }): Promise<WebhookEndpoint> {
    return this.db.insertInto('webhookEndpoint').values(e).returningAll().executeTakeFirstOrThrow();
  }

  updateEndpoint(
    organizationId: string,
    id: string,
    patch: Partial<{ url: string; description: string; eventTypes: string[]; disabled: boolean; secret: string }>,
  ): Promise<WebhookEndpoint | undefined> {
    return this.db
      .updateTable('webhookEndpoint')
      .set({ ...patch, updatedAt: sql<Date>`now()` })
      .where('organizationId', '=', organizationId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * The cascade to the endpoint's deliveries can meet the delivery worker recording an attempt on one of them; if
   * PostgreSQL picks the delete as the deadlock victim, it is tried again.
   */
  async deleteEndpoint(organizationId: string, id: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.db.deleteFrom('webhookEndpoint').where('organizationId', '=', organizationId).where('id', '=', id).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
      }
    }
  }

  /* ---- messages ---- */

  /** Inserts a message (the fan-out trigger creates its deliveries); an `eventId` already used returns the earlier message. */
  async insertMessage(organizationId: string, eventType: string, payload: unknown, eventId: string | null): Promise<WebhookMessage> {
    const inserted = await this.db
      .insertInto('webhookMessage')
      .values({ organizationId, eventType, eventId, payload: JSON.stringify(payload) })
      .onConflict((oc) => oc.columns(['organizationId', 'eventId']).where('eventId', 'is not', null).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return inserted;
    return this.db
      .selectFrom('webhookMessage')
      .selectAll()
      .where('organizationId', '=', organizationId)
      .where('eventId', '=', eventId)
      .executeTakeFirstOrThrow();
  }

  findMessage(organizationId: string, id: string): Promise<WebhookMessage | undefined> {
    return this.db.selectFrom('webhookMessage').selectAll().where('organizationId', '=', organizationId).where('id', '=', id).executeTakeFirst();
  }

  async recentMessages(organizationId: string, limit: number): Promise<MessageSummary[]> {
    const messages = await this.db
      .selectFrom('webhookMessage')
      .selectAll()
      .where('organizationId', '=', organizationId)
      .orderBy('createdAt', 'desc')
      .limit(limit)
      .execute();
    if (messages.length === 0) return [];
    const deliveries = await this.db
      .selectFrom('webhookDelivery')
      .select(['messageId', 'endpointId', 'state', 'attempts', 'nextAttemptAt'])
      .where(
        'messageId',
        'in',
        messages.map((m) => m.id),
      )
      .execute();
    return messages.map((m) => ({
      id: m.id,
      eventType: m.eventType,
      payload: m.payload,
      createdAt: m.createdAt,
      deliveries: deliveries.filter((d) => d.messageId === m.id).map(({ messageId: _m, ...d }) => d),
    }));
  }

  attempts(messageId: string): Promise<WebhookAttempt[]> {
    return this.db.selectFrom('webhookAttempt').selectAll().where('messageId', '=', messageId).orderBy('createdAt').orderBy('attempt').execute();
  }

  /** Messages older than `days`, with their deliveries and attempts (cascade). */
  async deleteOlderThan(days: number): Promise<number> {
    const r = await this.db
      .deleteFrom('webhookMessage')
      .where('createdAt', '<', sql<Date>`now() - make_interval(days => ${days})`)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /* ---- initialization (kept for the reference's initialization-status) ---- */

  findInitialization(organizationId: string): Promise<WebhookInitialization | undefined> {
    return this.db.selectFrom('webhookInitialization').selectAll().where('organizationId', '=', organizationId).executeTakeFirst();
  }

  upsertInitialization(organizationId: string, applicationId: string): Promise<WebhookInitialization> {
    return this.db
      .insertInto('webhookInitialization')
      .values({ organizationId, svixApplicationId: applicationId, lastError: null })
      .onConflict((oc) => oc.column('organizationId').doUpdateSet({ svixApplicationId: applicationId, lastError: null, updatedAt: sql<Date>`now()` }))
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /* ---- deliveries (ClaimedRows for the delivery worker's ClaimLoop) ---- */

  /**
   * Due deliveries, at most one per endpoint and none of an endpoint that already has one in flight: a slow or
   * hanging endpoint holds one worker slot at a time, never the slots of the others.
   */
  async claim(owner: string, leaseMs: number, limit: number): Promise<DueDelivery[]> {
    const { rows } = await sql<DueDelivery>`
      WITH due AS (
        SELECT DISTINCT ON (d.endpoint_id) d.id
        FROM webhook_delivery d
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
          AND (d.claim_expires_at IS NULL OR d.claim_expires_at < now())
          AND NOT EXISTS (SELECT 1 FROM webhook_delivery b
                          WHERE b.endpoint_id = d.endpoint_id AND b.state = 'pending' AND b.claim_expires_at >= now())
        ORDER BY d.endpoint_id, d.next_attempt_at, d.created_at
      ), picked AS (
        SELECT d.id FROM webhook_delivery d JOIN due ON due.id = d.id
        ORDER BY d.next_attempt_at LIMIT ${limit}
        FOR UPDATE OF d SKIP LOCKED
      ), claimed AS (
        UPDATE webhook_delivery d SET claimed_by = ${owner}, claim_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
        FROM picked WHERE d.id = picked.id AND (d.claim_expires_at IS NULL OR d.claim_expires_at < now())
        RETURNING d.id, d.attempts, d.message_id, d.endpoint_id
      )
      SELECT c.id, c.attempts, c.message_id AS "messageId", m.event_type AS "eventType", m.payload,
             m.created_at AS "messageCreatedAt", c.endpoint_id AS "endpointId", e.url, e.secret
      FROM claimed c JOIN webhook_message m ON m.id = c.message_id JOIN webhook_endpoint e ON e.id = c.endpoint_id`.execute(this.db);
    return rows;
  }

  async renew(id: string, owner: string, leaseMs: number): Promise<void> {
    await sql`UPDATE webhook_delivery SET claim_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
              WHERE id = ${id} AND claimed_by = ${owner}`.execute(this.db);
  }

  async postpone(id: string, owner: string, ms: number): Promise<void> {
    await sql`UPDATE webhook_delivery SET claimed_by = NULL, claim_expires_at = NULL,
                next_attempt_at = now() + make_interval(secs => ${ms / 1000})
              WHERE id = ${id} AND claimed_by = ${owner}`.execute(this.db);
  }

  async release(id: string, owner: string): Promise<void> {
    await sql`UPDATE webhook_delivery SET claimed_by = NULL, claim_expires_at = NULL WHERE id = ${id} AND claimed_by = ${owner}`.execute(this.db);
  }

  /**
   * Records an attempt and its outcome in one transaction, only while `owner` still holds the claim (a process whose
   * lease lapsed mid-attempt records nothing; the new holder sends again, at-least-once). The message and delivery
   * rows are locked first with NOWAIT: an organization or endpoint being deleted locks them in the other order (its
   * cascades), so waiting here could deadlock that delete; a busy row is tried again shortly, then left to a retry.
   */
  async recordAttempt(
    d: DueDelivery,
    owner: string,
    result: { statusCode: number | null; response: string; durationMs: number; error: string | null },
    outcome: { state: 'succeeded' | 'failed' | 'pending'; retryInMs: number },
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.recordOnce(d, owner, result, outcome);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code !== '55P03' && code !== '40P01') || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  private recordOnce(
    d: DueDelivery,
    owner: string,
    result: { statusCode: number | null; response: string; durationMs: number; error: string | null },
    outcome: { state: 'succeeded' | 'failed' | 'pending'; retryInMs: number },
  ): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const message = await sql`SELECT 1 FROM webhook_message WHERE id = ${d.messageId} FOR KEY SHARE NOWAIT`.execute(tx);
      if (message.rows.length === 0) return false;
      const delivery = await sql`SELECT 1 FROM webhook_delivery WHERE id = ${d.id} AND claimed_by = ${owner} AND state = 'pending' FOR UPDATE NOWAIT`.execute(tx);
      if (delivery.rows.length === 0) return false;
      const updated = await tx
        .updateTable('webhookDelivery')
        .set({
          state: outcome.state,
          attempts: sql<number>`attempts + 1`,
          nextAttemptAt: sql<Date>`now() + make_interval(secs => ${outcome.retryInMs / 1000})`,
          updatedAt: sql<Date>`now()`,
        })
        .where('id', '=', d.id)
        .returning('attempts')
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('webhookAttempt')
        .values({
          deliveryId: d.id,
          messageId: d.messageId,
          endpointId: d.endpointId,
          attempt: updated.attempts,
          statusCode: result.statusCode,
          response: result.response.replace(/\0/g, ''),
          durationMs: result.durationMs,
          error: result.error,
        })
        .execute();
      return true;
    });
  }
}
