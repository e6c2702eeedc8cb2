import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

export default defineRoute({
  method: 'POST',
  url: '/users/:id/regenerate-key-pair',
  operationId: 'regenerateKeyPair',
  summary: "Regenerate a user's SSH key pair (admin); the answer shows the new public key, never the private key",
  tags: ['users'],
  auth: 'admin',
  params: Type.Object({ id: Type.String() }),
  response: { 201: Type.Ref('User') },
  handler: ({ params }, s) => s.users.regenerateKeyPair(params.id),
});
