/*
 * The tenancy checker: sweeps every operation of an OpenAPI document with one attacker credential and reports each
 * answer that lets the attacker in, reveals the victim organization's data, or breaks the error envelope. It knows
 * nothing about Shoal: the caller says which routes are public, admin-only, permission-bound or aimed at the victim's
 * resources, and how to fill path parameters. The self-test runs the same function against deliberately broken servers.
 */
import { envelopeProblem, send } from '../envelope.js';
import { fillPath, type Operation } from '../openapi.js';

/** Who may call an operation, as the policy under test defines it. */
export interface Access {
  kind: 'public' | 'user' | 'admin' | 'runner';
  /** The permission a user key must hold (user routes only). */
  permission?: string;
}

export interface TenancyTarget {
  baseUrl: string;
  operations: Operation[];
  access(op: Operation): Access;
  /** True when the request addresses one of the victim's resources (its sandbox, key, user, organization). */
  targetsVictim(op: Operation): boolean;
  /** Path parameter values: the victim's resource ids. */
  pathParams(op: Operation): Record<string, string>;
  /** Query string (without `?`) for the operation; required query parameters must be filled. */
  query?(op: Operation): string;
  /** JSON body for the operation, if it takes one. */
  body?(op: Operation): unknown;
  /**
   * Strings that belong to the victim and must never reach the attacker (ids, label values, key names, tokens).
   * A secret the attacker itself put in the request (e.g. the sandbox id in the path) may be echoed back.
   */
  secrets: string[];
}

export type AttackKind = 'unauthenticated' | 'other-organization' | 'missing-permission';

export interface Attack {
  name: string;
  kind: AttackKind;
  /** The Authorization header sent, or undefined for none. */
  authorization?: string;
  /** For missing-permission attacks: the permission the key lacks. */
  lacks?: string;
}

export interface Call {
  operationId: string;
  method: string;
  url: string;
  status: number;
  text: string;
}

export interface Violation {
  attack: string;
  operationId: string;
  method: string;
  url: string;
  status: number;
  problem: string;
}

/**
 * Which operations an attack applies to. A missing-permission key is meaningful where that permission is needed, and
 * on every admin route: the keys lacking a permission are made by an admin, and an admin key that lacks any
 * permission must not reach admin routes (it could otherwise mint itself a full key).
 */
export function attackApplies(target: TenancyTarget, attack: Attack, op: Operation): boolean {
  if (attack.kind !== 'missing-permission') return true;
  const a = target.access(op);
  if (a.kind === 'admin') return true;
  return a.kind === 'user' && a.permission !== undefined && a.permission === attack.lacks;
}

/** The statuses an attack may receive on an operation; null means "any status below 500". */
export function allowedStatuses(target: TenancyTarget, attack: Attack, op: Operation): number[] | null {
  const access = target.access(op);
  switch (attack.kind) {
    case 'unauthenticated':
      return access.kind === 'public' ? null : [401];
    case 'missing-permission':
      return [403];
    case 'other-organization':
      if (access.kind === 'public') return null;
      if (access.kind === 'admin' || access.kind === 'runner') return [403];
      // A victim's resource is hidden (404) or refused (403); the attacker's own scope (lists, creates) may succeed.
      return target.targetsVictim(op) ? [403, 404] : null;
  }
}

export function requestFor(target: TenancyTarget, op: Operation): { url: string; body?: string } {
  const q = target.query?.(op) ?? '';
  const url = fillPath(op.path, target.pathParams(op)) + (q ? `?${q}` : '');
  const body = op.body ? target.body?.(op) : undefined;
  return { url, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) };
}

/** Judges one answer; returns every problem found (empty when the answer is acceptable). */
export function judge(target: TenancyTarget, attack: Attack, op: Operation, call: Call, requestText: string): string[] {
  const problems: string[] = [];
  const allowed = allowedStatuses(target, attack, op);
  if (call.status >= 500) problems.push(`server error ${call.status}`);
  else if (allowed && !allowed.includes(call.status)) problems.push(`expected ${allowed.join(' or ')}, got ${call.status}`);
  if (call.status >= 400 && call.status < 500) {
    const p = envelopeProblem(call.status, call.text);
    if (p) problems.push(`error envelope: ${p}`);
  }
  for (const secret of target.secrets) {
    if (secret && call.text.includes(secret) && !requestText.includes(secret) && !requestText.includes(encodeURIComponent(secret))) {
      problems.push(`response reveals the victim's ${JSON.stringify(secret)}`);
    }
  }
  return problems;
}

