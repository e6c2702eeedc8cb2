import http from 'node:http';

/** What the proof suites demand of every 4xx body: the Daytona envelope, consistent with the HTTP status. */
export function envelopeProblem(status: number, bodyText: string): string | null {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return `body is not JSON: ${JSON.stringify(bodyText.slice(0, 120))}`;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return `body is not an object: ${bodyText.slice(0, 120)}`;
  const b = body as Record<string, unknown>;
  if (b.statusCode !== status) return `envelope statusCode ${String(b.statusCode)} differs from HTTP ${status}`;
  const messageOk = typeof b.message === 'string' || (Array.isArray(b.message) && b.message.every((m) => typeof m === 'string'));
  if (!messageOk) return 'envelope message is neither a string nor a string array';
  if (typeof b.error !== 'string' || b.error === '') return 'envelope error is missing';
  if (typeof b.timestamp !== 'string' || Number.isNaN(Date.parse(b.timestamp))) return 'envelope timestamp is missing or not a date';
  if (typeof b.path !== 'string') return 'envelope path is missing';
  return null;
}

export interface RawResponse {
  status: number;
  text: string;
}

/**
 * One request through node:http, with the path sent byte for byte: fetch() would normalise `../` segments away and the
 * input suite needs them to reach the server. The body is sent exactly as given, so malformed JSON stays malformed.
 */
export function send(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: { ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
        // A fresh connection per request: nothing pooled outlives the server the suite started.
        agent: false,
        timeout: opts.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
