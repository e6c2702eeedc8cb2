import type { ColumnType, Generated } from 'kysely';

/** Kysely types of the webhook tables (migration 12, webhooks/migration-sql.ts); listed in db/schema.ts `Database`. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface WebhookInitializationTable {
  organizationId: string;
  svixApplicationId: string | null;
  lastError: string | null;
  retryCount: Generated<number>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface WebhookEndpointTable {
  id: string;
  organizationId: string;
  url: string;
  description: Generated<string>;
  eventTypes: Generated<string[]>;
  secret: string;
  disabled: Generated<boolean>;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface WebhookMessageTable {
  id: Generated<string>;
  organizationId: string;
  eventType: string;
  eventId: string | null;
  payload: ColumnType<Record<string, unknown>, string, string>;
  createdAt: Timestamp;
}

export interface WebhookDeliveryTable {
  id: Generated<string>;
  messageId: string;
  endpointId: string;
  state: Generated<'pending' | 'succeeded' | 'failed'>;
  attempts: Generated<number>;
  nextAttemptAt: Timestamp;
  claimedBy: string | null;
  claimExpiresAt: Date | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface WebhookAttemptTable {
  id: Generated<string>;
  deliveryId: string;
  messageId: string;
  endpointId: string;
  attempt: number;
  statusCode: number | null;
  response: Generated<string>;
  durationMs: number;
  error: string | null;
  createdAt: Timestamp;
}

export interface WebhookTables {
  webhookInitialization: WebhookInitializationTable;
  webhookEndpoint: WebhookEndpointTable;
  webhookMessage: WebhookMessageTable;
  webhookDelivery: WebhookDeliveryTable;
  webhookAttempt: WebhookAttemptTable;
}
