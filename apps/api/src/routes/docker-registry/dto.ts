import { Type } from '@sinclair/typebox';
import { REGISTRY_TYPES } from '../../services/docker-registry.service.js';

/* Shapes of the /docker-registry operations (Daytona v0.108 DockerRegistry, CreateDockerRegistry, ...). No password out. */

const RegistryTypeSchema = Type.Union(REGISTRY_TYPES.map((t) => Type.Literal(t)));

export const DockerRegistrySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  username: Type.String(),
  project: Type.String(),
  registryType: RegistryTypeSchema,
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const CreateDockerRegistryBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  username: Type.String({ maxLength: 1024 }),
  password: Type.String({ maxLength: 8192 }),
  project: Type.Optional(Type.String({ maxLength: 255 })),
  registryType: Type.Optional(RegistryTypeSchema),
  isDefault: Type.Optional(Type.Boolean()),
});

export const UpdateDockerRegistryBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  username: Type.Optional(Type.String({ maxLength: 1024 })),
  password: Type.Optional(Type.String({ maxLength: 8192 })),
  project: Type.Optional(Type.String({ maxLength: 255 })),
});

export const RegistryIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const RegistryPushAccessSchema = Type.Object({
  username: Type.String(),
  secret: Type.String(),
  registryUrl: Type.String(),
  registryId: Type.String(),
  project: Type.String(),
  expiresAt: Type.String(),
});
