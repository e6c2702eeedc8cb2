import { randomUUID } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { Db } from '../db/database.js';
import type { Volume } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { VolumeRepository } from '../repositories/volume.repository.js';
import type { VolumeManager } from '../reconciler/volume-manager.js';
import type { VolumeDto } from '../routes/volumes/volume-schemas.js';
import { checkDistinct, checkVolumeMounts, type CheckedVolumeMount, type RequestedVolumeMount } from './volume-mounts.js';

type Dto = Static<typeof VolumeDto>;

/** Letters, digits, `_ . -`; the SDK's own check for auto-creating (`[\w-]+`) accepts every name without a dot. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

export function toVolumeDto(v: Volume): Dto {
  return {
    id: v.id,
    name: v.name,
    organizationId: v.organizationId,
    state: v.state as Dto['state'],
    createdAt: v.createdAt.toISOString(),
    updatedAt: v.updatedAt.toISOString(),
    lastUsedAt: v.lastUsedAt?.toISOString() ?? null,
    errorReason: v.errorReason,
  };
}

/**
 * Volumes of the caller's organization. A volume of another organization is reported as missing (404), never as
 * forbidden, so ids and names do not leak across organizations. System admins read and delete any organization's
 * volumes, as they do sandboxes; a sandbox mounts only volumes of its own organization, whoever creates it.
 */
export class VolumeService {
  private readonly volumes: VolumeRepository;
  private readonly orgs: OrganizationRepository;

  constructor(
    private readonly db: Db,
    private readonly manager: Pick<VolumeManager, 'wake' | 'provisionNow'>,
  ) {
    this.volumes = new VolumeRepository(db);
    this.orgs = new OrganizationRepository(db);
  }

  async list(p: UserPrincipal, includeDeleted: boolean): Promise<Dto[]> {
    return (await this.volumes.list(p.organizationId, includeDeleted)).map(toVolumeDto);
  }

  async get(p: UserPrincipal, id: string): Promise<Dto> {
    return toVolumeDto(await this.own(p, id));
  }

  async getByName(p: UserPrincipal, name: string): Promise<Dto> {
    const v = (await this.volumes.findByName(p.organizationId, name)) ?? (p.isAdmin ? await this.volumes.findByNameInAnyOrganization(name) : undefined);
    if (!v) throw Errors.volumeNameNotFound(name);
    return toVolumeDto(v);
  }

  /**
   * Inserts the volume in `pending_create` and provisions it before answering (nothing to do for the local driver,
   * one marker object for s3), so the answer is normally `ready`; the volume manager finishes what a crash cut short.
   */
  async create(p: UserPrincipal, body: { name?: string | undefined }): Promise<Dto> {
    const id = randomUUID();
    const name = body.name?.trim() ? body.name : id;
    if (!NAME.test(name)) throw Errors.volumeNameInvalid();
    const org = await this.orgs.findById(p.organizationId);
    if (!org) throw Errors.forbidden();
    if (org.suspended && (!org.suspendedUntil || org.suspendedUntil.getTime() > Date.now())) throw Errors.orgSuspended(org.suspensionReason);
    await this.db.transaction().execute(async (trx) => {
      const repo = new VolumeRepository(trx);
      await repo.lockOrganization(org.id);
      if ((await repo.countForQuota(org.id)) >= org.volumeQuota) throw Errors.volumeQuotaExceeded(org.volumeQuota);
      if (!(await repo.insert({ id, organizationId: org.id, name }))) throw Errors.volumeNameTaken(name);
    });
    await this.manager.provisionNow(id).catch(() => this.manager.wake());
    return toVolumeDto((await this.volumes.findById(id))!);
  }

  /**
   * Only a `ready` volume is deleted, and only when no sandbox that is not destroyed names it: its data would vanish
   * under a running sandbox, or under one that is stopped and will start again. The check and the state change happen
   * under the volume's row lock, which a sandbox create mounting it also takes (lockForMount).
   */
  async delete(p: UserPrincipal, id: string): Promise<void> {
    const v = await this.own(p, id);
    await this.db.transaction().execute(async (trx) => {
      const repo = new VolumeRepository(trx);
      const locked = await repo.lockForDelete(v.id);
      if (!locked) throw Errors.volumeIdNotFound(id);
      if (locked.state !== 'ready') throw Errors.volumeNotReadyForDelete(locked.state);
      const users = await repo.sandboxesUsing(v.id);
      if (users.length > 0) throw Errors.volumeInUse(locked.name, users);
      await repo.transition(v.id, ['ready'], 'pending_delete');
    });
    this.manager.wake();
  }

  private async own(p: UserPrincipal, id: string): Promise<Volume> {
    const v = await this.volumes.findById(id);
    if (!v || (v.organizationId !== p.organizationId && !p.isAdmin)) throw Errors.volumeIdNotFound(id);
    return v;
  }
}

/**
 * The mounts of a sandbox create, checked and resolved: paths by the rules of volume-mounts.ts, each volume (id or
 * name) in the caller's organization and `ready`, stored by id. Call inside the create's transaction with a
 * repository bound to it: the volumes stay locked (FOR SHARE) until the sandbox row is in, so a delete cannot slip
 * between the check and the insert.
 */
export async function resolveVolumeMounts(repo: VolumeRepository, organizationId: string, mounts: RequestedVolumeMount[] | undefined): Promise<CheckedVolumeMount[]> {
  if (!mounts?.length) return [];
  const checked = checkVolumeMounts(mounts);
  const resolved: CheckedVolumeMount[] = [];
  for (const m of checked) {
    const v = await repo.findByIdOrName(organizationId, m.volumeId);
    if (!v) throw Errors.volumeMountNotFound(m.volumeId);
    resolved.push({ ...m, volumeId: v.id });
  }
  // A name and an id may name one volume: the duplicate rule again on ids.
  checkDistinct(resolved);
  const locked = new Map((await repo.lockForMount([...new Set(resolved.map((m) => m.volumeId))])).map((v) => [v.id, v]));
  for (const m of resolved) {
    const v = locked.get(m.volumeId);
    if (!v || v.state === 'deleted') throw Errors.volumeMountNotFound(m.volumeId);
    if (v.state !== 'ready') throw Errors.volumeMountNotReady(v.name, v.state);
  }
  return resolved;
}
