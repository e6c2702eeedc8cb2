import { Type, type TSchema } from '@sinclair/typebox';
import type { SandboxDto, WorkspaceDto } from '../../schemas.js';

/**
 * The old `/workspace` clients read a sandbox under its former names: `name` and `info.name` are the id, `image` is the
 * snapshot, and the backup is called the workspace's snapshot. `providerMetadata` is a JSON string because that is
 * what those clients parse.
 */
export function toWorkspaceDto(s: SandboxDto): WorkspaceDto {
  return {
    ...s,
    name: s.id,
    ...(s.snapshot !== undefined ? { image: s.snapshot } : {}),
    snapshotState: s.backupState,
    ...(s.backupCreatedAt !== undefined ? { snapshotCreatedAt: s.backupCreatedAt } : {}),
    info: {
      name: s.id,
      created: s.createdAt,
      providerMetadata: JSON.stringify({
        state: s.state,
        nodeDomain: s.runnerDomain,
        region: s.target,
        class: s.class,
        updatedAt: s.updatedAt,
        lastSnapshot: s.backupCreatedAt,
        cpu: s.cpu,
        gpu: s.gpu,
        memory: s.memory,
        disk: s.disk,
        autoStopInterval: s.autoStopInterval,
        autoArchiveInterval: s.autoArchiveInterval,
        daemonVersion: s.daemonVersion,
      }),
    },
  };
}

const isSandboxRef = (schema: TSchema | undefined): boolean => (schema as { $ref?: string } | undefined)?.$ref === 'Sandbox';

/**
 * Rewrites a sandbox route's success schema for the workspace alias, with the matching answer mapper; routes whose
 * answer is not a sandbox (labels, nothing) keep theirs.
 */
export function workspaceResponse(response: Record<number, TSchema>): { response: Record<number, TSchema>; map: (out: unknown) => unknown } | null {
  const [status, schema] = Object.entries(response)[0] ?? [];
  if (status === undefined || schema === undefined) return null;
  if (isSandboxRef(schema)) {
    return { response: { ...response, [status]: Type.Ref('Workspace') }, map: (out) => toWorkspaceDto(out as SandboxDto) };
  }
  const items = (schema as { type?: string; items?: TSchema }).type === 'array' ? (schema as { items?: TSchema }).items : undefined;
  if (isSandboxRef(items)) {
    return { response: { ...response, [status]: Type.Array(Type.Ref('Workspace')) }, map: (out) => (out as SandboxDto[]).map(toWorkspaceDto) };
  }
  return null;
}
