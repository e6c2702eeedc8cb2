import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { previewUrl } from '../../services/sandbox.service.js';

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
    oidc: { issuer: '', clientId: '', audience: '' },
    linkedAccountsEnabled: false,
    announcements: {},
    proxyTemplateUrl: previewUrl(config, 0, '').replace('/0-', '/{{PORT}}-{{sandboxId}}').replace('//0-.', '//{{PORT}}-{{sandboxId}}.'),
    defaultSnapshot: config.defaultSnapshot,
    dashboardUrl: config.publicUrl,
    maxAutoArchiveInterval: config.maxAutoArchiveInterval,
    maintananceMode: false,
    environment: 'shoal',
  }),
});
