import type { AddressInfo } from 'node:net';
import ssh2, { type Connection } from 'ssh2';
import { GatewayApi, type Validation } from './api-client.js';
import type { GatewayConfig } from './config.js';
import { loadOrCreateHostKey, type HostKey } from './host-key.js';
import { FailureLimiter } from './rate-limit.js';
import { handleSession } from './session.js';

/** A client that has not logged in by then is dropped (sshd's LoginGraceTime, shorter). */
const LOGIN_GRACE_MS = 30_000;
/** What every refused login is told: the same for unknown, expired, revoked and rate-limited tokens. */
const METHODS = ['none', 'password', 'keyboard-interactive', 'publickey'] as const;

export interface RunningGateway {
  port: number;
  host: string;
  hostKey: HostKey;
  close(): Promise<void>;
}

/**
 * The SSH gateway: the user name is the SSH access token (`ssh -p PORT <token>@HOST`), accepted through any of the
 * none, password, keyboard-interactive and publickey methods (the password or key themselves are not what is
 * checked, as in the reference's gateway). Each token is checked once per connection with the API's
 * validateSshAccess; a failure counts against the source address.
 */
export async function startGateway(config: GatewayConfig, log: (line: string) => void = (l) => console.log(l)): Promise<RunningGateway> {
  const hostKey = await loadOrCreateHostKey(config.dataDir);
  const api = new GatewayApi(config.apiUrl, config.token);
  const limiter = new FailureLimiter(config.maxFailures, config.failureWindowMs);
  const clients = new Set<Connection>();

  const server = new ssh2.Server({ hostKeys: [hostKey.private], ident: 'Shoal' }, (client, info) => {
    clients.add(client);
    const address = info.ip;
    let check: Promise<Validation | null> | undefined;
    let target: { sandboxId: string; token: string } | undefined;
    const grace = setTimeout(() => client.end(), LOGIN_GRACE_MS);
    grace.unref();
    client.on('error', () => undefined);
    client.on('close', () => {
      clearTimeout(grace);
      clients.delete(client);
    });

    /** One validation per connection: a client trying several methods with one user name is one attempt. */
    const validate = (token: string): Promise<Validation | null> => {
      check ??= (async () => {
        if (limiter.blocked(address)) {
          log(`refused ${address}: too many failed logins`);
          return null;
        }
        if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) {
          limiter.fail(address);
          return null;
        }
        let answer: Validation;
        try {
          answer = await api.validate(token);
        } catch (err) {
          log(`could not validate a token: ${(err as Error).message}`);
          return null;
        }
        if (!answer.valid || !answer.sandboxId) {
          limiter.fail(address);
          return null;
        }
        return answer;
      })();
      return check;
    };

    client.on('authentication', (ctx) => {
      if (!(METHODS as readonly string[]).includes(ctx.method)) {
        ctx.reject([...METHODS]);
        return;
      }
      void validate(ctx.username).then((answer) => {
        if (!answer) {
          ctx.reject([...METHODS]);
          return;
        }
        target = { sandboxId: answer.sandboxId!, token: ctx.username };
        ctx.accept();
      });
    });

    client.on('ready', () => {
      clearTimeout(grace);
      log(`${address} logged in to sandbox ${target!.sandboxId}`);
      client.on('session', (accept) => handleSession(accept(), api, target!, log));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log(`SSH gateway listening on ${config.host}:${port} (host key ${hostKey.fingerprint})`);
  return {
    port,
    host: config.host,
    hostKey,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}
