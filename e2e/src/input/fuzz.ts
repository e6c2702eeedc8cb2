/*
 * Drives one operation with hostile requests and judges each answer: nothing may be a 5xx, every 4xx must carry the
 * Daytona envelope. Generic over the OpenAPI document; the caller supplies credentials and real path values.
 */
import fc from 'fast-check';
import { envelopeProblem, send } from '../envelope.js';
import { fillPath, pathParamNames, type Operation } from '../openapi.js';
import { HOSTILE_PATH_VALUES, MALFORMED_JSON, WRONG_CONTENT_TYPES, anyJson, hostileString, objectFor, takesBody, valueFor, type HostileRequest } from './arbitraries.js';

export interface FuzzTarget {
  baseUrl: string;
  authorization(op: Operation): string | undefined;
  /** Real values (so requests reach the handlers, not just the router). */
  pathParams(op: Operation): Record<string, string>;
}

export interface Finding {
  operationId: string;
  kind: string;
  method: string;
  path: string;
  status: number;
  problem: string;
  body?: string;
}

function queryString(values: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) q.append(k, typeof item === 'string' ? item : JSON.stringify(item));
    else q.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** One hostile request for an operation, drawn from every family the input suite covers. */
export function hostileRequest(op: Operation, realParams: Record<string, string>): fc.Arbitrary<HostileRequest> {
  const names = pathParamNames(op.path);
  const queryParams = op.params.filter((p) => p.in === 'query');
  const queryArb = fc.record(Object.fromEntries(queryParams.map((p) => [p.name, valueFor(p.schema)])), { requiredKeys: [] });
  const realPath = fillPath(op.path, realParams);
  const families: Array<fc.Arbitrary<HostileRequest>> = [];

  // Schema-shaped query values at and past their bounds, plus wrong types.
  if (queryParams.length > 0) families.push(queryArb.map((q) => ({ kind: 'query values', path: realPath + queryString(q) })));
  if (op.body) {
    const schema = op.body.schema;
    const body = schema.type === 'object' || schema.properties ? objectFor(schema) : valueFor(schema);
    families.push(fc.tuple(body, queryArb).map(([b, q]) => ({ kind: 'body from schema', path: realPath + queryString(q), contentType: 'application/json', body: JSON.stringify(b) })));
    families.push(anyJson().map((b) => ({ kind: 'body of the wrong type', path: realPath, contentType: 'application/json', body: JSON.stringify(b) ?? 'null' })));
  }
  if (takesBody(op)) {
    families.push(fc.constantFrom(...MALFORMED_JSON).map((b) => ({ kind: 'malformed JSON', path: realPath, contentType: 'application/json', body: b })));
    families.push(
      fc.tuple(fc.constantFrom(...WRONG_CONTENT_TYPES), fc.oneof(fc.constant('{"a":1}'), fc.constant('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xyz--'), hostileString())).map(([ct, b]) => ({
        kind: 'wrong content type',
        path: realPath,
        ...(ct ? { contentType: ct } : {}),
        body: b,
      })),
    );
  }
  if (names.length > 0) {
    families.push(
      fc.tuple(fc.constantFrom(...names), fc.constantFrom(...HOSTILE_PATH_VALUES)).map(([name, raw]) => {
        const values = Object.fromEntries(names.map((n) => [n, n === name ? raw : encodeURIComponent(realParams[n] ?? 'x')]));
        return { kind: 'hostile path parameter', path: fillPath(op.path, values, true) };
      }),
    );
    families.push(
      fc.tuple(fc.constantFrom(...names), hostileString()).map(([name, s]) => ({
        kind: 'odd path parameter',
        path: fillPath(op.path, { ...realParams, [name]: s.slice(0, 2000) }),
      })),
    );
  }
  families.push(
    fc.dictionary(fc.constantFrom('page', 'limit', 'id', 'labels', 'x', '__proto__', 'token'), hostileString().map((s) => s.slice(0, 5000)), { maxKeys: 3 }).map((q) => ({
      kind: 'stray query parameters',
      path: realPath + queryString(q),
    })),
  );
  return fc.oneof(...families);
}

export async function judgeRequest(target: FuzzTarget, op: Operation, r: HostileRequest): Promise<Finding | null> {
  const headers: Record<string, string> = {};
  const auth = target.authorization(op);
  if (auth) headers.authorization = auth;
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  let res;
  try {
    res = await send(target.baseUrl, op.method, r.path, { headers, ...(r.body !== undefined ? { body: r.body } : {}), timeoutMs: 45_000 });
  } catch (err) {
    return { operationId: op.operationId, kind: r.kind, method: op.method, path: r.path.slice(0, 300), status: 0, problem: `no answer: ${(err as Error).message}` };
  }
  let problem: string | null = null;
  // A documented 503 is an answer, not a crash: /health/ready says "not ready" that way, and fuzzing the runner routes
  // with the admin key may legitimately take the only runner out of scheduling.
  if (res.status === 503 && op.documents503) return null;
  if (res.status >= 500) problem = `server error ${res.status}`;
  else if (res.status >= 400) problem = envelopeProblem(res.status, res.text);
  if (!problem) return null;
  return { operationId: op.operationId, kind: r.kind, method: op.method, path: r.path.slice(0, 300), status: res.status, problem, body: res.text.slice(0, 300) };
}

/**
 * Runs `numRuns` generated requests against one operation (plus shrinking if one fails) and returns the first,
 * smallest finding, or null. fast-check's seed is printed in the failure so a run can be repeated.
 */
export async function fuzzOperation(target: FuzzTarget, op: Operation, numRuns: number, seed?: number): Promise<{ finding: Finding | null; seed: number }> {
  let finding: Finding | null = null;
  const details = await fc.check(
    fc.asyncProperty(hostileRequest(op, target.pathParams(op)), async (r) => {
      const f = await judgeRequest(target, op, r);
      if (f) finding = f;
      return f === null;
    }),
    { numRuns, ...(seed !== undefined ? { seed } : {}), endOnFailure: false, maxSkipsPerRun: 0, interruptAfterTimeLimit: 60_000 },
  );
  return { finding: details.failed ? finding : null, seed: details.seed };
}
