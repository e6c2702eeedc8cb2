import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';

const RELAY_RESEND_MS = 1000;
const RELAY_ATTEMPTS = 3;
const RELAY_GIVE_UP_MS = 5000;

/**
 * A small DNS forwarder on the bridge address: sandboxes cannot reach host services, so they get this one
 * (explicitly accepted by the nft input chain) as their resolver. UDP queries are relayed one socket per query;
 * TCP connections are piped to the upstream server.
 */
export class DnsForwarder {
  private udp?: Socket;
  private tcp?: Server;
  private upstreams: string[] = [];

  private readonly port: number;
  private readonly upstreamPort: number;

  /** `options` exist for tests: production listens on 53 and forwards to the host's resolv.conf nameservers on 53. */
  constructor(
    private readonly listenAddr: string,
    private readonly options: { port?: number; upstreams?: string[]; upstreamPort?: number } = {},
  ) {
    this.port = options.port ?? 53;
    this.upstreamPort = options.upstreamPort ?? 53;
  }

  async start(): Promise<void> {
    const conf = this.options.upstreams ? '' : await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    this.upstreams =
      this.options.upstreams ??
      conf
        .split('\n')
        .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
        .filter((x): x is string => !!x);
    if (this.upstreams.length === 0) this.upstreams = ['1.1.1.1'];

    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    udp.on('error', () => undefined);
    udp.on('message', (msg, rinfo) => this.relayUdp(msg, rinfo.address, rinfo.port));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.listenAddr, () => resolve());
    });
    this.udp = udp;

    const tcp = createServer((client) => {
      const up = createConnection({ host: this.upstreams[0], port: this.upstreamPort });
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.pipe(up).pipe(client);
      client.setTimeout(30_000, () => client.destroy());
    });
    tcp.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.listenAddr, () => resolve());
    });
    this.tcp = tcp;
  }

  /**
   * Relays one query from its own socket. UDP loses packets, and a sandbox's resolver library may not retry before
   * its caller gives up, so an unanswered query is sent again each second, moving to the next upstream each time.
   * Only a reply from an upstream carrying the query's id is passed back.
   */
  private relayUdp(msg: Buffer, address: string, port: number): void {
    if (msg.length < 12 || msg.length > 4096) return;
    const s = createSocket('udp4');
    const id = msg.readUInt16BE(0);
    let attempt = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(resend);
      clearTimeout(timer);
      s.close();
    };
    const send = () => s.send(msg, this.upstreamPort, this.upstreams[attempt++ % this.upstreams.length], () => undefined);
    const resend = setInterval(() => (attempt < RELAY_ATTEMPTS ? send() : undefined), RELAY_RESEND_MS);
    const timer = setTimeout(finish, RELAY_GIVE_UP_MS);
    s.on('error', finish);
    s.on('message', (reply, from) => {
      if (reply.length < 12 || reply.readUInt16BE(0) !== id || !this.upstreams.includes(from.address)) return;
      this.udp?.send(reply, port, address);
      finish();
    });
    send();
  }

  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }
}
