/**
 * The "internet" of the network tests: an HTTP server in a network namespace the test made, answering on every address
 * of the namespace with `<secret>@<the address it was reached on>`, so a probe from a sandbox proves which address it
 * really reached. Traffic only ever goes to addresses the test put in that namespace (198.18.0.0/15 and the like).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const SERVER = `
require('node:http').createServer((q, s) => s.end(process.argv[1] + '@' + q.socket.localAddress)).listen(80, '0.0.0.0', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts the server in namespace `ns` and resolves once it listens. */
export async function startNamespaceServer(ns: string, secret: string): Promise<ChildProcess> {
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, secret], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (c: Buffer) => c.toString().includes('listening') && resolve());
    server.once('exit', (code) => reject(new Error(`namespace server exited with ${code}`)));
  });
  return server;
}

/** Stops the server (by its PID) and removes the namespace and the host end of its veth; each step may be a no-op. */
export async function removeNamespaceServer(server: ChildProcess | undefined, ns: string, hostIf: string): Promise<void> {
  if (server?.pid && server.exitCode === null && server.signalCode === null) {
    const exited = once(server, 'exit');
    process.kill(server.pid, 'SIGTERM');
    await exited;
  }
  for (const args of [['netns', 'del', ns], ['link', 'del', hostIf]]) {
    try {
      execFileSync('ip', args, { stdio: 'ignore' });
    } catch {
      // never created, or gone with the namespace
    }
  }
}
