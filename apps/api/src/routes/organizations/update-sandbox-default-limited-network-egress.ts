import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { OrganizationSandboxDefaultLimitedNetworkEgress } from '../../schemas-organizations.js';

/**
 * Admin-only, as in the reference (which uses POST, like the official API client). New sandboxes of the
 * organization get limited egress (README "Network"); sandboxes that exist keep what they were created with.
 */
export default defineRoute({
  method: 'POST',
  url: '/organizations/:organizationId/sandbox-default-limited-network-egress',
  operationId: 'updateSandboxDefaultLimitedNetworkEgress',
  audit: { action: 'update_sandbox_default_limited_network_egress' },
  tags: ['organizations'],
  auth: 'admin',
  params: Type.Object({ organizationId: Type.String() }),
  body: OrganizationSandboxDefaultLimitedNetworkEgress,
  response: { 204: Type.Null() },
  handler: ({ params, body }, s) => s.organizations.setSandboxLimitedNetworkEgress(params.organizationId, body.sandboxDefaultLimitedNetworkEgress),
});
