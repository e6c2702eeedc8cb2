import type { Sandbox } from '../db/schema.js';
import type { SandboxDto } from '../schemas.js';
import { derivedState } from './sandbox-state.js';

export type SandboxWithRunner = Sandbox & { runnerDomain: string | null };

export function toSandboxDto(s: SandboxWithRunner): SandboxDto {
  const dto: SandboxDto = {
    id: s.id,
    organizationId: s.organizationId,
    user: s.osUser,
    env: s.env ?? {},
    labels: s.labels ?? {},
    public: s.public,
    networkBlockAll: s.networkBlockAll,
    target: s.region,
    cpu: s.cpu,
    gpu: s.gpu,
    memory: s.mem,
    disk: s.disk,
    state: derivedState(s.state, s.desiredState),
    desiredState: s.desiredState as SandboxDto['desiredState'],
    backupState: s.backupState,
    autoStopInterval: s.autoStopInterval,
    autoArchiveInterval: s.autoArchiveInterval,
    autoDeleteInterval: s.autoDeleteInterval,
    volumes: s.volumes ?? [],
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    class: s.class,
  };
  if (s.snapshot !== null) dto.snapshot = s.snapshot;
  if (s.networkAllowList !== null) dto.networkAllowList = s.networkAllowList;
  if (s.errorReason !== null) dto.errorReason = s.errorReason;
  if (s.lastBackupAt) dto.backupCreatedAt = s.lastBackupAt.toISOString();
  if (s.runnerDomain) dto.runnerDomain = s.runnerDomain;
  if (s.daemonVersion) dto.daemonVersion = s.daemonVersion;
  return dto;
}
