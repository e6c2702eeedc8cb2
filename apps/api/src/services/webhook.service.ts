import { randomBytes } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { UserPrincipal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { Errors } from '../errors.js';
import { fullCredential } from './organization-access.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { WebhookRepository, type WebhookAttempt, type WebhookEndpoint } from '../repositories/webhook.repository.js';
import {
  WEBHOOK_EVENT_TYPES,
  type CreateWebhookEndpointDto,
  type SendWebhookDto,
  type UpdateWebhookEndpointDto,
  type WebhookEndpointDto,
  type WebhookInitializationStatus,
  type WebhookMessageAttemptDto,
  type WebhookMessageDto,
  type WebhookMessageSummaryDto,
  type WebhookStatusDto,
} from '../schemas-webhooks.js';
import type { WebhookConfig } from '../webhooks/config.js';
import { issuePortalToken, verifyPortalToken } from '../webhooks/portal-token.js';
import { refusedLiteralHost } from '../webhooks/target-guard.js';

const MAX_ENDPOINTS = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The reference's webhook operations plus the endpoint portal, over Shoal's own outbox (webhooks/*). */
export class WebhookService {
  private readonly repo: WebhookRepository;
  private readonly orgs: OrganizationRepository;

  constructor(
    db: Db,
    private readonly cfg: WebhookConfig,
    private readonly platformSecret: string,
    private readonly publicUrl: string,
  ) {
    this.repo = new WebhookRepository(db);
    this.orgs = new OrganizationRepository(db);
  }

  status(): Static<typeof WebhookStatusDto> {
    return { enabled: true };
  }

  /** A 15-minute link to the endpoint portal of the organization; for its owners (and admins). */
  async appPortalAccess(p: UserPrincipal, organizationId: string): Promise<{ url: string }> {
    await this.accessible(p, organizationId);
    if (!p.isAdmin && p.orgRole !== 'owner') throw Errors.forbidden('Forbidden: only organization owners manage webhook endpoints');
    // The portal manages endpoints: like the rest of organization management, an owner's key must hold every permission.
    if (!p.isAdmin && !fullCredential(p)) throw Errors.organizationKeyTooNarrow();
    const { token } = issuePortalToken(this.platformSecret, organizationId);
    // The token travels in the fragment: it is never sent to a server, so it stays out of access logs and Referers.
    return { url: `${this.publicUrl}/api/webhooks/portal#token=${encodeURIComponent(token)}` };
  }

  async send(organizationId: string, body: SendWebhookDto): Promise<Static<typeof WebhookMessageDto>> {
    await this.existing(organizationId);
    const m = await this.repo.insertMessage(organizationId, body.eventType, body.payload, body.eventId ?? null);
    return { id: m.id, eventType: m.eventType, eventId: m.eventId, payload: m.payload, createdAt: iso(m.createdAt) };
  }

  async attempts(organizationId: string, messageId: string): Promise<Static<typeof WebhookMessageAttemptDto>[]> {
    await this.existing(organizationId);
    return this.messageAttempts(organizationId, messageId);
  }

  async initializationStatus(p: UserPrincipal, organizationId: string): Promise<Static<typeof WebhookInitializationStatus>> {
    await this.accessible(p, organizationId);
    const init = await this.repo.findInitialization(organizationId);
    if (!init) throw Errors.notFound('Webhook initialization status not found');
    return {
      organizationId: init.organizationId,
      svixApplicationId: init.svixApplicationId,
      lastError: init.lastError,
      retryCount: init.retryCount,
      createdAt: iso(init.createdAt),
      updatedAt: iso(init.updatedAt),
    };
  }

  /** There is no external application to create: the organization itself is the "application" its endpoints belong to. */
  async initialize(organizationId: string): Promise<void> {
    await this.existing(organizationId);
    await this.repo.upsertInitialization(organizationId, organizationId);
  }

  /* ---- the endpoint portal (authorised by the token from appPortalAccess) ---- */

  /** The organization a portal token was issued for; 401 when the token is missing, forged or expired. */
  async portalOrganization(token: string | undefined): Promise<string> {
    const org = verifyPortalToken(this.platformSecret, token);
    if (!org || !UUID.test(org) || !(await this.orgs.findById(org))) throw Errors.unauthorized('Invalid or expired portal token');
    return org;
  }

  async listEndpoints(organizationId: string): Promise<Static<typeof WebhookEndpointDto>[]> {
    return (await this.repo.listEndpoints(organizationId)).map(toEndpointDto);
  }

  async createEndpoint(organizationId: string, body: CreateWebhookEndpointDto): Promise<Static<typeof WebhookEndpointDto>> {
    const url = this.checkUrl(body.url);
    const eventTypes = checkEventTypes(body.eventTypes ?? []);
    if ((await this.repo.countEndpoints(organizationId)) >= MAX_ENDPOINTS) throw Errors.badRequest(`An organization can have at most ${MAX_ENDPOINTS} webhook endpoints`);
    const e = await this.repo.insertEndpoint({
      id: `ep_${randomBytes(12).toString('hex')}`,
      organizationId,
      url,
      description: body.description ?? '',
      eventTypes,
      secret: `whsec_${randomBytes(24).toString('base64')}`,
      disabled: body.disabled ?? false,
    });
    await this.repo.upsertInitialization(organizationId, organizationId);
    return toEndpointDto(e);
  }

  async updateEndpoint(organizationId: string, id: string, body: UpdateWebhookEndpointDto): Promise<Static<typeof WebhookEndpointDto>> {
    const patch: Parameters<WebhookRepository['updateEndpoint']>[2] = {};
    if (body.url !== undefined) patch.url = this.checkUrl(body.url);
    if (body.eventTypes !== undefined) patch.eventTypes = checkEventTypes(body.eventTypes);
    if (body.description !== undefined) patch.description = body.description;
    if (body.disabled !== undefined) patch.disabled = body.disabled;
    const e = Object.keys(patch).length ? await this.repo.updateEndpoint(organizationId, id, patch) : await this.repo.findEndpoint(organizationId, id);
    if (!e) throw Errors.notFound(`Webhook endpoint ${id} not found`);
    return toEndpointDto(e);
  }

  async deleteEndpoint(organizationId: string, id: string): Promise<void> {
    if (!(await this.repo.deleteEndpoint(organizationId, id))) throw Errors.notFound(`Webhook endpoint ${id} not found`);
  }

  async recentMessages(organizationId: string, limit: number): Promise<Static<typeof WebhookMessageSummaryDto>[]> {
    return (await this.repo.recentMessages(organizationId, limit)).map((m) => ({
      id: m.id,
      eventType: m.eventType,
      payload: m.payload,
      createdAt: iso(m.createdAt),
      deliveries: m.deliveries.map((d) => ({ endpointId: d.endpointId, state: d.state, attempts: d.attempts, nextAttemptAt: iso(d.nextAttemptAt) })),
    }));
  }

  async messageAttempts(organizationId: string, messageId: string): Promise<Static<typeof WebhookMessageAttemptDto>[]> {
    const message = await this.repo.findMessage(organizationId, messageId);
    if (!message) throw Errors.notFound(`Webhook message ${messageId} not found`);
    const urls = new Map((await this.repo.listEndpoints(organizationId)).map((e) => [e.id, e.url]));
    return (await this.repo.attempts(message.id)).map((a) => toAttemptDto(a, urls.get(a.endpointId) ?? ''));
  }

  eventTypes(): string[] {
    return [...WEBHOOK_EVENT_TYPES];
  }

  /* ---- rules ---- */

  /** The caller's own organization (or any, for admins); anything else is 404 so ids do not leak. */
  private async accessible(p: UserPrincipal, organizationId: string): Promise<void> {
    if (!p.isAdmin && p.organizationId !== organizationId) throw Errors.notFound(`Organization with ID ${organizationId} not found`);
    await this.existing(organizationId);
  }

  private async existing(organizationId: string): Promise<void> {
    if (!UUID.test(organizationId) || !(await this.orgs.findById(organizationId))) throw Errors.notFound(`Organization with ID ${organizationId} not found`);
  }

  private checkUrl(raw: string): string {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw Errors.badRequest('url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw Errors.badRequest('url must be an absolute http(s) URL');
    if (url.username || url.password) throw Errors.badRequest('url must not contain credentials');
    const refused = this.cfg.allowPrivateTargets ? undefined : refusedLiteralHost(url);
    if (refused)
      throw Errors.badRequest(`url points at ${refused}, a loopback, private or link-local address; the operator can allow such targets with SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS=true`);
    return url.toString();
  }
}

function checkEventTypes(types: string[]): string[] {
  const unknown = types.filter((t) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length) throw Errors.badRequest(`Unknown event types: ${unknown.join(', ')} (known: ${WEBHOOK_EVENT_TYPES.join(', ')})`);
  return [...new Set(types)];
}

function iso(d: Date | string): string {
  return new Date(d).toISOString();
}

function toEndpointDto(e: WebhookEndpoint): Static<typeof WebhookEndpointDto> {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes,
    secret: e.secret,
    disabled: e.disabled,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

function toAttemptDto(a: WebhookAttempt, url: string): Static<typeof WebhookMessageAttemptDto> {
  const ok = a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
  return {
    id: a.id,
    msgId: a.messageId,
    endpointId: a.endpointId,
    url,
    attempt: a.attempt,
    status: ok ? 0 : 2,
    responseStatusCode: a.statusCode ?? 0,
    response: a.response,
    responseDurationMs: a.durationMs,
    error: a.error,
    timestamp: iso(a.createdAt),
    triggerType: 0,
  };
}
