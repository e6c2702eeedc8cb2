import { Type } from '@sinclair/typebox';
import { defineRoute } from '../../http/route.js';

const StorageAccessSchema = Type.Object(
  {
    accessKey: Type.String(),
    secret: Type.String(),
    sessionToken: Type.String(),
    storageUrl: Type.String(),
    organizationId: Type.String(),
    bucket: Type.String(),
  },
  { $id: 'StorageAccessDto' },
);

export default defineRoute({
  method: 'GET',
  url: '/object-storage/push-access',
  operationId: 'getPushAccess',
  summary: 'Get temporary storage access for pushing objects',
  tags: ['object-storage'],
  auth: 'user',
  response: { 200: StorageAccessSchema },
  handler: async ({ user }, s) => s.objectStorage.pushAccess(user),
});
