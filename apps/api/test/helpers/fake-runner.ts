import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { runnerCallToken, runnerTokenHash } from '@shoal/contracts';
import { TEST_PLATFORM_SECRET } from './database.js';

/*
 * FAKE RUNNER — for medium tests only. A small HTTP server that speaks the runner API of
 * packages/contracts/src/runner.ts, keeps sandbox states in memory and records every call, so tests can assert what
 * the API asked of its runner. It runs no containers. The real runner is exercised by the e2e tests.
 *
 * It is built so the assertions made against it can fail: `process/execute` answers with the command it received
 * (not a canned string), and a create the API should not have sent is recorded in `duplicateCreates` instead of
 * being absorbed by the state map.
 */

export interface RecordedCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeRunnerOptions {
  token: string;
  /** Which images GET /snapshots/exists reports present (default: every one). */
  holds?: (ref: string) => boolean;
  /** Delay of create/start/stop/destroy, to widen race windows. */
  actionDelayMs?: number;
  /** Sandbox ids (or '*') whose create fails with 500. */
  failCreate?: Set<string>;
  /**
   * Answer to POST /snapshots/pull (default: a PullSnapshotResult of 1 MiB with entrypoint ['/bin/sh'] and cmd
   * ['-c', 'sleep 1']; images whose name contains `unknown` get 400 "manifest unknown"). Waits `pullDelayMs` first.
   */
  pull?: (body: { snapshot: string; destinationRef?: string; registry?: unknown }) => { status: number; body: unknown };
  pullDelayMs?: number;
  /** Answer to POST /snapshots/validate (the trial run); default: valid. */
  validate?: (body: { snapshot: string; entrypoint?: string[] }) => { status: number; body: unknown } | undefined;
  /** Answer to POST /snapshots/remove for a ref (e.g. 409 while in use); default: 200. */
  remove?: (ref: string) => { status: number; body: unknown } | undefined;
  /** Sandbox ids whose backup fails with 500. */
  failBackup?: Set<string>;
  /** Delay of archive and backup calls. */
  layerDelayMs?: number;
  /** Sandbox ids (or '*') whose warm-pool claim fails with 502. */
  failClaim?: Set<string>;
}

/** A POST /sandboxes/:id/claim the API sent (ClaimRunnerSandbox). */
export interface ClaimCall {
  id: string;
  userId: string;
  env: Record<string, string>;
  networkBlockAll?: boolean;
  networkAllowList?: string;
  networkLimitEgress?: boolean;
  metadata?: Record<string, string>;
}

/** A create the API sent for a sandbox the runner already had, or was still creating. */
export interface DuplicateCreate {
  id: string;
  /** `in-flight`: an earlier create of the id had not answered yet; `answered`: the API had already been told it exists. */
  reason: 'in-flight' | 'answered';
  /** For `answered`: when (Date.now()) the earlier create's answer was written to a live connection. */
  answeredAt?: number;
}

export class FakeRunner {
  readonly calls: RecordedCall[] = [];
  readonly states = new Map<string, string>();
  /** Creates that a correct API never sends. A re-send after an answer was lost (API killed mid-call) is not one. */
  readonly duplicateCreates: DuplicateCreate[] = [];
  /** Creates re-sent after the earlier create's answer never reached the API (its connection was gone): legitimate. */
  readonly retriedCreates: string[] = [];
  private readonly creating = new Set<string>();
  private readonly answeredCreates = new Map<string, number>();
  /** Every accepted WebSocket upgrade, with the headers that reached the runner. */
  readonly upgrades: Array<{ path: string; headers: http.IncomingHttpHeaders }> = [];
  /** Pull logs by reference (destinationRef when given), served by GET /snapshots/logs. */
  readonly pullLogs = new Map<string, string>();
  /** Object keys the fake "uploaded" by archive and backup, and what each create restored from (restoreFrom). */
  readonly stored = new Set<string>();
  readonly restored: { id: string; key: string }[] = [];
  /** Warm-pool claims applied, in order. */
  readonly claims: ClaimCall[] = [];
  private server!: http.Server;
  private wss = new WebSocketServer({ noServer: true });
  url = '';

