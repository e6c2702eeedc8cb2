import { Type, type Static } from '@sinclair/typebox';

/* Request shapes of the snapshot operations (Daytona v0.108 `CreateSnapshot`, `SetSnapshotGeneralStatusDto`). */

export const CreateBuildInfoBody = Type.Object({
  dockerfileContent: Type.String(),
  contextHashes: Type.Optional(Type.Array(Type.String())),
});

export const CreateSnapshotBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 512 }),
  imageName: Type.Optional(Type.String({ maxLength: 1024 })),
  entrypoint: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 256 })),
  general: Type.Optional(Type.Boolean()),
  cpu: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 })),
  gpu: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
  memory: Type.Optional(Type.Integer({ minimum: 0, maximum: 4096 })),
  disk: Type.Optional(Type.Integer({ minimum: 0, maximum: 65536 })),
  buildInfo: Type.Optional(CreateBuildInfoBody),
});
export type CreateSnapshotBody = Static<typeof CreateSnapshotBody>;

export const ListSnapshotsQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  name: Type.Optional(Type.String({ maxLength: 512 })),
  sort: Type.Optional(Type.Union([Type.Literal('name'), Type.Literal('state'), Type.Literal('lastUsedAt'), Type.Literal('createdAt')])),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
});
export type ListSnapshotsQuery = Static<typeof ListSnapshotsQuery>;

export const SnapshotIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 1024 }) });

export const SetSnapshotGeneralBody = Type.Object({ general: Type.Boolean() });
