import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  path: string;
  id: string;
  body: { event: string; timestamp: string; [k: string]: unknown };
}

type Behaviour = 'ok' | 'fail' | 'hang' | 'redirect';

/**
 * A webhook receiver on 127.0.0.1. Each path is one endpoint with its own behaviour and secret; a request whose
 * signature does not verify (standardwebhooks, the same library the API signs with) is counted in `badSignatures`
 * and answered 400. Accepted events are kept in order, one per webhook-id and path (retries are deduplicated).
 */
export class WebhookReceiver {
  private server: Server | null = null;
  readonly events: ReceivedEvent[] = [];
  readonly requests: { path: string; id: string; status: number }[] = [];
  badSignatures = 0;
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly secrets = new Map<string, string>();
  private readonly hanging = new Set<ServerResponse>();
  private waiters: (() => void)[] = [];

  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  set(path: string, behaviour: Behaviour, secret?: string): void {
    this.behaviours.set(path, behaviour);
    if (secret) this.secrets.set(path, secret);
  }

  eventsAt(path: string): ReceivedEvent[] {
    return this.events.filter((e) => e.path === path);
  }

  /** Resolves when `predicate` holds, re-checked after every request; rejects after `ms`. */
  async until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const id = String(req.headers['webhook-id'] ?? '');
      const behaviour = this.behaviours.get(path) ?? 'ok';
      const answer = (status: number, body = '', headers: Record<string, string> = {}) => {
        this.requests.push({ path, id, status });
        res.writeHead(status, headers).end(body);
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      };
      if (behaviour === 'hang') {
        this.hanging.add(res);
        this.requests.push({ path, id, status: 0 });
        return;
      }
      if (behaviour === 'redirect') return answer(302, '', { location: `${this.url}/redirect-target` });
      if (behaviour === 'fail') return answer(500, 'receiver is down');
      const body = Buffer.concat(chunks).toString('utf8');
      const secret = this.secrets.get(path);
      let parsed: ReceivedEvent['body'];
      try {
        if (!secret) throw new Error('no secret for this path');
        parsed = new Webhook(secret).verify(body, req.headers as Record<string, string>) as ReceivedEvent['body'];
      } catch {
        this.badSignatures++;
        return answer(400, 'bad signature');
      }
      if (!this.events.some((e) => e.path === path && e.id === id)) this.events.push({ path, id, body: parsed });
      answer(204);
    });
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
