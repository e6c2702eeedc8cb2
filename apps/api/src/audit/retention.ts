import type { FastifyBaseLogger } from 'fastify';
import type { AuditService } from '../services/audit.service.js';

/** How often the purge runs; rows live at most this much longer than the retention. */
export const AUDIT_PURGE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * SHOAL_AUDIT_RETENTION_DAYS: every API replica runs this sweep; the purge takes a non-blocking advisory lock per
 * batch (repositories/audit.repository.ts), so replicas never delete the same rows twice and never wait on each other.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly audit: AuditService,
    private readonly days: number,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = AUDIT_PURGE_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.days <= 0 || this.timer) return;
    const tick = () => {
      this.running ??= this.sweep().finally(() => {
        this.running = null;
      });
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One purge round; errors are logged (the next round retries). */
  async sweep(): Promise<void> {
    try {
      const n = await this.audit.purgeOlderThanDays(this.days);
      if (n > 0) this.log.info({ deleted: n, retentionDays: this.days }, 'audit log entries past retention deleted');
    } catch (err) {
      this.log.warn({ err }, 'audit log retention purge failed');
    }
  }
}
