import { PassThrough, type Readable } from 'node:stream';
import type { Static } from '@sinclair/typebox';
import type { Db } from '../db/database.js';
import type { Organization, Snapshot } from '../db/schema.js';
import { Errors } from '../errors.js';
import type { UserPrincipal } from '../auth/principal.js';
import { OrganizationRepository } from '../repositories/organization.repository.js';
import { SnapshotRepository } from '../repositories/snapshot.repository.js';
import type { SnapshotManager, SnapshotRunnerClient } from '../reconciler/snapshot-manager.js';
import type { CreateSnapshotBody, ListSnapshotsQuery } from '../routes/snapshots/snapshot-schemas.js';
import type { SnapshotDto } from '../schemas.js';
import { toSnapshotDto } from './organization.service.js';
import { internalImageAllowed, internalSnapshotRef } from './registry-credentials.js';

type Dto = Static<typeof SnapshotDto>;

/**
 * The buildInfo half of POST /snapshots (Dockerfile and declarative builds) lives in the build pipeline; this service
 * validates what both halves share and hands such bodies over.
 */
export interface SnapshotBuilds {
  createSnapshotFromBuildInfo(p: UserPrincipal, body: CreateSnapshotBody, org: Organization): Promise<Dto>;
}

/** `^[a-zA-Z0-9_.\-:]+(/[a-zA-Z0-9_.\-:]+)*$`, as the reference checks snapshot names. */
const NAME = /^[a-zA-Z0-9_.\-:]+(\/[a-zA-Z0-9_.\-:]+)*$/;
/** Repository path segments, an optional `:tag`, an optional `@algo:hex` digest; one of the two is required. */
const IMAGE = /^[a-zA-Z0-9_.\-:]+(\/[a-zA-Z0-9_.-]+)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@[a-z0-9]+:[a-f0-9]{32,128})?$/;
const TERMINAL = new Set(['active', 'inactive', 'error', 'build_failed']);

export function validateSnapshotName(name: string): void {
  if (!NAME.test(name)) throw Errors.snapshotNameInvalid();
}

/** An image reference must name a tag or digest, and not `latest` (a moving tag would make the snapshot drift). */
export function validateImageName(image: string): void {
  if (!IMAGE.test(image)) throw Errors.snapshotImageInvalid(image);
  const at = image.indexOf('@');
  const path = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = path.lastIndexOf('/');
  const colon = path.lastIndexOf(':');
  const tag = colon > lastSlash ? path.slice(colon + 1) : '';
  if (tag === 'latest') throw Errors.snapshotImageLatest();
  if (!tag && at < 0) throw Errors.snapshotImageInvalid(image);
}

export class SnapshotService {
  private readonly snapshots: SnapshotRepository;
  private readonly orgs: OrganizationRepository;
  /** Set by the build pipeline when it is wired in; without it buildInfo bodies are refused. */
  builds?: SnapshotBuilds;

  constructor(
    private readonly db: Db,
    private readonly manager: Pick<SnapshotManager, 'wake'>,
    private readonly runnerClient: SnapshotRunnerClient,
    private readonly registryHost: string,
  ) {
    this.snapshots = new SnapshotRepository(db);
    this.orgs = new OrganizationRepository(db);
  }

  async create(p: UserPrincipal, body: CreateSnapshotBody): Promise<Dto> {
    if (body.buildInfo) {
      if (body.imageName) throw Errors.snapshotImageWithBuildInfo();
      if (body.entrypoint?.length) throw Errors.snapshotEntrypointWithBuildInfo();
    } else if (!body.imageName) throw Errors.snapshotImageRequired();
    validateSnapshotName(body.name);
    if (body.imageName) validateImageName(body.imageName);
    if (body.imageName && !internalImageAllowed(this.registryHost, p.organizationId, body.imageName, p.isAdmin)) throw Errors.internalImageForbidden(body.imageName);
    if (body.general && !p.isAdmin) throw Errors.forbidden();

    const org = await this.orgs.findById(p.organizationId);
    if (!org) throw Errors.forbidden();
    if (org.suspended && (!org.suspendedUntil || org.suspendedUntil.getTime() > Date.now())) throw Errors.orgSuspended(org.suspensionReason);
    const res = { cpu: body.cpu || 1, gpu: body.gpu || 0, mem: body.memory || 1, disk: body.disk || 3 };
    checkPerSandbox(org, res);

    if (body.buildInfo) {
      if (!this.builds) throw Errors.snapshotBuildInfoHook();
      return this.builds.createSnapshotFromBuildInfo(p, body, org);
    }
    const row = await this.db.transaction().execute(async (trx) => {
      const repo = new SnapshotRepository(trx);
      await repo.lockOrganization(org.id);
      if ((await repo.countForQuota(org.id)) >= org.snapshotQuota) throw Errors.snapshotQuotaExceeded(org.snapshotQuota);
      const inserted = await repo.insert({
        organizationId: org.id,
        name: body.name,
        imageName: body.imageName!,
        general: body.general ?? false,
        entrypoint: body.entrypoint?.length ? body.entrypoint : null,
        ...res,
      });
      if (!inserted) throw Errors.snapshotNameTaken(body.name);
      return inserted;
    });
    this.manager.wake();
    return toSnapshotDto(row, p);
  }

