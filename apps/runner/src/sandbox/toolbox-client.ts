import { request, Agent } from 'node:http';

/** Talks to a sandbox's toolbox over the unix socket the runner created (never a path inside the sandbox). */
export function toolboxVersion(socketPath: string, agent?: Agent, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/version', method: 'GET', agent: agent ?? false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: string };
          resolve(body.version ?? '');
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
