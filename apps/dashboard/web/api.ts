// The dashboard's one way to talk to the API: the public Daytona-compatible routes under /api, the same ones the SDK
// uses, with the signed-in API key or OIDC token as the bearer token and the chosen organization in
// X-Daytona-Organization-ID (which the API honours for tokens only: a key acts in its own organization).
// Errors come back as the API's envelope {statusCode, message, error}; a 401 ends the session (revoked key, expired token).

export const API_BASE = '/api';
const STORAGE_KEY = 'shoal.session';

export interface Session {
  /** The bearer credential: an API key, or the issuer's JWT for the API's audience. */
  token: string;
  via: 'api-key' | 'oidc';
  /** The organization the pages act in; unset means the key's own organization (the personal one for a token). */
  organizationId?: string;
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

type Listener = (s: Session | null, reason?: string) => void;
const listeners = new Set<Listener>();

/** sessionStorage: the key or token lives as long as the tab, never in a cookie the browser would send on its own. */
export function getSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    const s = raw ? (JSON.parse(raw) as Partial<Session>) : null;
    return s && typeof s.token === 'string' ? (s as Session) : null;
  } catch {
    return null;
  }
}

export function setSession(s: Session | null, reason?: string): void {
  if (s) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(STORAGE_KEY);
  for (const l of listeners) l(s, reason);
}

export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function authHeaders(s: Session | null = getSession()): Record<string, string> {
  if (!s) return {};
  return { authorization: `Bearer ${s.token}`, ...(s.organizationId ? { 'x-daytona-organization-id': s.organizationId } : {}) };
}

/** A raw call (uploads, downloads, streams); errors are thrown as ApiError like api(). */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const s = getSession();
  const res = await fetch(`${API_BASE}${path}`, { ...init, headers: { ...authHeaders(s), ...(init.headers as Record<string, string> | undefined) } });
  if (res.ok) return res;
  const err = await toError(res);
  if (res.status === 401 && s) setSession(null, `Signed out: ${err.message}`);
  throw err;
}

/** JSON in, JSON out. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await apiFetch(path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: unknown };
    const message = Array.isArray(body.message) ? body.message.join('; ') : String(body.message ?? res.statusText);
    return new ApiError(res.status, message);
  } catch {
    return new ApiError(res.status, text.slice(0, 300) || res.statusText || `HTTP ${res.status}`);
  }
}
