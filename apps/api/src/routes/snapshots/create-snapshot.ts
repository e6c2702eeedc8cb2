import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';
import { CreateSnapshotBody } from './snapshot-schemas.js';

export default defineRoute({
  method: 'POST',
  url: '/snapshots',
  operationId: 'createSnapshot',
  summary: 'Create a snapshot from an image reference (or from build info)',
  tags: ['snapshots'],
  auth: 'user',
  permission: 'write:snapshots',
  body: CreateSnapshotBody,
  response: { 200: Type.Ref('SnapshotDto') },
  handler: ({ user, body }, s) => s.snapshots.create(user, body),
});
