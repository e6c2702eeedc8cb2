import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { Errors } from '../../errors.js';

export default defineRoute({
  method: 'GET',
  url: '/health',
  operationId: 'healthControllerCheck',
  summary: 'Liveness with a database round trip',
  tags: ['health'],
  auth: 'none',
  response: { 200: Type.Object({ status: Type.String(), info: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }), 503: Type.Ref('ErrorEnvelope') },
  handler: async (_ctx, s) => {
    try {
      await s.organizations.healthCheck();
    } catch {
      throw Errors.unavailable('Database is not reachable');
    }
    return { status: 'ok', info: { database: { status: 'up' } } };
  },
});
