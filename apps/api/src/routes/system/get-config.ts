import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { previewUrl } from '../../services/sandbox.service.js';
import { DASHBOARD_PATH } from '../../dashboard/dashboard-routes.js';

export default defineRoute({
  method: 'GET',
  url: '/config',
  operationId: 'configControllerGetConfig',
  summary: 'Public configuration of this server',
  tags: ['config'],
  auth: 'none',
  response: { 200: Type.Ref('DaytonaConfiguration') },
  handler: async (_ctx, { config }) => ({
    version: config.version,
    // The settings a client needs to log in with the configured issuer. Without one there is nothing to log in with,
    // and empty strings would only send a client to an issuer that does not exist: the key is left out (issue 17).
    ...(config.oidc ? { oidc: { issuer: config.oidc.issuer, clientId: config.oidc.clientId, audience: config.oidc.audience } } : {}),
    linkedAccountsEnabled: false,
    announcements: {},
    proxyTemplateUrl: previewUrl(config, 0, '').replace('/0-', '/{{PORT}}-{{sandboxId}}').replace('//0-.', '//{{PORT}}-{{sandboxId}}.'),
    defaultSnapshot: config.defaultSnapshot,
    dashboardUrl: `${config.publicUrl}${DASHBOARD_PATH}`,
    maxAutoArchiveInterval: config.maxAutoArchiveInterval,
    maintananceMode: false,
    environment: 'shoal',
  }),
});
