import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { DnsForwarder } from '../src/network/dns.js';

/** Two loopback "upstreams" that answer on one port; each drops the first N queries it sees, as a lossy path would. */
function upstream(addr: string, port: number, drop: number, seen: string[], wrongIdFirst = false): Promise<Socket> {
  const s = createSocket('udp4');
  let count = 0;
  s.on('message', (msg, rinfo) => {
    seen.push(addr);
    if (count++ < drop) return;
    const reply = Buffer.from(msg);
    reply[2] = 0x81; // QR + RD
    reply[3] = 0x80; // RA, rcode 0
    if (wrongIdFirst) {
      const stray = Buffer.from(reply);
      stray.writeUInt16BE(reply.readUInt16BE(0) ^ 0xffff, 0);
      s.send(stray, rinfo.port, rinfo.address);
      setTimeout(() => s.send(reply, rinfo.port, rinfo.address), 100);
      return;
    }
    s.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => s.bind(port, addr, () => resolve(s)));
}

function query(port: number, id: number, timeoutMs: number): Promise<Buffer | 'timeout'> {
  const q = Buffer.alloc(17);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  Buffer.from([1, 0x61, 0, 0, 1, 0, 1]).copy(q, 12);
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => (s.close(), resolve('timeout')), timeoutMs);
    s.on('message', (m) => (clearTimeout(timer), s.close(), resolve(m)));
    s.send(q, port, '127.0.0.1');
  });
}

describe('runner DNS forwarder (UDP relay)', () => {
  const UP_PORT = 20_000 + Math.floor(Math.random() * 20_000);
  const LISTEN_PORT = UP_PORT + 1;
  const seen: string[] = [];
  const sockets: Socket[] = [];
  let fwd: DnsForwarder;

  before(async () => {
    // The first upstream loses one query; the second loses none.
    sockets.push(await upstream('127.0.0.2', UP_PORT, 1, seen), await upstream('127.0.0.3', UP_PORT, 0, seen));
    fwd = new DnsForwarder('127.0.0.1', { port: LISTEN_PORT, upstreams: ['127.0.0.2', '127.0.0.3'], upstreamPort: UP_PORT });
    await fwd.start();
  });

  after(async () => {
    await fwd.stop();
    for (const s of sockets) s.close();
  });

  test('a query the first upstream loses is sent again, to the next upstream, and answered', async () => {
    const reply = await query(LISTEN_PORT, 0x1234, 3000);
    assert.notEqual(reply, 'timeout', 'the forwarder gave up after one lost query');
    assert.equal((reply as Buffer).readUInt16BE(0), 0x1234);
    assert.deepEqual(seen, ['127.0.0.2', '127.0.0.3']);
  });

  test('an answered query is not sent again', async () => {
    seen.length = 0;
    const reply = await query(LISTEN_PORT, 0x4321, 3000);
    assert.notEqual(reply, 'timeout');
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(seen, ['127.0.0.2']);
  });

  test('a reply carrying another id is not passed back; the one with the query\'s id is', async () => {
    const strayPort = UP_PORT + 2;
    const odd = await upstream('127.0.0.4', strayPort, 0, [], true);
    const f = new DnsForwarder('127.0.0.1', { port: strayPort + 1, upstreams: ['127.0.0.4'], upstreamPort: strayPort });
    await f.start();
    try {
      const reply = await query(strayPort + 1, 0x0101, 3000);
      assert.notEqual(reply, 'timeout');
      assert.equal((reply as Buffer).readUInt16BE(0), 0x0101);
    } finally {
      await f.stop();
      odd.close();
    }
  });
});
