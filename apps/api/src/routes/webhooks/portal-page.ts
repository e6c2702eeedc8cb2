import { defineRoute } from '../../http/route.js';
import { Type } from '@sinclair/typebox';
import { PORTAL_HTML } from '../../webhooks/portal-html.js';

/** The endpoint portal's page; the token in its URL fragment authorises its JSON calls (routes/webhooks/portal-*). */
export default defineRoute({
  method: 'GET',
  url: '/webhooks/portal',
  operationId: 'webhookPortalPage',
  auth: 'none',
  hide: true,
  response: { 200: Type.String() },
  handler: async ({ reply }) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
      .send(PORTAL_HTML),
});
