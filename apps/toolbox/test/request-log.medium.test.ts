// Issue 16 item 5: the daemon's log is JSON lines, and each request's line carries the request id the runner passed on
// (X-Request-Id, the API's) and the trace context of the runner's toolbox span (traceparent), for HTTP requests and
// WebSocket upgrades (a PTY) alike. The real daemon runs as a child process; its stderr is what the runner's
// toolbox.log receives.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startToolbox, type RunningToolbox } from './harness.js';

let tb: RunningToolbox;

before(async () => {
  tb = await startToolbox();
});

after(async () => {
  await tb?.stop();
});

type Line = Record<string, unknown> & { msg: string; level: number; time: number };

/** Every stderr line parsed; a line that is not JSON fails the test (the log is structured throughout). */
function lines(): Line[] {
  return tb
    .stderr()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        assert.fail(`a log line is not JSON: ${l}`);
      }
    });
}

async function lineWhere(what: string, pick: (l: Line) => boolean): Promise<Line> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = lines().find(pick);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no log line for ${what}; log:\n${tb.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const trace = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });

describe('toolbox request log', () => {
  it('logs a request under the id and trace context it was sent, and echoes the id', async () => {
    const reqId = `tb-log-${randomBytes(4).toString('hex')}`;
    const t = trace();
    const res = await tb.http('POST', '/process/execute', {
      json: { command: 'echo hi' },
      headers: { 'x-request-id': reqId, traceparent: `00-${t.traceId}-${t.spanId}-01` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-request-id'], reqId);
    const line = await lineWhere(reqId, (l) => l.reqId === reqId);
    assert.equal(line.msg, 'request completed');
    assert.equal(line.level, 30);
    assert.equal(line.trace_id, t.traceId);
    assert.equal(line.span_id, t.spanId);
    assert.deepEqual(line.req, { method: 'POST', url: '/process/execute' });
    assert.equal((line.res as { statusCode: number }).statusCode, 200);
    assert.equal(typeof line.responseTime, 'number');
    assert.ok(Math.abs(line.time - Date.now()) < 60_000);
  });

  it('a request without an acceptable id gets one of its own, logged and echoed; a malformed traceparent is ignored', async () => {
    const res = await tb.http('GET', '/files?path=.', { headers: { 'x-request-id': 'bad id\twith spaces', traceparent: 'not-a-traceparent' } });
    assert.equal(res.status, 200);
    const given = String(res.headers['x-request-id']);
    assert.match(given, /^[0-9a-f-]{36}$/);
    const line = await lineWhere(given, (l) => l.reqId === given);
    assert.equal(line.trace_id, undefined);
    assert.deepEqual(line.req, { method: 'GET', url: '/files' }, 'the query is not logged');
  });

  it('a failed request is logged with its id and status', async () => {
    const reqId = `tb-404-${randomBytes(4).toString('hex')}`;
    const res = await tb.http('GET', '/no/such/route', { headers: { 'x-request-id': reqId } });
    assert.equal(res.status, 404);
    const line = await lineWhere(reqId, (l) => l.reqId === reqId);
    assert.equal((line.res as { statusCode: number }).statusCode, 404);
  });

  it('a PTY WebSocket is logged under its id and trace context when it opens and when it closes', async () => {
    const created = await tb.http('POST', '/process/pty', { json: { id: 'logged', cols: 80, rows: 24 } });
    assert.equal(created.status, 201);
    const reqId = `tb-pty-${randomBytes(4).toString('hex')}`;
    const t = trace();
    const ws = tb.ws('/process/pty/logged/connect', { 'x-request-id': reqId, traceparent: `00-${t.traceId}-${t.spanId}-01` });
    await new Promise((resolve, reject) => {
      ws.once('message', resolve);
      ws.once('error', reject);
    });
    const opened = await lineWhere('the upgrade', (l) => l.reqId === reqId && l.msg === 'incoming upgrade');
    assert.equal(opened.trace_id, t.traceId);
    assert.equal(opened.span_id, t.spanId);
    assert.deepEqual(opened.req, { method: 'GET', url: '/process/pty/logged/connect', upgrade: 'websocket' });
    ws.close();
    const closed = await lineWhere('the closed upgrade', (l) => l.reqId === reqId && l.msg === 'upgrade closed');
    assert.equal(closed.trace_id, t.traceId);
    assert.equal(typeof closed.durationMs, 'number');
    assert.equal((await tb.http('DELETE', '/process/pty/logged')).status < 300, true);
  });

  it('the daemon\'s own messages are JSON lines too', async () => {
    const started = await lineWhere('listening', (l) => l.msg.startsWith('listening on '));
    assert.equal(started.name, 'toolbox');
    assert.equal(started.reqId, undefined);
  });
});