  async list(p: UserPrincipal, q: ListSnapshotsQuery) {
    const page = q.page ?? 1;
    const limit = q.limit ?? 100;
    const { items, total } = await this.snapshots.list(p.organizationId, {
      ...(q.name ? { name: q.name } : {}),
      sort: q.sort ?? 'lastUsedAt',
      order: q.order ?? 'desc',
      limit,
      offset: (page - 1) * limit,
    });
    return { items: items.map((s) => toSnapshotDto(s, p)), total, page, totalPages: Math.ceil(total / limit) };
  }

  async get(p: UserPrincipal, idOrName: string): Promise<Dto> {
    return toSnapshotDto(await this.readable(p, idOrName), p);
  }

  /**
   * The organization's own and the general snapshots are readable; another organization's snapshot is reported as
   * missing (404), so its existence does not leak. Admins read every snapshot.
   */
  private async readable(p: UserPrincipal, idOrName: string): Promise<Snapshot> {
    const s = (await this.snapshots.findByIdOrName(p.organizationId, idOrName)) ?? (p.isAdmin ? await this.snapshots.findByIdOrName(p.organizationId, idOrName, true) : undefined);
    if (!s) throw Errors.snapshotIdOrNameNotFound(idOrName);
    return s;
  }

  /** What a user may change: the organization's own snapshots (general ones only for admins). */
  private async owned(p: UserPrincipal, idOrName: string): Promise<Snapshot> {
    const s = await this.readable(p, idOrName);
    if (s.organizationId !== p.organizationId && !p.isAdmin) throw Errors.snapshotIdNotFound(idOrName);
    return s;
  }

  async remove(p: UserPrincipal, id: string): Promise<void> {
    const s = await this.owned(p, id);
    if (s.general) throw Errors.generalSnapshotDelete();
    if (s.state === 'removing') return;
    await this.snapshots.transition(s.id, [s.state], { state: 'removing' });
    this.manager.wake();
  }

  async setGeneral(id: string, general: boolean): Promise<Dto> {
    const s = await this.snapshots.findById(id);
    if (!s) throw Errors.snapshotIdNotFound(id);
    return toSnapshotDto((await this.snapshots.setGeneral(s.id, general)) ?? s);
  }

  async activate(p: UserPrincipal, id: string): Promise<Dto> {
    const s = await this.owned(p, id);
    if (s.state === 'active') throw Errors.snapshotAlreadyActive(id);
    if (s.state !== 'inactive') throw Errors.snapshotNotInactive(id, s.state);
    const org = await this.orgs.findById(s.organizationId ?? p.organizationId);
    if (org?.suspended && (!org.suspendedUntil || org.suspendedUntil.getTime() > Date.now())) throw Errors.orgSuspended(org.suspensionReason);
    const updated = await this.db.transaction().execute(async (trx) => {
      const repo = new SnapshotRepository(trx);
      if (org) {
        await repo.lockOrganization(org.id);
        if ((await repo.countForQuota(org.id)) >= org.snapshotQuota) throw Errors.snapshotQuotaExceeded(org.snapshotQuota);
      }
      return repo.transition(s.id, ['inactive'], { state: 'active', runnerCopiesRemovedAt: null });
    });
    if (!updated) throw Errors.snapshotNotInactive(id, (await this.snapshots.findById(s.id))?.state ?? 'removing');
    return toSnapshotDto(updated, p);
  }

  /** Sandboxes already running keep their image; new sandboxes are refused until the snapshot is activated again. */
  async deactivate(p: UserPrincipal, id: string): Promise<void> {
    const s = await this.owned(p, id);
    if (s.state === 'inactive') return;
    if (s.state === 'removing') throw Errors.snapshotIdNotFound(id);
    // Every organization's sandboxes (the default snapshot's above all) depend on a general snapshot staying usable.
    if (s.general) throw Errors.generalSnapshotDeactivate();
    await this.snapshots.transition(s.id, [s.state], { state: 'inactive', runnerCopiesRemovedAt: null });
    // The manager's lifecycle takes the image off the runners where no sandbox uses it.
    this.manager.wake();
  }

