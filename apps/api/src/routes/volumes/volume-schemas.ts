import { Type } from '@sinclair/typebox';

/* Shapes of the volume operations (Daytona v0.108 `VolumeDto`, `CreateVolume`). */

export const VolumeDto = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    organizationId: Type.String(),
    state: Type.Union(['creating', 'ready', 'pending_create', 'pending_delete', 'deleting', 'deleted', 'error'].map((s) => Type.Literal(s))),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    lastUsedAt: Type.Union([Type.String(), Type.Null()]),
    /** Present (null when empty): the Python client requires the key. */
    errorReason: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'VolumeDto' },
);

export const CreateVolumeBody = Type.Object({ name: Type.Optional(Type.String({ maxLength: 255 })) }, { $id: 'CreateVolume' });

export const VolumeIdParams = Type.Object({ volumeId: Type.String({ minLength: 1, maxLength: 1024 }) });
export const VolumeNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 1024 }) });
export const ListVolumesQuery = Type.Object({ includeDeleted: Type.Optional(Type.Boolean()) });
