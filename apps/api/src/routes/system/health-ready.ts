import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const Check = Type.Object({ status: Type.String(), error: Type.Optional(Type.String()) });
const Report = Type.Object({
  status: Type.String(),
  missing: Type.Array(Type.String()),
  checks: Type.Object({
    database: Check,
    runners: Type.Object({ status: Type.String(), ready: Type.Integer(), total: Type.Integer() }),
    defaultSnapshot: Type.Object({
      status: Type.String(),
      name: Type.String(),
      image: Type.String(),
      presentOn: Type.Array(Type.String()),
      unanswered: Type.Optional(Type.Array(Type.String())),
      progress: Type.Optional(Type.Object({ runner: Type.String(), phase: Type.String(), at: Type.Optional(Type.String()) })),
    }),
  }),
});

/** Readiness, unlike /health (liveness): 200 only when create() of the default snapshot can succeed, else 503 with what is missing. */
export default defineRoute({
  method: 'GET',
  url: '/health/ready',
  operationId: 'healthControllerReady',
  summary: 'Readiness: database, a healthy runner and the default snapshot on it (503 with what is missing)',
  tags: ['health'],
  auth: 'none',
  response: { 200: Report, 503: Report },
  handler: async ({ reply }, s) => {
    const report = await s.readiness.report();
    // Sent here: the route wrapper would set the success status on a returned value.
    if (report.status !== 'ready') return reply.code(503).send(report);
    return report;
  },
});