  constructor(readonly opts: FakeRunnerOptions) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: body.toString('utf8').slice(0, 2000) });
        void this.handle(req, res, body).catch((err: unknown) => {
          res.statusCode = 500;
          res.end(JSON.stringify({ statusCode: 500, message: String(err) }));
        });
      });
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (!this.authorized(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.upgrades.push({ path: req.url ?? '', headers: req.headers });
        ws.send(JSON.stringify({ type: 'control', status: 'connected', path: req.url }));
        ws.on('message', (data) => ws.send(`echo:${String(data)}`));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  callsTo(method: string, pattern: RegExp): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && pattern.test(c.path));
  }

  /** What the API must present: the credential derived from the platform secret, as a real runner configured with it. */
  get callToken(): string {
    return runnerCallToken(TEST_PLATFORM_SECRET, runnerTokenHash(this.opts.token));
  }

  private authorized(req: http.IncomingMessage): boolean {
    const v = req.headers['x-daytona-authorization'] ?? req.headers.authorization;
    return v === `Bearer ${this.opts.token}` || v === `Bearer ${this.callToken}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const send = (status: number, payload: unknown, type = 'application/json') => {
      res.statusCode = status;
      res.setHeader('content-type', type);
      res.end(typeof payload === 'string' && type !== 'application/json' ? payload : JSON.stringify(payload));
    };
    if (!this.authorized(req)) return send(401, { statusCode: 401, message: 'Unauthorized' });
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const delay = () => new Promise((r) => setTimeout(r, this.opts.actionDelayMs ?? 0));
    if (req.method === 'GET' && path === '/info') {
      return send(200, {
        version: 'fake-0.1',
        metrics: {
          currentCpuUsagePercentage: 1,
          currentMemoryUsagePercentage: 2,
          currentDiskUsagePercentage: 3,
          currentAllocatedCpu: 0,
          currentAllocatedMemoryGiB: 0,
          currentAllocatedDiskGiB: 0,
          currentSnapshotCount: 1,
        },
      });
    }
    // Readiness asks whether the default image is present; the fake runs no images, so every one counts as present.
    if (req.method === 'GET' && path === '/snapshots/exists') return send(200, { exists: this.opts.holds?.(url.searchParams.get('snapshot') ?? '') ?? true });
    // Snapshot pulls: the answer the test chose; the pull log says which image was pulled under which reference.
    if (req.method === 'POST' && path === '/snapshots/pull') {
      const b = JSON.parse(body.toString('utf8')) as { snapshot: string; destinationRef?: string; registry?: unknown };
      await new Promise((r) => setTimeout(r, this.opts.pullDelayMs ?? 0));
      const answer = this.opts.pull?.(b) ??
        (b.snapshot.includes('unknown')
          ? { status: 400, body: { statusCode: 400, message: `Failed to pull snapshot ${b.snapshot}: manifest unknown` } }
          : { status: 200, body: { sizeBytes: 1024 * 1024, digest: 'sha256:' + '0'.repeat(64), entrypoint: ['/bin/sh'], cmd: ['-c', 'sleep 1'], workdir: '/' } });
      this.pullLogs.set(b.destinationRef ?? b.snapshot, `pulling ${b.snapshot}\ndone ${b.destinationRef ?? b.snapshot}\n`);
      return send(answer.status, answer.body);
    }
    if (req.method === 'GET' && path === '/snapshots/logs') {
      const log = this.pullLogs.get(url.searchParams.get('snapshotRef') ?? '');
      return log === undefined ? send(404, { statusCode: 404, message: 'no log' }) : send(200, log, 'text/plain');
    }
    if (req.method === 'POST' && path === '/snapshots/remove') {
      const answer = this.opts.remove?.(url.searchParams.get('snapshot') ?? '');
      return answer ? send(answer.status, answer.body) : send(200, 'Snapshot removed', 'text/plain');
    }
    if (req.method === 'POST' && path === '/snapshots/validate') {
      const answer = this.opts.validate?.(JSON.parse(body.toString('utf8')) as { snapshot: string; entrypoint?: string[] });
      return answer ? send(answer.status, answer.body) : send(200, { valid: true, durationMs: 1 });
    }
    if (req.method === 'POST' && path === '/sandboxes') {
      const b = JSON.parse(body.toString('utf8')) as { id: string; restoreFrom?: string };
      if (b.restoreFrom) {
        if (!this.stored.has(b.restoreFrom)) return send(400, { statusCode: 400, message: `${b.restoreFrom} not found in object storage` });
        this.restored.push({ id: b.id, key: b.restoreFrom });
      }
      if (this.creating.has(b.id)) this.duplicateCreates.push({ id: b.id, reason: 'in-flight' });
      else if (this.answeredCreates.has(b.id)) this.duplicateCreates.push({ id: b.id, reason: 'answered', answeredAt: this.answeredCreates.get(b.id)! });
      else if (this.states.has(b.id)) this.retriedCreates.push(b.id);
      this.creating.add(b.id);
      try {
        await delay();
      } finally {
        this.creating.delete(b.id);
      }
      if (this.opts.failCreate?.has(b.id) || this.opts.failCreate?.has('*')) return send(500, { statusCode: 500, message: 'image pull failed (fake)' });
      this.states.set(b.id, 'started');
      // Only an answer that can still reach the API counts as delivered; a killed API never learns of this create.
      // (A killed peer shows as a half-closed socket: the server still holds it open to write this answer.)
      if (!req.socket.destroyed && !req.socket.readableEnded) this.answeredCreates.set(b.id, Date.now());
      return send(201, JSON.stringify(b.id), 'application/json');
    }
    // Archive and backup: the layer is "stored" under its key; archive removes the sandbox as DELETE does.
    let m = /^\/sandboxes\/([^/]+)\/(archive|backup)$/.exec(path);
    if (req.method === 'POST' && m) {
      const id = decodeURIComponent(m[1]!);
      const st = this.states.get(id);
      if (!st) return send(404, { statusCode: 404, message: 'sandbox not found' });
      await new Promise((r) => setTimeout(r, this.opts.layerDelayMs ?? 0));
      if (m[2] === 'archive') {
        if (st !== 'stopped') return send(409, { statusCode: 409, message: `Sandbox ${id} is not stopped (${st})` });
        const key = `sandboxes/${id}/archive.tar.zst`;
        this.stored.add(key);
        this.states.delete(id);
        this.answeredCreates.delete(id);
        return send(200, { key, sizeBytes: 1, packMs: 1, uploadMs: 1 });
      }
      if (this.opts.failBackup?.has(id)) return send(500, { statusCode: 500, message: 'object storage unreachable (fake)' });
      const key = (JSON.parse(body.toString('utf8')) as { key: string }).key;
      this.stored.add(key);
      return send(200, { key, sizeBytes: 1, packMs: 1, uploadMs: 1 });
    }
    // A warm-pool claim: recorded (tests read `claims`); refused like the real runner unless started, or on request.
    m = /^\/sandboxes\/([^/]+)\/claim$/.exec(path);
    if (req.method === 'POST' && m) {
      const id = decodeURIComponent(m[1]!);
      const st = this.states.get(id);
      if (!st) return send(404, { statusCode: 404, message: 'sandbox not found' });
      if (st !== 'started') return send(409, { statusCode: 409, message: `Sandbox ${id} is not started (${st})` });
      if (this.opts.failClaim?.has(id) || this.opts.failClaim?.has('*')) return send(502, { statusCode: 502, message: 'toolbox refused the environment (fake)' });
      this.claims.push({ id, ...(JSON.parse(body.toString('utf8')) as Omit<ClaimCall, 'id'>) });
      return send(200, 'Sandbox claimed', 'text/plain');
    }
    m = /^\/sandboxes\/([^/]+)\/(start|stop|destroy)$/.exec(path);
    if (req.method === 'POST' && m) {
      const id = decodeURIComponent(m[1]!);
      if (!this.states.has(id)) return send(404, { statusCode: 404, message: 'sandbox not found' });
      await delay();
      this.states.set(id, { start: 'started', stop: 'stopped', destroy: 'destroyed' }[m[2]!]!);
      return send(200, `Sandbox ${m[2]}`, 'text/plain');
    }
    m = /^\/sandboxes\/([^/]+)$/.exec(path);
    if (m && req.method === 'DELETE') {
      const id = decodeURIComponent(m[1]!);
      if (!this.states.delete(id)) return send(404, { statusCode: 404, message: 'sandbox not found' });
      this.answeredCreates.delete(id);
      return send(200, 'Sandbox removed', 'text/plain');
    }
    if (m && req.method === 'GET') {
      const st = this.states.get(decodeURIComponent(m[1]!));
      return st ? send(200, { state: st, backupState: 'NONE' }) : send(404, { statusCode: 404, message: 'sandbox not found' });
    }
    // Toolbox and port proxy targets: echo what arrived so tests can check what was forwarded.
    m = /^\/sandboxes\/([^/]+)\/(toolbox|ports\/\d+)(\/.*)?$/.exec(path);
    if (m) {
      // Answers with what it was asked to run, so a test sees the command that crossed the API unchanged.
      if (path.endsWith('/process/execute')) return send(200, { exitCode: 0, result: String((JSON.parse(body.toString('utf8') || '{}') as { command?: unknown }).command ?? '') });
      return send(200, {
        forwarded: { method: req.method, path, search: url.search, bytes: body.length, contentType: req.headers['content-type'] ?? null, authorization: req.headers.authorization ?? null, headers: req.headers },
      });
    }
    send(404, { statusCode: 404, message: `no route ${req.method} ${path}` });
  }
}
