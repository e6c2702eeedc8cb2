import { Agent, request } from 'undici';
import { Webhook } from 'standardwebhooks';
import { guardedLookup, isPrivateAddress, literalHost, TargetRefused } from './target-guard.js';

export interface SendInput {
  url: string;
  secret: string;
  messageId: string;
  body: string;
}

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  /** The first bytes of the response body, as text. */
  response: string;
  durationMs: number;
  error: string | null;
}

const SNIPPET_BYTES = 1024;

/**
 * One POST of a message to an endpoint, signed per Standard Webhooks (webhook-id, webhook-timestamp,
 * webhook-signature) by the `standardwebhooks` library. Only a 2xx counts: redirects are never followed (a 3xx is a
 * failed attempt, so a redirect cannot steer the request to another host), and every attempt ends within the timeout.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly opts: { timeoutMs: number; allowPrivateTargets: boolean }) {
    this.agent = new Agent({
      connect: { timeout: opts.timeoutMs, ...(opts.allowPrivateTargets ? {} : { lookup: guardedLookup }) },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      // A fresh connection per attempt: a kept-alive socket would skip the address check of the next attempt.
      pipelining: 0,
      keepAliveTimeout: 1,
    });
  }

  async send(input: SendInput, now = new Date()): Promise<AttemptResult> {
    const started = Date.now();
    const done = (r: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({ ...r, durationMs: Date.now() - started });
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      return done({ ok: false, statusCode: null, response: '', error: 'Invalid endpoint URL' });
    }
    const lit = literalHost(url);
    if (lit && !this.opts.allowPrivateTargets && isPrivateAddress(lit)) return done({ ok: false, statusCode: null, response: '', error: new TargetRefused(lit).message });

    const signature = new Webhook(input.secret).sign(input.messageId, now, input.body);
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Shoal-Webhooks/1.0',
          'webhook-id': input.messageId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: input.body,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      const response = await readSnippet(res.body);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const error = ok ? null : res.statusCode >= 300 && res.statusCode < 400 ? `Redirect (${res.statusCode}) not followed` : `Endpoint answered ${res.statusCode}`;
      return done({ ok, statusCode: res.statusCode, response, error });
    } catch (err) {
      return done({ ok: false, statusCode: null, response: '', error: describe(err, this.opts.timeoutMs) });
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => {});
  }
}

async function readSnippet(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= SNIPPET_BYTES) break;
    }
  } catch {
    // A body cut off or too slow still leaves the status code as the answer.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

function describe(err: unknown, timeoutMs: number): string {
  let e = err as (Error & { code?: string; cause?: unknown }) | undefined;
  // undici wraps the connector's error (our TargetRefused among them) in `cause`.
  for (let i = 0; i < 3 && e; i++) {
    if (e instanceof TargetRefused) return e.message;
    if (!e.cause) break;
    e = e.cause as Error & { code?: string; cause?: unknown };
  }
  const top = err as Error & { code?: string; name?: string };
  if (top?.name === 'TimeoutError' || top?.name === 'AbortError' || /Timeout/i.test(top?.code ?? ''))
    return `Timed out after ${timeoutMs} ms`;
  return `Request failed: ${top?.code ?? top?.message ?? String(err)}`;
}
