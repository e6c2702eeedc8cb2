/*
 * fast-check arbitraries for hostile requests, derived from an operation's OpenAPI schemas: values of the declared
 * type at and past its bounds, values of the wrong type, missing required fields, huge and odd strings, malformed
 * JSON, wrong content types and path parameters that try to walk out of their segment.
 */
import fc from 'fast-check';
import type { JsonSchema, Operation } from '../openapi.js';

/** Strings servers tend to choke on. Kept as constants so every run tries some of them. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%00',
  '\u0000',
  'a\u0000b',
  '%',
  '%zz',
  '\ud800',
  '\u202e\u0635\u0648\u0631\u0629',
  '🦈'.repeat(300),
  "'; DROP TABLE sandbox; --",
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e400',
  '0x7fffffff',
  '2147483648',
  '9999999999999999999999',
  'true',
  '[]',
  '{}',
  'x'.repeat(10_000),
];

export const NASTY_NUMBERS = [-1, 0, 1, -2147483649, 2147483647, 2147483648, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, -0.0001, 4294967296];

const hugeString = fc.constantFrom('A'.repeat(200_000), 'é'.repeat(50_000), '\u0000'.repeat(10_000));

export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 64 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
    { weight: 1, arbitrary: hugeString },
  );
}

function hostileNumber(): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(...NASTY_NUMBERS), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
}

/** Any JSON value, shallow: the wrong-type counterpart of whatever the schema wanted. */
export function anyJson(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(null),
    fc.boolean(),
    hostileNumber(),
    hostileString(),
    fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)), { maxKeys: 4 }),
  );
}

function schemaType(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return (schema.type as string[]).find((t) => t !== 'null');
  if (typeof schema.type === 'string') return schema.type;
  if (schema.properties) return 'object';
  return undefined;
}

/** A value for a schema: near-valid (bounds, enum members, odd strings of the right type) or of the wrong type. */
export function valueFor(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (variants?.length) return fc.oneof(...variants.map((v) => valueFor(v, depth)), anyJson());
  const near = nearValid(schema, depth);
  return fc.oneof({ weight: 3, arbitrary: near }, { weight: 1, arbitrary: anyJson() });
}

function nearValid(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum)) return fc.oneof(fc.constantFrom(...(schema.enum as unknown[])), hostileString());
  switch (schemaType(schema)) {
    case 'string': {
      const bounds: string[] = [];
      if (typeof schema.minLength === 'number') bounds.push('x'.repeat(Math.max(0, schema.minLength - 1)), 'x'.repeat(schema.minLength));
      if (typeof schema.maxLength === 'number') bounds.push('x'.repeat(schema.maxLength), 'x'.repeat(schema.maxLength + 1));
      if (schema.format === 'date-time') bounds.push(new Date().toISOString(), '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2024-13-45T99:99:99Z', '-000001-01-01T00:00:00Z');
      return bounds.length ? fc.oneof(fc.constantFrom(...bounds), hostileString()) : hostileString();
    }
    case 'integer':
    case 'number': {
      const bounds = [schema.minimum, schema.maximum].filter((b): b is number => typeof b === 'number').flatMap((b) => [b - 1, b, b + 1]);
      return bounds.length ? fc.oneof(fc.constantFrom(...bounds), hostileNumber()) : hostileNumber();
    }
    case 'boolean':
      return fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', 0, 1, 'yes'));
    case 'array':
      return depth > 2 ? fc.constant([]) : fc.array(valueFor((schema.items ?? {}) as JsonSchema, depth + 1), { maxLength: 6 });
    case 'object':
      return depth > 2 ? fc.constant({}) : objectFor(schema, depth + 1);
    default:
      return anyJson();
  }
}

/** An object with a random subset of the declared properties (so required ones go missing) plus a few strangers. */
export function objectFor(schema: JsonSchema, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const known = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, valueFor(v, depth)]));
  const extra =
    schema.additionalProperties && typeof schema.additionalProperties === 'object'
      ? fc.dictionary(hostileString().map((s) => s.slice(0, 200)), valueFor(schema.additionalProperties as JsonSchema, depth + 1), { maxKeys: 4 })
      : fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'unknownField', 'id', 'organizationId'), anyJson(), { maxKeys: 2 });
  return fc.tuple(fc.record(known, { requiredKeys: [] }), extra).map(([k, e]) => ({ ...e, ...k }));
}

export const MALFORMED_JSON = ['{', '{"a":', '[1,2', 'nul', '{"a":1,}', "{'a':1}", '\u0000', '{"a":"\\ud800"}', '['.repeat(5000) + ']'.repeat(5000), '1'.repeat(400), '"' + 'x'.repeat(1000)];

export const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=xyz',
  'multipart/form-data',
  'application/x-www-form-urlencoded',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'application/json, text/plain',
  '',
  '*/*',
];

/** Path parameter values that try to leave their segment or overflow the router. Sent raw (not re-encoded). */
export const HOSTILE_PATH_VALUES = [
  '..',
  '..%2F..%2Fapi%2Fusers',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%2e%2e',
  '%00',
  'abc%00def',
  '%',
  '%ZZ',
  '%C0%AE%C0%AE',
  '%F0%9F%A6%88',
  '%E2%80%AE',
  '-1',
  '99999999999999999999999',
  'x'.repeat(101),
  'x'.repeat(10_000),
  '%20',
  ';',
  '%3F%23',
];

export interface HostileRequest {
  kind: string;
  path: string;
  contentType?: string;
  body?: string;
}

/** Does an operation carry a body at all (content types only matter there). */
export function takesBody(op: Operation): boolean {
  return op.body !== undefined || op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH';
}
