import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateSandboxBody } from '../../schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/sandbox',
  operationId: 'createSandbox',
  summary: 'Create a sandbox; answers once it is started or failed, or after the wait budget with its current state',
  tags: ['sandbox'],
  auth: 'user',
  permission: 'write:sandboxes',
  body: CreateSandboxBody,
  response: { 200: Type.Ref('Sandbox') },
  // The create's reads (snapshot, organization) run while its audit row is written: a pooled create is a handful of
  // round trips, and each counts.
  audit: { overlap: true },
  handler: ({ user, body, audited }, s) => s.sandboxes.create(user, body, { beforeChange: audited }),
});
