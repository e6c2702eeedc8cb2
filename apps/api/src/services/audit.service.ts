import { Errors } from '../errors.js';
import type { Principal, UserPrincipal } from '../auth/principal.js';
import type { AuditLogRow } from '../audit/tables.js';
import type { AuditLogFilter, AuditRepository, NewAuditLog } from '../repositories/audit.repository.js';

export interface AuditLogDto {
  id: string;
  actorId: string;
  actorEmail: string;
  organizationId?: string;
  action: string;
  targetType?: string;
  targetId?: string;
  statusCode?: number;
  errorMessage?: string;
  ipAddress?: string;
  userAgent?: string;
  source?: string;
  metadata?: Record<string, unknown>;
  createdAt: string;
}

export interface AuditListQuery {
  page?: number;
  limit?: number;
  from?: string;
  to?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  actorId?: string;
}

export interface CreateAuditLogBody {
  actorId: string;
  actorEmail: string;
  organizationId?: string;
  action: string;
  targetType?: string;
  targetId?: string;
}

/** Where a request came from, as the audit row stores it. */
export interface RequestOrigin {
  ipAddress: string | null;
  userAgent: string | null;
  source: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Error messages can quote big inputs; the log keeps their start. */
const MAX_ERROR_MESSAGE = 2000;

export function toAuditLogDto(r: AuditLogRow): AuditLogDto {
  return {
    id: r.id,
    actorId: r.actorId,
    actorEmail: r.actorEmail,
    ...(r.organizationId !== null ? { organizationId: r.organizationId } : {}),
    action: r.action,
    ...(r.targetType !== null ? { targetType: r.targetType } : {}),
    ...(r.targetId !== null ? { targetId: r.targetId } : {}),
    ...(r.statusCode !== null ? { statusCode: r.statusCode } : {}),
    ...(r.errorMessage !== null ? { errorMessage: r.errorMessage } : {}),
    ...(r.ipAddress !== null ? { ipAddress: r.ipAddress } : {}),
    ...(r.userAgent !== null ? { userAgent: r.userAgent } : {}),
    ...(r.source !== null ? { source: r.source } : {}),
    ...(r.metadata !== null ? { metadata: r.metadata } : {}),
    createdAt: r.createdAt.toISOString(),
  };
}

/** The actor columns of a row: a user (id and, when the principal carries it, e-mail) or `runner:<id>`. */
export function actorOf(p: Principal): { actorId: string; actorEmail: string } {
  if (p.kind === 'runner') return { actorId: `runner:${p.runnerId}`, actorEmail: '' };
  if (p.kind === 'ssh-gateway') return { actorId: 'ssh-gateway', actorEmail: '' };
  return { actorId: p.userId, actorEmail: (p as UserPrincipal & { email?: string }).email ?? '' };
}

export class AuditService {
  /** Outcomes being written after their answers (completeAfterAnswer): this process's reads of the log wait for them. */
  private readonly completing = new Set<Promise<void>>();

  constructor(private readonly repo: AuditRepository) {}

  /** Writes the row before a state change; a failure becomes a 500 so the change does not run unaudited. */
  async begin(row: NewAuditLog): Promise<string> {
    try {
      return (await this.repo.insert(row)).id;
    } catch (err) {
      // The row that must precede a state change cannot be written: the change must not happen unaudited.
      throw Object.assign(Errors.auditLogUnavailable(), { cause: err });
    }
  }

  complete(id: string, statusCode: number, errorMessage: string | null, found: { targetId?: string | null; organizationId?: string | null } = {}): Promise<void> {
    return this.repo.complete(id, { statusCode, errorMessage: errorMessage?.slice(0, MAX_ERROR_MESSAGE) ?? null, ...found });
  }

  /**
   * `complete` for a request that has answered already. A read of the log in this process waits for it (so a caller's
   * next request here finds the outcome); another replica may list the row without its outcome for that moment, as
   * it would any row written a moment before its read. `onError` hears a write that failed (the row keeps no outcome).
   */
  completeAfterAnswer(id: string, statusCode: number, errorMessage: string | null, found: { targetId?: string | null; organizationId?: string | null }, onError: (err: unknown) => void): void {
    const done: Promise<void> = this.complete(id, statusCode, errorMessage, found)
      .catch(onError)
      .finally(() => this.completing.delete(done));
    this.completing.add(done);
  }

  /** Resolves once every outcome begun before the call is written (or has failed). */
  async settled(): Promise<void> {
    if (this.completing.size > 0) await Promise.all([...this.completing]);
  }

  /** An invitation's organization, so an invitee's accept or decline shows in the inviting organization's log. */
  async invitationOrganization(invitationId: string): Promise<string | null> {
    if (!UUID.test(invitationId)) return null;
    return this.repo.invitationOrganization(invitationId).catch(() => null);
  }

  /** A row written after the fact (refused before any handler ran: nothing changed, so nothing waited on it). */
  async recordRefused(row: NewAuditLog): Promise<void> {
    await this.repo.insert({ ...row, errorMessage: row.errorMessage?.slice(0, MAX_ERROR_MESSAGE) ?? null });
  }

  /** GET /audit (admin): every organization's rows. */
  listAll(query: AuditListQuery) {
    return this.page({}, query);
  }

  /** GET /audit/organizations/{id}: the caller's own organization (an admin: any existing one); others are 404. */
  async listForOrganization(caller: UserPrincipal, organizationId: string, query: AuditListQuery) {
    const visible = UUID.test(organizationId) && (caller.isAdmin ? await this.repo.organizationExists(organizationId) : caller.organizationId === organizationId);
    if (!visible) throw Errors.organizationNotFound(organizationId);
    return this.page({ organizationId }, query);
  }

  /** POST /audit (admin): an entry written by the caller on someone's behalf, as in the reference. */
  async create(body: CreateAuditLogBody, origin: RequestOrigin): Promise<AuditLogDto> {
    if (body.organizationId !== undefined && !UUID.test(body.organizationId)) throw Errors.badRequest('organizationId must be a UUID');
    const row = await this.repo.insert({
      actorId: body.actorId,
      actorEmail: body.actorEmail,
      organizationId: body.organizationId ?? null,
      action: body.action,
      targetType: body.targetType ?? null,
      targetId: body.targetId ?? null,
      ...origin,
      metadata: null,
    });
    return toAuditLogDto(row);
  }

  /** Deletes rows older than `days` days; returns how many this process deleted. */
  purgeOlderThanDays(days: number, now = Date.now()): Promise<number> {
    return this.repo.purgeOlderThan(new Date(now - days * 86_400_000));
  }

  private async page(base: AuditLogFilter, query: AuditListQuery) {
    const page = query.page ?? 1;
    const limit = query.limit ?? 100;
    const filter: AuditLogFilter = { ...base };
    if (query.from !== undefined) filter.from = parseDate(query.from, 'from');
    if (query.to !== undefined) filter.to = parseDate(query.to, 'to');
    if (filter.from && filter.to && filter.from > filter.to) throw Errors.badRequest('from must not be after to');
    for (const k of ['action', 'targetType', 'targetId', 'actorId'] as const) if (query[k]) filter[k] = query[k];
    await this.settled();
    const { items, total } = await this.repo.list(filter, page, limit);
    return { items: items.map(toAuditLogDto), total, page, totalPages: Math.ceil(total / limit) };
  }
}

function parseDate(value: string, name: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw Errors.auditDateInvalid(name);
  return d;
}