/**
 * Runs one attack over every operation it applies to, one request at a time (order: reads first, deletes last, so a
 * wrongly accepted delete does not hide the leaks of the calls after it).
 */
export async function runAttack(target: TenancyTarget, attack: Attack): Promise<{ violations: Violation[]; calls: Call[] }> {
  const order = { GET: 0, PUT: 1, PATCH: 1, POST: 2, DELETE: 3 } as const;
  const ops = target.operations.filter((op) => attackApplies(target, attack, op)).sort((a, b) => order[a.method] - order[b.method]);
  const violations: Violation[] = [];
  const calls: Call[] = [];
  for (const op of ops) {
    const req = requestFor(target, op);
    const headers: Record<string, string> = {};
    if (attack.authorization !== undefined) headers.authorization = attack.authorization;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    let call: Call;
    try {
      const res = await send(target.baseUrl, op.method, req.url, { headers, ...(req.body !== undefined ? { body: req.body } : {}) });
      call = { operationId: op.operationId, method: op.method, url: req.url, status: res.status, text: res.text };
    } catch (err) {
      violations.push({ attack: attack.name, operationId: op.operationId, method: op.method, url: req.url, status: 0, problem: `no answer: ${(err as Error).message}` });
      continue;
    }
    calls.push(call);
    for (const problem of judge(target, attack, op, call, req.url + (req.body ?? ''))) {
      violations.push({ attack: attack.name, operationId: op.operationId, method: op.method, url: req.url, status: call.status, problem });
    }
  }
  return { violations, calls };
}

export function formatViolations(violations: Violation[]): string {
  return violations.map((v) => `  [${v.attack}] ${v.operationId} ${v.method} ${v.url} -> ${v.status}: ${v.problem}`).join('\n');
}

export interface AttackKeys {
  /** A valid key of the victim organization: malformed variants are derived from it (one character changed, extra words). */
  victimKey: string;
  expiredKey: string;
  otherOrganizationKey: string;
  /** Keys the victim organization's admin made, holding every permission but the one named. */
  missingPermission: Record<string, string>;
}

/** The attacks the issue names, each a separate sweep so a failing test names the attack. */
export function standardAttacks(keys: AttackKeys): Attack[] {
  const flipped = keys.victimKey.slice(0, -1) + (keys.victimKey.endsWith('0') ? '1' : '0');
  const malformed: Array<[string, string]> = [
    ['a key with one character changed', `Bearer ${flipped}`],
    ['a truncated key', `Bearer ${keys.victimKey.slice(0, -4)}`],
    ['a key followed by another word', `Bearer ${keys.victimKey} ${keys.victimKey}`],
    ['a Basic credential', `Basic ${Buffer.from(`x:${keys.victimKey}`).toString('base64')}`],
    ['an empty Bearer', 'Bearer '],
    ['a non-key token', 'Bearer not-a-key'],
    ['a key of control characters and unicode', 'Bearer \u00e9\u00e9\u00e9%00'],
  ];
  return [
    { name: 'no API key', kind: 'unauthenticated' },
    ...malformed.map(([what, authorization]): Attack => ({ name: `malformed API key (${what})`, kind: 'unauthenticated', authorization })),
    { name: 'expired API key', kind: 'unauthenticated', authorization: `Bearer ${keys.expiredKey}` },
    { name: "another organization's API key", kind: 'other-organization', authorization: `Bearer ${keys.otherOrganizationKey}` },
    ...Object.entries(keys.missingPermission).map(
      ([perm, key]): Attack => ({ name: `API key without ${perm}`, kind: 'missing-permission', lacks: perm, authorization: `Bearer ${key}` }),
    ),
  ];
}
