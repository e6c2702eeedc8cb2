import { Type, type Static } from '@sinclair/typebox';

/** Event types Shoal emits (daytona-api-facts §9); endpoint filters may only name these. */
export const WEBHOOK_EVENT_TYPES = [
  'sandbox.created',
  'sandbox.state.updated',
  'snapshot.created',
  'snapshot.state.updated',
  'snapshot.removed',
  'volume.created',
  'volume.state.updated',
] as const;

export const WebhookAppPortalAccess = Type.Object({ url: Type.String() });

export const SendWebhookDto = Type.Object(
  {
    eventType: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' }),
    payload: Type.Object({}, { additionalProperties: true }),
    eventId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
);
export type SendWebhookDto = Static<typeof SendWebhookDto>;

export const WebhookMessageDto = Type.Object({
  id: Type.String(),
  eventType: Type.String(),
  eventId: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Object({}, { additionalProperties: true }),
  createdAt: Type.String(),
});

/** One delivery attempt, shaped like the reference's (Svix) message attempt; status 0 succeeded, 1 pending retry, 2 failed. */
export const WebhookMessageAttemptDto = Type.Object({
  id: Type.String(),
  msgId: Type.String(),
  endpointId: Type.String(),
  url: Type.String(),
  attempt: Type.Integer(),
  status: Type.Integer(),
  responseStatusCode: Type.Integer(),
  response: Type.String(),
  responseDurationMs: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  timestamp: Type.String(),
  triggerType: Type.Integer(),
});

export const WebhookStatusDto = Type.Object({ enabled: Type.Boolean() });

export const WebhookInitializationStatus = Type.Object(
  {
    organizationId: Type.String(),
    svixApplicationId: Type.Union([Type.String(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    retryCount: Type.Integer(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
);

/* ---- the endpoint portal's own JSON API (hidden from the OpenAPI document; token in X-Shoal-Portal-Token) ---- */

export const WebhookEndpointDto = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  secret: Type.String(),
  disabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const CreateWebhookEndpointDto = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    eventTypes: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50 })),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateWebhookEndpointDto = Static<typeof CreateWebhookEndpointDto>;

export const UpdateWebhookEndpointDto = Type.Partial(CreateWebhookEndpointDto, { additionalProperties: false });
export type UpdateWebhookEndpointDto = Static<typeof UpdateWebhookEndpointDto>;

export const WebhookMessageSummaryDto = Type.Object({
  id: Type.String(),
  eventType: Type.String(),
  payload: Type.Object({}, { additionalProperties: true }),
  createdAt: Type.String(),
  deliveries: Type.Array(
    Type.Object({ endpointId: Type.String(), state: Type.String(), attempts: Type.Integer(), nextAttemptAt: Type.String() }),
  ),
});
