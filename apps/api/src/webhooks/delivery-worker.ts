import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { ClaimLoop } from '../reconciler/claim-loop.js';
import type { DueDelivery, WebhookRepository } from '../repositories/webhook.repository.js';
import { retryDelayMs, type WebhookConfig } from './config.js';
import { WebhookSender } from './sender.js';

/** Channel the outbox fan-out trigger NOTIFYs (migration 12) when it creates deliveries. */
export const WEBHOOK_CHANNEL = 'shoal_webhook';

/** The body POSTed for a message: the event's type and time, then the reference's payload fields. */
export function deliveryBody(d: Pick<DueDelivery, 'eventType' | 'payload' | 'messageCreatedAt'>): string {
  return JSON.stringify({ event: d.eventType, timestamp: new Date(d.messageCreatedAt).toISOString(), ...d.payload });
}

/**
 * Drains the outbox: claims due deliveries with a lease (any replica; a restarted or dead one loses its claims when
 * the lease lapses), sends each once, records the attempt and schedules the retry. Woken by NOTIFY from the fan-out
 * trigger, and by its timer for retries that come due and notifications missed while not listening.
 */
export class WebhookDeliveryWorker {
  private readonly loop: ClaimLoop<DueDelivery>;
  private readonly sender: WebhookSender;
  private listener: pg.Client | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private retention: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly repo: WebhookRepository,
    private readonly databaseUrl: string,
    private readonly cfg: WebhookConfig,
    private readonly log: FastifyBaseLogger,
    private readonly opts: { intervalMs: number; leaseMs: number; onAttempt?: (outcome: 'succeeded' | 'retrying' | 'failed') => void },
  ) {
    this.sender = new WebhookSender({ timeoutMs: cfg.timeoutMs, allowPrivateTargets: cfg.allowPrivateTargets });
    // The lease outlives one attempt (the loop also renews it), so another replica never sends the same delivery concurrently.
    this.loop = new ClaimLoop(repo, (d) => this.deliver(d), log, {
      name: 'webhook',
      intervalMs: opts.intervalMs,
      leaseMs: Math.max(opts.leaseMs, cfg.timeoutMs * 2),
      maxConcurrent: cfg.concurrency,
    });
  }

  async start(): Promise<void> {
    this.closed = false;
    await this.listen();
    this.loop.start();
    this.retention = setInterval(() => {
      this.repo.deleteOlderThan(this.cfg.retentionDays).catch((err: unknown) => this.log.warn({ err }, 'webhook retention sweep failed'));
    }, 3600_000);
    this.retention.unref();
  }

  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    if (this.retention) clearInterval(this.retention);
    await this.listener?.end().catch(() => {});
    this.listener = null;
    await this.loop.stop();
    await this.sender.close();
  }

  private async deliver(d: DueDelivery): Promise<number> {
    const result = await this.sender.send({ url: d.url, secret: d.secret, messageId: d.messageId, body: deliveryBody(d) });
    const attempt = d.attempts + 1;
    const state = result.ok ? 'succeeded' : attempt >= this.cfg.maxAttempts ? 'failed' : 'pending';
    const retryInMs = state === 'pending' ? retryDelayMs(this.cfg, attempt + 1) : 0;
    const recorded = await this.repo.recordAttempt(d, this.loop.owner, result, { state, retryInMs });
    this.opts.onAttempt?.(state === 'pending' ? 'retrying' : state);
    if (!result.ok)
      this.log.info({ messageId: d.messageId, endpointId: d.endpointId, attempt, error: result.error, recorded }, `webhook attempt failed (${state})`);
    if (state === 'pending' && recorded) {
      // The timer pass would find the retry too, but one that is due soon should not wait a whole interval.
      setTimeout(() => this.loop.wake(), retryInMs + 10).unref();
    }
    return 0;
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    const retry = () => {
      if (this.closed || this.reconnect) return;
      client.end().catch(() => {});
      if (this.listener === client) this.listener = null;
      this.reconnect = setTimeout(() => {
        this.reconnect = null;
        void this.listen();
      }, 1000);
      this.reconnect.unref();
    };
    client.on('error', (err) => {
      this.log.warn({ err }, 'webhook LISTEN connection problem');
      retry();
    });
    client.on('notification', () => this.loop.wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${WEBHOOK_CHANNEL}`);
      this.listener = client;
      this.loop.wake();
    } catch (err) {
      this.log.warn({ err }, 'webhook LISTEN connection failed');
      retry();
    }
  }
}
