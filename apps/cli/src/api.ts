import { loadCredentials } from './client.js';
import type { CliConfig } from './config.js';
import { ApiRequestError, UnavailableError } from './errors.js';

/** A thin JSON client of the Shoal API for the operations the SDK does not wrap (snapshot details, registries). */
export interface Api {
  readonly apiUrl: string;
  /** `headers`: extra request headers (the webhook portal's token). */
  request<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  /** An open streaming GET (build logs); errors are decoded like any other answer. */
  stream(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

export function api(config: CliConfig): Api {
  const creds = loadCredentials(config);
  const base = creds.apiUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${creds.apiKey}` };

  async function send(method: string, path: string, body: unknown, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? { ...headers, ...extra } : { ...headers, ...extra, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new UnavailableError(`cannot reach the Shoal API at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  return {
    apiUrl: base,
    async request<T>(method: string, path: string, body?: unknown, extra?: Record<string, string>): Promise<T> {
      const res = await send(method, path, body, undefined, extra);
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stream(path: string, signal?: AbortSignal) {
      const res = await send('GET', path, undefined, signal);
      if (!res.body) throw new ApiRequestError(res.status, 'the API answered without a body');
      return res.body;
    },
  };
}

async function errorOf(res: Response): Promise<ApiRequestError> {
  const text = await res.text().catch(() => '');
  let message = text.trim() || res.statusText;
  try {
    const env = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (Array.isArray(env.message)) message = env.message.map(String).join('; ');
    else if (typeof env.message === 'string' && env.message) message = env.message;
    else if (typeof env.error === 'string' && env.error) message = env.error;
  } catch {
    // Not the JSON envelope (a proxy in front of the API, say): the text itself is the best message.
  }
  return new ApiRequestError(res.status, `${message} (HTTP ${res.status})`);
}
