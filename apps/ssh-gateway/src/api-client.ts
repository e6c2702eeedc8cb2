import WebSocket from 'ws';
import { PROCESS_STREAM_PATH } from '@shoal/contracts';

export interface Validation {
  valid: boolean;
  sandboxId: string | null;
}

/** The gateway's two calls to the API, both with its service credential. */
export class GatewayApi {
  constructor(
    private readonly apiUrl: string,
    private readonly credential: string,
  ) {}

  /** validateSshAccess; any failure to get an answer throws (the login is then refused, not let through). */
  async validate(token: string): Promise<Validation> {
    const res = await fetch(`${this.apiUrl}/api/sandbox/ssh-access/validate?token=${encodeURIComponent(token)}`, {
      headers: { authorization: `Bearer ${this.credential}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json().catch(() => ({}))) as Partial<Validation> & { message?: string };
    if (!res.ok) throw new Error(`validateSshAccess answered ${res.status}: ${body.message ?? ''}`);
    return { valid: body.valid === true, sandboxId: body.sandboxId ?? null };
  }

  /**
   * The sandbox's streaming process through the API's toolbox proxy (and from there the runner's): the API checks
   * the user's SSH token again on every stream, so a token revoked after login opens nothing new.
   */
  openStream(sandboxId: string, sshToken: string): WebSocket {
    const url = `${this.apiUrl.replace(/^http/, 'ws')}/api/toolbox/${encodeURIComponent(sandboxId)}/toolbox${PROCESS_STREAM_PATH}`;
    return new WebSocket(url, {
      headers: { authorization: `Bearer ${this.credential}`, 'x-daytona-ssh-token': sshToken },
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
  }
}
