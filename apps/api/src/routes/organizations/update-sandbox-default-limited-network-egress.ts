import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

/**
 * Admin-only, as in the reference (which uses POST, like the official API client). New sandboxes of the
 * organization get limited egress (README "Network"); sandboxes that exist keep what they were created with.
 */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/sandbox-default-limited-network-egress',
  operationId: 'updateSandboxDefaultLimitedNetworkEgress',
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String() }),
  body: Type.Object({ sandboxDefaultLimitedNetworkEgress: Type.Boolean() }),
  response: { 204: Type.Null() },
  handler: ({ params, body }, s) => s.organizations.setSandboxLimitedNetworkEgress(params.organizationId, body.sandboxDefaultLimitedNetworkEgress),
});
