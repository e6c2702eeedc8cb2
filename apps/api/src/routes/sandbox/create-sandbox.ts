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
  // The create's reads (snapshot, organization) run while its audit row is written, and a success's outcome is
  // written after the answer: a pooled create is a handful of round trips, and each counts (measured on 2 cores: the
  // outcome's write was 1.2-3.6 ms of a 14-27 ms warm-pool create).
  audit: { overlap: true, completeAfterAnswer: true },
  handler: ({ user, body, audited }, s) => s.sandboxes.create(user, body, { beforeChange: audited }),
});