  canCleanupImage(imageName: string): Promise<boolean> {
    return this.snapshots.canCleanupImage(imageName);
  }

  /**
   * The pull (or build) log of the snapshot, read from the runner doing the work. With `follow` the stream stays
   * open while the snapshot is being worked on and ends shortly after it settles (active, error, ...), whether or
   * not the runner itself follows its log: what it already sent is skipped when the log is read again.
   */
  async buildLogs(p: UserPrincipal, idOrName: string, follow: boolean): Promise<Readable> {
    const first = await this.readable(p, idOrName);
    const out = new PassThrough();
    const abort = new AbortController();
    out.on('close', () => abort.abort());
    void this.pumpLogs(first, follow, out, abort.signal)
      .catch(() => {})
      .finally(() => out.end());
    return out;
  }

  private async pumpLogs(first: Snapshot, follow: boolean, out: PassThrough, signal: AbortSignal): Promise<void> {
    let s: Snapshot | undefined = first;
    let sent = 0;
    const waitForRunnerUntil = Date.now() + 30_000;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());
    while (!signal.aborted) {
      if (!s) return;
      const runner = s.buildRunnerId ? await this.snapshots.runner(s.buildRunnerId) : undefined;
      if (!runner) {
        if (!follow || TERMINAL.has(s.state) || Date.now() > waitForRunnerUntil) return;
        await sleep(1000);
        s = await this.snapshots.findById(s.id);
        continue;
      }
      const refs = [...new Set([internalSnapshotRef(this.registryHost, s.organizationId ?? 'general', s.id, s.imageName), s.imageName, s.internalName].filter((r): r is string => !!r))];
      const settledBefore = TERMINAL.has(s.state);
      sent += await this.readRunnerLog(runner, refs, follow, sent, out, signal, s.id);
      if (!follow || settledBefore) return;
      s = await this.snapshots.findById(s.id);
      if (!s || TERMINAL.has(s.state)) {
        // One last read picks up what the runner wrote as the snapshot settled.
        if (s && runner) sent += await this.readRunnerLog(runner, refs, false, sent, out, signal, s.id);
        return;
      }
      await sleep(1000);
    }
  }

  /**
   * Copies the runner's log from byte `skip` on; returns the bytes read past `skip`. A followed read is cut once the
   * snapshot settles (the runner may keep following a log whose pull is long over).
   */
  private async readRunnerLog(
    runner: NonNullable<Awaited<ReturnType<SnapshotRepository['runner']>>>,
    refs: string[],
    follow: boolean,
    skip: number,
    out: PassThrough,
    outer: AbortSignal,
    snapshotId: string,
  ): Promise<number> {
    for (const ref of refs) {
      const ac = new AbortController();
      const onOuter = () => ac.abort();
      outer.addEventListener('abort', onOuter);
      let watcher: NodeJS.Timeout | undefined;
      try {
        const res = await this.runnerClient.logs(runner, ref, follow, ac.signal).catch(() => undefined);
        if (!res) return 0;
        if (res.statusCode === 404) {
          res.body.resume();
          continue;
        }
        if (res.statusCode >= 300) {
          res.body.resume();
          return 0;
        }
        if (follow) {
          watcher = setInterval(() => {
            void this.snapshots.findById(snapshotId).then((now) => {
              if (!now || TERMINAL.has(now.state)) setTimeout(() => ac.abort(), 1500).unref();
            });
          }, 1000);
          watcher.unref();
        }
        let seen = 0;
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            const start = Math.max(0, skip - seen);
            seen += chunk.length;
            if (start < chunk.length && !out.destroyed) out.write(start === 0 ? chunk : chunk.subarray(start));
          }
        } catch {
          /* aborted: the snapshot settled or the client left */
        }
        return Math.max(0, seen - skip);
      } finally {
        if (watcher) clearInterval(watcher);
        outer.removeEventListener('abort', onOuter);
      }
    }
    return 0;
  }
}

function checkPerSandbox(org: Organization, r: { cpu: number; mem: number; disk: number }): void {
  if (r.cpu > org.maxCpuPerSandbox) throw Errors.forbidden(`CPU request ${r.cpu} exceeds maximum allowed per sandbox (${org.maxCpuPerSandbox})`);
  if (r.mem > org.maxMemoryPerSandbox) throw Errors.forbidden(`Memory request ${r.mem}GB exceeds maximum allowed per sandbox (${org.maxMemoryPerSandbox}GB)`);
  if (r.disk > org.maxDiskPerSandbox) throw Errors.forbidden(`Disk request ${r.disk}GB exceeds maximum allowed per sandbox (${org.maxDiskPerSandbox}GB)`);
}
