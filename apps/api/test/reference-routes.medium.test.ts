// Issue 17 item 7: every reference path reaches its own handler. A static path such as /users/account-providers must
// never fall into a parameterised one (/users/:id) that happens to match the same URL: the test sends each reference
// operation with sample values in its parameters and reads back which route the router chose.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { build, type ShoalApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createTestDatabase, TEST_DEFAULT_IMAGE, TEST_DEFAULT_SNAPSHOT, TEST_PLATFORM_SECRET, type TestDatabase } from './helpers/database.js';

let db: TestDatabase;
let app: ShoalApp;
const ROUTE_HEADER = 'x-test-matched-route';

before(async () => {
  db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    SHOAL_DEFAULT_SNAPSHOT: TEST_DEFAULT_SNAPSHOT,
    SHOAL_DEFAULT_SNAPSHOT_IMAGE: TEST_DEFAULT_IMAGE,
    SHOAL_PLATFORM_SECRET: TEST_PLATFORM_SECRET,
  });
  app = await build({ config, background: false });
  // Runs for every answer, the auth hook's 401 included, so no credential is needed to learn the route.
  app.addHook('onSend', async (req, reply) => {
    reply.header(ROUTE_HEADER, req.routeOptions.url ?? '(none)');
  });
  await app.ready();
});

after(async () => {
  await app?.close();
  await db?.drop();
});

function operations(file: string): string[] {
  return readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/:[^/]+/g, '{}');

test('each reference operation is routed to the handler of its own path, or to none while not served', async () => {
  const notServed = new Set(operations('reference-operations-missing.txt'));
  const all = operations('reference-operations.txt');
  const wrong: string[] = [];
  let routed = 0;
  for (const op of all) {
    const [method, path] = op.split(' ') as [string, string];
    let n = 0;
    // Sample values that cannot equal any static segment of the API.
    const url = '/api' + path.replace(/\{[^}]+\}/g, () => `v${n++}x9`);
    const res = await app.inject({ method: method as 'GET', url });
    const matched = String(res.headers[ROUTE_HEADER] ?? '(none)').replace(/^\/api(?=\/)/, '');
    // The toolbox operations are served by the toolbox proxy's one wildcard route; it forwards the path as sent.
    const viaToolboxProxy = path.startsWith('/toolbox/') && matched === '/toolbox/:sandboxId/toolbox/*';
    if (viaToolboxProxy || shape(matched) === shape(path)) routed++;
    // An operation Shoal does not serve yet must fall through to "not found", never into another operation's handler.
    else if (!(notServed.has(op) && matched === '(none)')) wrong.push(`${op} -> ${matched} (${res.statusCode})`);
  }
  assert.deepEqual(wrong, [], 'reference operations routed to another path');
  console.log(`[reference-routes] ${routed} of ${all.length} reference operations reach their own route; none reaches another's`);
});
