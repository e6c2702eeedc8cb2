import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';

/**
 * A small DNS forwarder on the bridge address: sandboxes cannot reach host services, so they get this one
 * (explicitly accepted by the nft input chain) as their resolver. UDP queries are relayed one socket per query;
 * TCP connections are piped to the upstream server.
 */
export class DnsForwarder {
  private udp?: Socket;
  private tcp?: Server;
  private upstreams: string[] = [];

  constructor(private readonly listenAddr: string) {}

  async start(): Promise<void> {
    const conf = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    this.upstreams = conf
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l)?.[1])
      .filter((x): x is string => !!x);
    if (this.upstreams.length === 0) this.upstreams = ['1.1.1.1'];

    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    udp.on('error', () => undefined);
    udp.on('message', (msg, rinfo) => this.relayUdp(msg, rinfo.address, rinfo.port));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(53, this.listenAddr, () => resolve());
    });
    this.udp = udp;

    const tcp = createServer((client) => {
      const up = createConnection({ host: this.upstreams[0], port: 53 });
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.pipe(up).pipe(client);
      client.setTimeout(30_000, () => client.destroy());
    });
    tcp.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(53, this.listenAddr, () => resolve());
    });
    this.tcp = tcp;
  }

  private relayUdp(msg: Buffer, address: string, port: number): void {
    if (msg.length < 12 || msg.length > 4096) return;
    const s = createSocket('udp4');
    const timer = setTimeout(() => s.close(), 5000);
    s.on('error', () => {
      clearTimeout(timer);
      s.close();
    });
    s.on('message', (reply) => {
      clearTimeout(timer);
      this.udp?.send(reply, port, address);
      s.close();
    });
    s.send(msg, 53, this.upstreams[0]);
  }

  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }
}
