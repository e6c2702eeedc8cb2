import { EventEmitter } from 'node:events';
import pg from 'pg';

export const WORK_CHANNEL = 'shoal_sandbox_work';
export const STATE_CHANNEL = 'shoal_sandbox_state';
/** Raised by the database on any change to keys, users, memberships or runner tokens (migration 16). */
export const CREDENTIALS_CHANNEL = 'shoal_credentials';
/** Raised by the database with a sandbox's id on every update or delete of its row, '*' for all (migration 18). */
export const ROW_CHANNEL = 'shoal_sandbox_row';
/** The same for runner rows (migration 21). */
export const RUNNER_ROW_CHANNEL = 'shoal_runner_row';

/** Told whether credential changes are being heard, and of each one (auth/credential-cache.ts). */
export interface CredentialChangeListener {
  invalidate(): void;
  setLive(live: boolean): void;
}

/** Told whether row changes of a table are being heard, and of each one (services/row-cache.ts). */
export interface RowChangeListener {
  heard(id: string): void;
  setLive(live: boolean): void;
}

/**
 * In-process fan-out of "sandbox X changed" plus PostgreSQL LISTEN/NOTIFY so every API process hears about changes
 * made by the others. Waiters never depend on it alone: they also re-read the row periodically, so a lost
 * notification costs latency, not correctness.
 */
export class SandboxEvents {
  private readonly emitter = new EventEmitter();
  private client: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly onWork: () => void,
    private readonly onError: (err: unknown) => void,
    private readonly credentials?: CredentialChangeListener,
    private readonly rows?: RowChangeListener,
    private readonly runnerRows?: RowChangeListener,
  ) {
    this.emitter.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.databaseUrl });
    // Only this connection's own end matters: a replaced one ending late must not turn off its successor's cache.
    const current = () => this.client === client || this.client === null;
    client.on('error', (err) => {
      if (current()) this.setLive(false);
      this.onError(err);
      this.scheduleReconnect();
    });
    client.on('notification', (msg) => {
      if (msg.channel === WORK_CHANNEL) this.onWork();
      else if (msg.channel === STATE_CHANNEL && msg.payload) this.emitter.emit(msg.payload);
      else if (msg.channel === ROW_CHANNEL) this.rows?.heard(msg.payload ?? '*');
      else if (msg.channel === RUNNER_ROW_CHANNEL) this.runnerRows?.heard(msg.payload ?? '*');
      else if (msg.channel === CREDENTIALS_CHANNEL) this.credentials?.invalidate();
    });
    // A connection that ends without an error (the server closed it) stops the notifications just as well.
    client.on('end', () => {
      if (!current()) return;
      this.setLive(false);
      if (this.client === client) this.scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WORK_CHANNEL}`);
      await client.query(`LISTEN ${STATE_CHANNEL}`);
      await client.query(`LISTEN ${CREDENTIALS_CHANNEL}`);
      await client.query(`LISTEN ${ROW_CHANNEL}`);
      await client.query(`LISTEN ${RUNNER_ROW_CHANNEL}`);
      this.client = client;
      // From here every change is heard; anything cached before may be stale (setLive empties the caches).
      this.setLive(true);
      // Work NOTIFYed while no connection was listening is lost; look for it now rather than at the next poll.
      this.onWork();
    } catch (err) {
      this.onError(err);
      client.end().catch(() => {});
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.client?.end().catch(() => {});
    this.client = null;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, 1000);
    this.reconnectTimer.unref();
  }

  private setLive(live: boolean): void {
    this.credentials?.setLive(live);
    this.rows?.setLive(live);
    this.runnerRows?.setLive(live);
  }

  /** Local notification (same process); the NOTIFY from the writer reaches the other processes. */
  emitLocal(sandboxId: string): void {
    this.emitter.emit(sandboxId);
  }

  /** Resolves on the next change of `sandboxId` or after `ms`, whichever comes first. */
  waitForChange(sandboxId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(sandboxId, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.emitter.on(sandboxId, done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.setLive(false);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}
