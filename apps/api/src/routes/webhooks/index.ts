import type { FastifyInstance } from 'fastify';
import { registerRoutes } from '../../http/route.js';
import type { Services } from '../../services/services.js';
import getAppPortalAccess from './get-app-portal-access.js';
import getInitializationStatus from './get-initialization-status.js';
import getMessageAttempts from './get-message-attempts.js';
import getStatus from './get-status.js';
import initializeWebhooks from './initialize-webhooks.js';
import portalCreateEndpoint from './portal-create-endpoint.js';
import portalDeleteEndpoint from './portal-delete-endpoint.js';
import portalEventTypes from './portal-event-types.js';
import portalListEndpoints from './portal-list-endpoints.js';
import portalListMessages from './portal-list-messages.js';
import portalMessageAttempts from './portal-message-attempts.js';
import portalPage from './portal-page.js';
import portalUpdateEndpoint from './portal-update-endpoint.js';
import sendWebhook from './send-webhook.js';

/** The reference's 6 webhook operations and the endpoint portal (page + its token-authorised JSON calls, hidden). */
export function webhookRoutes(app: FastifyInstance, services: Services): void {
  registerRoutes(
    app,
    [
      getAppPortalAccess,
      sendWebhook,
      getMessageAttempts,
      getStatus,
      getInitializationStatus,
      initializeWebhooks,
      portalPage,
      portalListEndpoints,
      portalCreateEndpoint,
      portalUpdateEndpoint,
      portalDeleteEndpoint,
      portalListMessages,
      portalMessageAttempts,
      portalEventTypes,
    ],
    services,
  );
}
