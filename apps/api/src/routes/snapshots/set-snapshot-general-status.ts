import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { SetSnapshotGeneralBody, SnapshotIdParams } from './snapshot-schemas.js';

export default defineRoute({
  method: 'PATCH',
  url: '/snapshots/:id/general',
  operationId: 'setSnapshotGeneralStatus',
  audit: { action: 'set_general_status' },
  summary: 'Make a snapshot general (usable by every organization) or not',
  tags: ['snapshots'],
  auth: 'admin',
  params: SnapshotIdParams,
  body: SetSnapshotGeneralBody,
  response: { 200: Type.Ref('SnapshotDto') },
  handler: ({ params, body }, s) => s.snapshots.setGeneral(params.id, body.general),
});
