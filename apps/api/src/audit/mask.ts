/** What stands in for a secret in audit metadata (the reference's mask). */
export const MASK = '********';

// Keys whose value is a secret wherever they appear: passwords, tokens, keys (apiKey, privateKey, accessKey...),
// credentials, cookies. Matched on the whole key name, case-insensitive.
const SECRET_KEY = /(pass(word|phrase|wd)?|secret|token|key|credentials?|authorization|cookie)s?$/i;
// Environment maps keep their variable names; every value is masked (values are where secrets live).
const ENV_KEY = /^(env|envs|envvars|environment|environmentvariables)$/i;
const MAX_DEPTH = 8;
/** Metadata larger than this (serialized) is replaced by its size: bodies can be big, the log should not be. */
export const MAX_METADATA_BYTES = 16 * 1024;

/** A copy of `value` with every secret replaced by MASK. */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v === undefined) out[k] = v;
    else if (ENV_KEY.test(k) && typeof v === 'object' && !Array.isArray(v)) out[k] = Object.fromEntries(Object.keys(v as object).map((name) => [name, MASK]));
    else if (SECRET_KEY.test(k)) out[k] = MASK;
    else out[k] = maskSecrets(v, depth + 1);
  }
  return out;
}

/** The request's masked body and query as audit metadata; null when there is nothing worth keeping. */
export function requestMetadata(body: unknown, query: unknown): Record<string, unknown> | null {
  const meta: Record<string, unknown> = {};
  if (body !== undefined && body !== null && typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe !== 'function') meta.body = maskSecrets(body);
  if (query && typeof query === 'object' && Object.keys(query).length > 0) meta.query = maskSecrets(query);
  if (Object.keys(meta).length === 0) return null;
  const size = Buffer.byteLength(JSON.stringify(meta));
  return size > MAX_METADATA_BYTES ? { truncated: true, bytes: size } : meta;
}
