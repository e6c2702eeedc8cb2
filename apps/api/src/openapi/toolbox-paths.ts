/*
 * The toolbox operations in the API's OpenAPI document. The API reaches them only through its proxy
 * (`/api/toolbox/{sandboxId}/toolbox/*`), which streams requests without parsing them, so no Fastify route describes
 * them; the document gets them from the one table the toolbox itself is checked against (@shoal/contracts).
 */
import { TOOLBOX_OPERATIONS, TOOLBOX_SCHEMAS, type ToolboxOperation } from '@shoal/contracts';

type Json = Record<string, unknown>;

const PREFIX = '/api/toolbox/{sandboxId}/toolbox';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorAnswer = (description: string) => ({ description, content: { 'application/json': { schema: ref('ErrorEnvelope') } } });

/** A JSON Schema (TypeBox) as OpenAPI 3.0 writes it: `nullable` instead of a `null` branch, no `$id`. */
export function toOpenApi30(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApi30);
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Json;
  const union = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (union && union.some((b) => b.type === 'null')) {
    const rest = union.filter((b) => b.type !== 'null');
    const inner = rest.length === 1 ? (toOpenApi30(rest[0]) as Json) : { anyOf: rest.map(toOpenApi30) };
    return { ...inner, nullable: true };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$id') continue;
    if (k === 'const') {
      out.enum = [v];
      continue;
    }
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, toOpenApi30(pv)])) : toOpenApi30(v);
  }
  // A union of string literals reads better (and generates better clients) as one enum.
  if (Array.isArray(out.anyOf) && (out.anyOf as Json[]).every((b) => Array.isArray(b.enum) && b.enum.length === 1 && typeof b.enum[0] === 'string')) {
    const values = (out.anyOf as Json[]).map((b) => (b.enum as string[])[0]);
    delete out.anyOf;
    return { ...out, type: 'string', enum: values };
  }
  return out;
}

function successContent(o: ToolboxOperation): Json | undefined {
  switch (o.answer.kind) {
    case 'empty':
      return undefined;
    case 'json': {
      const schema = o.answer.array ? { type: 'array', items: ref(o.answer.schema) } : ref(o.answer.schema);
      return { 'application/json': { schema } };
    }
    case 'binary':
      return { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } };
    case 'multipart':
      return { 'multipart/form-data': { schema: { type: 'object', additionalProperties: { type: 'string', format: 'binary' } } } };
    case 'text':
      return { 'text/plain': { schema: { type: 'string' } } };
  }
}

function requestBody(o: ToolboxOperation): Json | undefined {
  if (!o.body) return undefined;
  if (o.body.kind === 'json') return { required: true, content: { 'application/json': { schema: ref(o.body.schema) } } };
  const schema =
    o.body.fields === 'file'
      ? { type: 'object', properties: { file: { type: 'string', format: 'binary' } }, required: ['file'] }
      : {
          type: 'object',
          description: 'Parts named files[i].path (the destination) and files[i].file (the content), i = 0, 1, ...',
          additionalProperties: { type: 'string', format: 'binary' },
        };
  return { required: true, content: { 'multipart/form-data': { schema } } };
}

function operation(o: ToolboxOperation): Json {
  const parameters: Json[] = [
    { name: 'sandboxId', in: 'path', required: true, schema: { type: 'string' } },
    ...o.params.map((p) => ({ name: p.name, in: p.in, required: p.required, schema: { type: p.type } })),
    { name: 'X-Daytona-Organization-ID', in: 'header', required: false, description: 'Use with JWT to specify the organization ID', schema: { type: 'string' } },
  ];
  const content = successContent(o);
  const responses: Json = { [o.status]: { description: o.summary, ...(content ? { content } : {}) } };
  for (const extra of o.alsoAnswers ?? []) responses[extra.status] = { description: 'Accepted', content: { 'application/json': { schema: ref(extra.schema) } } };
  Object.assign(responses, {
    400: errorAnswer('Bad request'),
    401: errorAnswer('Unauthorized'),
    403: errorAnswer('Forbidden'),
    404: errorAnswer('Sandbox or resource not found'),
  });
  const body = requestBody(o);
  return { operationId: o.operationId, summary: o.summary, tags: [o.tag], security: [{ bearer: [] }], parameters, ...(body ? { requestBody: body } : {}), responses };
}

/** Adds the toolbox operations and their schemas to a generated document (names already taken are kept as they are). */
export function addToolboxOperations(doc: { paths?: Json; components?: { schemas?: Json } }): void {
  doc.paths ??= {};
  doc.components ??= {};
  doc.components.schemas ??= {};
  for (const [name, schema] of Object.entries(TOOLBOX_SCHEMAS)) doc.components.schemas[name] ??= toOpenApi30(JSON.parse(JSON.stringify(schema)));
  for (const o of TOOLBOX_OPERATIONS) {
    const path = PREFIX + o.path;
    const item = (doc.paths[path] ??= {}) as Json;
    item[o.method.toLowerCase()] = operation(o);
  }
}
