/*
 * Reads an OpenAPI 3 document into the flat list of operations the proof suites sweep. Kept generic (no Shoal
 * knowledge) so the same code runs against the real API and against the small servers the suites test themselves on.
 */

export type JsonSchema = Record<string, unknown>;

export interface OperationParam {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path template as the document writes it, e.g. `/api/sandbox/{sandboxId}`. */
  path: string;
  operationId: string;
  /** No `security` requirement in the document: the route is documented as public. */
  public: boolean;
  params: OperationParam[];
  body?: { required: boolean; schema: JsonSchema };
  /** The document lists a 503 answer (readiness and health report "not ready" that way, with their own body). */
  documents503?: boolean;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, JsonSchema> };
  security?: unknown[];
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** Replaces `$ref`s to `#/components/schemas/*` by the schema they name (cycles are cut to `{}`). */
export function derefSchema(doc: OpenApiDocument, schema: unknown, seen: Set<string> = new Set()): JsonSchema {
  if (!schema || typeof schema !== 'object') return {};
  if (Array.isArray(schema)) return schema.map((s) => derefSchema(doc, s, seen)) as unknown as JsonSchema;
  const s = schema as JsonSchema;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace(/^#\/components\/schemas\//, '');
    if (seen.has(name)) return {};
    const target = doc.components?.schemas?.[name];
    return target ? derefSchema(doc, target, new Set([...seen, name])) : {};
  }
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([pk, pv]) => [pk, derefSchema(doc, pv, seen)]));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
      out[k] = typeof v === 'object' ? derefSchema(doc, v, seen) : v;
    } else if (k === 'anyOf' || k === 'oneOf' || k === 'allOf') {
      out[k] = (v as unknown[]).map((x) => derefSchema(doc, x, seen));
    } else {
      out[k] = v;
    }
  }
  return out;
}

export function listOperations(doc: OpenApiDocument): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const security = (op.security as unknown[] | undefined) ?? doc.security ?? [];
      const params = ((op.parameters as Array<Record<string, unknown>> | undefined) ?? [])
        .filter((p) => p.in === 'path' || p.in === 'query')
        .map((p) => ({
          name: String(p.name),
          in: p.in as 'path' | 'query',
          required: p.in === 'path' || p.required === true,
          schema: derefSchema(doc, p.schema),
        }));
      const rb = op.requestBody as { required?: boolean; content?: Record<string, { schema?: unknown }> } | undefined;
      const bodySchema = rb?.content?.['application/json']?.schema;
      ops.push({
        method: m.toUpperCase() as Operation['method'],
        path,
        operationId: String(op.operationId ?? `${m} ${path}`),
        public: security.length === 0,
        params,
        ...(bodySchema ? { body: { required: rb?.required === true, schema: derefSchema(doc, bodySchema) } } : {}),
        ...((op.responses as Record<string, unknown> | undefined)?.['503'] ? { documents503: true } : {}),
      });
    }
  }
  return ops;
}

export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
}

/** Fills `{name}` placeholders; values are percent-encoded unless `raw` (hostile path tests send them as they are). */
export function fillPath(path: string, values: Record<string, string>, raw = false): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for path parameter ${name} of ${path}`);
    return raw ? v : encodeURIComponent(wellFormed(v));
  });
}

/** Lone UTF-16 surrogates cannot be percent-encoded; they become U+FFFD, as a browser would send them. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

export async function fetchOpenApi(baseUrl: string): Promise<OpenApiDocument> {
  const res = await fetch(`${baseUrl}/api/openapi.json`);
  if (!res.ok) throw new Error(`GET /api/openapi.json: HTTP ${res.status}`);
  return (await res.json()) as OpenApiDocument;
}

/** The smallest value a schema accepts (required properties only, lower bounds, first enum member). */
export function minimalValue(schema: JsonSchema): unknown {
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (variants?.length) return minimalValue(variants.find((v) => v.type !== 'null') ?? variants[0]!);
  const type = Array.isArray(schema.type) ? (schema.type as string[]).find((t) => t !== 'null') : (schema.type as string | undefined);
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((k) => [k, minimalValue(props[k] ?? {})]));
    }
    case 'array':
      return Array.from({ length: Number(schema.minItems ?? 0) }, () => minimalValue((schema.items ?? {}) as JsonSchema));
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1;
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'date-time') return new Date(Date.now() + 3_600_000).toISOString();
      return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
    default:
      return 'x';
  }
}
