import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Indicators = Type.Record(Type.String(), Type.Object({ status: Type.String(), message: Type.Optional(Type.String()) }));
// The reference's health report (a terminus-style check): `info` holds the indicators that are up, `error` the ones that
// are down, `details` all of them. Clients of the reference read this shape on the 503 too, so it is not the error envelope.
const HealthReport = Type.Object({ status: Type.String(), info: Indicators, error: Indicators, details: Indicators });

export default defineRoute({
  method: 'GET',
  url: '/health',
  operationId: 'healthControllerCheck',
  summary: 'Liveness with a database round trip (readiness is GET /health/ready)',
  tags: ['health'],
  auth: 'none',
  response: { 200: HealthReport, 503: HealthReport },
  handler: async ({ reply }, s) => {
    try {
      await s.organizations.healthCheck();
    } catch {
      const down = { database: { status: 'down', message: 'Database is not reachable' } };
      return reply.code(503).send({ status: 'error', info: {}, error: down, details: down });
    }
    const up = { database: { status: 'up' } };
    return { status: 'ok', info: up, error: {}, details: up };
  },
});
