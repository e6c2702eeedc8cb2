// The tenancy suite tested on itself: the same checker the e2e suite runs against Shoal is pointed at a tiny two-tenant
// server, built once correctly (the checker must report nothing) and once per deliberate flaw (the checker must report
// that flaw on the operation that has it). Fast: no platform, no sandboxes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchOpenApi, listOperations, type Operation } from './src/openapi.js';
import { runAttack, standardAttacks, type Attack, type TenancyTarget, type Violation } from './src/tenancy/checker.js';
import { startToyServer, TOY, type Flaw } from './src/tenancy/toy-server.js';

const attacks = standardAttacks({
  victimKey: TOY.keyA,
  expiredKey: TOY.keyExpired,
  otherOrganizationKey: TOY.keyB,
  missingPermission: { 'write:sandboxes': TOY.keyANoWrite, 'delete:sandboxes': TOY.keyANoDelete },
});

const permissions: Record<string, string> = { replaceLabels: 'write:sandboxes', deleteSandbox: 'delete:sandboxes' };

/** Sweeps the toy server with every standard attack; returns the violations and whether org A's data changed. */
async function sweep(flaw: Flaw): Promise<{ violations: Violation[]; changed: boolean; operations: Operation[] }> {
  const server = await startToyServer(flaw);
  try {
    const operations = listOperations(await fetchOpenApi(server.baseUrl));
    const target: TenancyTarget = {
      baseUrl: server.baseUrl,
      operations,
      access: (op) =>
        op.public ? { kind: 'public' } : op.operationId === 'listAllOrganizations' ? { kind: 'admin' } : { kind: 'user', ...(permissions[op.operationId] ? { permission: permissions[op.operationId] } : {}) },
      targetsVictim: (op) => op.path.includes('{sandboxId}'),
      pathParams: () => ({ sandboxId: TOY.sandboxA }),
      body: () => ({ labels: { team: 'attacker-was-here' } }),
      secrets: [TOY.sandboxA, TOY.secretLabel, TOY.orgA],
    };
    const before = JSON.stringify(server.state());
    const violations: Violation[] = [];
    for (const attack of attacks) violations.push(...(await runAttack(target, attack)).violations);
    return { violations, changed: JSON.stringify(server.state()) !== before, operations };
  } finally {
    await server.close();
  }
}

function only(violations: Violation[], attack: (a: string) => boolean, operationId: string): Violation[] {
  return violations.filter((v) => attack(v.attack) && v.operationId === operationId);
}

test('a correct two-tenant server passes every attack with nothing reported and nothing changed', async () => {
  const r = await sweep('none');
  assert.deepEqual(r.violations, []);
  assert.equal(r.changed, false);
  // The sweep did reach every documented operation (the document is the source of the routes).
  assert.deepEqual(r.operations.map((o) => o.operationId).sort(), ['deleteSandbox', 'getSandbox', 'health', 'listAllOrganizations', 'listSandboxes', 'replaceLabels']);
});

test('a route that skips the organization check is reported as letting another organization in and leaking its data', async () => {
  const r = await sweep('skip-org-check');
  const v = only(r.violations, (a) => a === "another organization's API key", 'getSandbox');
  assert.ok(v.some((x) => x.status === 200 && /expected 403 or 404/.test(x.problem)), JSON.stringify(r.violations));
  assert.ok(v.some((x) => x.problem.includes(TOY.secretLabel)), 'the leaked label value is named');
  assert.ok(r.violations.every((x) => x.operationId === 'getSandbox'), 'no other operation is blamed');
});

test("a list that returns every organization's rows is reported as a leak even though its status is fine", async () => {
  const r = await sweep('list-all-orgs');
  const v = only(r.violations, (a) => a === "another organization's API key", 'listSandboxes');
  assert.ok(v.some((x) => x.status === 200 && x.problem.includes(TOY.secretLabel)), JSON.stringify(r.violations));
  assert.ok(v.some((x) => x.problem.includes(TOY.sandboxA)), 'the victim sandbox id, never sent by the attacker, is named');
});

test('a documented-secured route that answers without a key is reported for the no-key and malformed-key attacks', async () => {
  const r = await sweep('no-auth');
  assert.ok(only(r.violations, (a) => a === 'no API key', 'getSandbox').some((x) => x.status === 200));
  assert.ok(only(r.violations, (a) => a.startsWith('malformed API key'), 'getSandbox').length >= 5);
});

test('an expired key that is still accepted is reported on every secured route', async () => {
  const r = await sweep('accept-expired');
  const expired = r.violations.filter((v) => v.attack === 'expired API key');
  assert.deepEqual([...new Set(expired.map((v) => v.operationId))].sort(), ['deleteSandbox', 'getSandbox', 'listAllOrganizations', 'listSandboxes', 'replaceLabels']);
});

test('a route that forgets its permission check is reported for the key lacking that permission, and the change is seen', async () => {
  const r = await sweep('skip-permission');
  const v = only(r.violations, (a) => a === 'API key without write:sandboxes', 'replaceLabels');
  assert.ok(v.some((x) => x.status === 200), JSON.stringify(r.violations));
  assert.equal(r.changed, true);
});

test('a write that lands before the organization check is caught by the state comparison although the status looks right', async () => {
  const r = await sweep('mutate-before-org-check');
  assert.deepEqual(r.violations, [], 'the answers themselves look correct (404)');
  assert.equal(r.changed, true, 'only the before/after comparison of org A can see this one');
});

test('an admin route that takes a narrowed admin key is reported for each key lacking a permission, and only there', async () => {
  const r = await sweep('admin-ignores-narrowing');
  for (const perm of ['write:sandboxes', 'delete:sandboxes']) {
    const v = only(r.violations, (a) => a === `API key without ${perm}`, 'listAllOrganizations');
    assert.ok(v.some((x) => x.status === 200 && /expected 403/.test(x.problem)), JSON.stringify(r.violations));
  }
  assert.ok(r.violations.every((x) => x.operationId === 'listAllOrganizations'), JSON.stringify(r.violations));
});

test('a 401 without the error envelope is reported', async () => {
  const r = await sweep('plain-401');
  const attack: Attack = attacks[0]!;
  assert.ok(r.violations.some((v) => v.attack === attack.name && v.problem.startsWith('error envelope')));
});
