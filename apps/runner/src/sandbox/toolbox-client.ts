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

/**
 * Merges variables into the environment the toolbox gives every process it starts (a claimed warm-pool sandbox: see
 * ClaimRunnerSandbox). Only the runner reaches this path: its proxy refuses `/.shoal/` (proxy/proxy.ts).
 */
export function toolboxMergeEnv(socketPath: string, env: Record<string, string>, agent?: Agent, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify({ env }));
    const req = request(
      { socketPath, path: '/.shoal/env', method: 'POST', agent: agent ?? false, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) resolve();
          else reject(new Error(`toolbox refused the environment: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('toolbox did not answer the environment update in time')));
    req.end(body);
  });
}

/**
 * `true` as the SDK sends every command (sdk-wire-contract.md §9.1): the shape the toolbox hands to its exec server.
 */
const SDK_SHAPED_TRUE = `sh -c "echo '${Buffer.from('true').toString('base64')}' | base64 -d | sh"`;

/**
 * Throwaway commands through the toolbox's execute path, for a warm-pool sandbox before anyone claims it: the first
 * command a toolbox runs pays for compiling its execute path and for loading the exec helper and the command from
 * disk, the first in the SDK's shape for compiling that path, and the server starts a spare shell for that shape only
 * after its second one; a claim would otherwise hand all of it to its first user. So: `true`, then, once the exec
 * server the first command starts (20 ms later, a few ms to come up) has had ample time, `true` the SDK's way twice.
 * Were the server still not up, those two would run without it and only the spare would be missing. Failures are
 * ignored: the sandbox works either way, only the first calls are slower.
 */
export async function toolboxWarmUp(socketPath: string, timeoutMs = 10_000): Promise<void> {
  await executeIgnoringFailure(socketPath, 'true', timeoutMs);
  await new Promise((r) => setTimeout(r, EXEC_SERVER_UP_MS));
  for (const command of [SDK_SHAPED_TRUE, SDK_SHAPED_TRUE]) await executeIgnoringFailure(socketPath, command, timeoutMs);
}

/** Time for the toolbox's exec server to come up after its first command, with room for a busy host. */
const EXEC_SERVER_UP_MS = 250;

function executeIgnoringFailure(socketPath: string, command: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const body = Buffer.from(JSON.stringify({ command, timeout: Math.ceil(timeoutMs / 1000) }));
    const req = request(
      { socketPath, path: '/process/execute', method: 'POST', agent: false, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
}
