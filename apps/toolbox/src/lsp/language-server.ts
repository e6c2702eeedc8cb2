import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConnectionError, createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import type { ToolboxContext } from '../context.js';
import { userSpawnPath } from '../process/user-spawn.js';
import type { LanguageDefinition } from './languages.js';
import { LanguageServerExited, RequestTimeout } from './lsp-errors.js';

export { ResponseError } from 'vscode-jsonrpc/node.js';

/** How long a server may take to answer `initialize` (pyright indexes the project first). */
const INITIALIZE_TIMEOUT_MS = 120_000;
/** How long a failed call waits for the server's exit status once its connection broke (it follows the pipes' end). */
const EXIT_NOTICE_MS = 2000;
/** After `shutdown`/`exit`, how long a server gets before it is killed. */
const EXIT_GRACE_MS = 2_000;
const STDERR_KEEP = 8 * 1024;

/** What the client tells servers it can handle: plain-text completions and hierarchical document symbols. */
const CAPABILITIES = {
  workspace: { configuration: true, workspaceFolders: true, symbol: { dynamicRegistration: false } },
  textDocument: {
    synchronization: { dynamicRegistration: false, didSave: false },
    completion: {
      dynamicRegistration: false,
      completionItem: { snippetSupport: false, documentationFormat: ['markdown', 'plaintext'], labelDetailsSupport: false },
      contextSupport: true,
    },
    documentSymbol: { dynamicRegistration: false, hierarchicalDocumentSymbolSupport: true },
  },
  window: { workDoneProgress: false },
};

/**
 * One running language server: a Node child process (the toolbox's own Node running the server's script) spoken to
 * in LSP JSON-RPC over its stdio. It runs as the toolbox does, i.e. as the sandbox user and inside the sandbox's
 * cgroup, so its memory counts against the sandbox. It is the leader of its own process group so that stopping it
 * also stops what it spawned (typescript-language-server forks tsserver).
 */
export class LanguageServer {
  private readonly child: ChildProcess;
  private readonly connection: MessageConnection;
  private stderrTail = '';
  private exited = false;
  /** Resolves when the process is gone, whatever the reason. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    ctx: ToolboxContext,
    private readonly language: LanguageDefinition,
    modulesDir: string,
    readonly projectDir: string,
  ) {
    const command = userSpawnPath(ctx, process.execPath, [join(modulesDir, language.script), ...language.args]);
    this.child = spawn(command.file, command.args, {
      cwd: projectDir,
      env: { ...ctx.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        this.killGroup();
        resolve({ code, signal });
      });
      // spawn failures (the Node binary missing) come as 'error' without 'exit'.
      this.child.once('error', () => {
        this.exited = true;
        resolve({ code: null, signal: null });
      });
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_KEEP);
    });
    // A server that dies mid-write makes its pipes fail; that is reported through `exit`, never thrown.
    this.child.stdin!.on('error', () => undefined);
    this.connection = createMessageConnection(new StreamMessageReader(this.child.stdout!), new StreamMessageWriter(this.child.stdin!));
    this.connection.onError(() => undefined);
    // Requests servers send to the client. Configuration: no settings beyond each server's defaults.
    this.connection.onRequest('workspace/configuration', (params: { items?: unknown[] }) => (params.items ?? []).map(() => null));
    this.connection.onRequest('client/registerCapability', () => null);
    this.connection.onRequest('client/unregisterCapability', () => null);
    this.connection.onRequest('window/workDoneProgress/create', () => null);
    this.connection.onRequest('window/showMessageRequest', () => null);
    this.connection.onRequest('workspace/workspaceFolders', () => [this.folder()]);
    this.connection.onRequest('workspace/applyEdit', () => ({ applied: false }));
    this.connection.listen();
  }

  /** Spawns the server and runs initialize/initialized with the project as root. */
  static async start(ctx: ToolboxContext, language: LanguageDefinition, modulesDir: string, projectDir: string): Promise<LanguageServer> {
    const server = new LanguageServer(ctx, language, modulesDir, projectDir);
    try {
      const params = {
        processId: process.pid,
        clientInfo: { name: 'shoal-toolbox' },
        rootUri: server.folder().uri,
        rootPath: projectDir,
        workspaceFolders: [server.folder()],
        capabilities: CAPABILITIES,
        initializationOptions: language.initializationOptions(modulesDir),
      };
      await server.request('initialize', params, INITIALIZE_TIMEOUT_MS);
      await server.notify('initialized', {});
      return server;
    } catch (err) {
      server.kill();
      throw err;
    }
  }

  private folder() {
    return { uri: pathToFileURL(this.projectDir).href, name: this.projectDir };
  }

  get alive(): boolean {
    return !this.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines the server wrote to stderr, for error messages. */
  get stderr(): string {
    return this.stderrTail.trim().split('\n').slice(-5).join('\n');
  }

  /** A request that fails with LanguageServerExited if the server dies first, and with a timeout error after `timeoutMs`. */
  async request<R>(method: string, params: unknown, timeoutMs: number): Promise<R> {
    if (this.exited) throw new LanguageServerExited(this.exitMessage());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeout(`${method} got no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    const died = this.exit.then(() => {
      throw new LanguageServerExited(this.exitMessage());
    });
    // Once the race is decided otherwise, its later rejection is nobody's to handle.
    died.catch(() => undefined);
    try {
      return await Promise.race([this.connection.sendRequest<R>(method, params), died, timeout]);
    } catch (err) {
      if (err instanceof LanguageServerExited) throw err;
      if (this.exited || (err instanceof ConnectionError && (await this.exitsWithin(EXIT_NOTICE_MS)))) {
        throw new LanguageServerExited(this.exitMessage());
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async notify(method: string, params: unknown): Promise<void> {
    if (this.exited) throw new LanguageServerExited(this.exitMessage());
    try {
      await this.connection.sendNotification(method, params);
    } catch (err) {
      if (err instanceof ConnectionError && (await this.exitsWithin(EXIT_NOTICE_MS))) throw new LanguageServerExited(this.exitMessage());
      throw err;
    }
  }

  /**
   * Whether the process is gone or goes within `ms`. A killed server's pipes close before its exit status arrives, so
   * a call made in between fails with the connection's own error ("Connection is closed"); the caller must still see
   * the server's death, which restarts it, and not a 500.
   */
  private async exitsWithin(ms: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const gone = await Promise.race([this.exit.then(() => true as const), late]);
    clearTimeout(timer);
    return gone;
  }

  private exitMessage(): string {
    const tail = this.stderr;
    return `the ${this.language.id} language server exited${tail ? `: ${tail}` : ''}`;
  }

  /** Asks the server to shut down as LSP says, then kills its whole process group if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const grace = setTimeout(() => this.kill(), EXIT_GRACE_MS);
    try {
      await this.request('shutdown', null, EXIT_GRACE_MS);
      await this.notify('exit', null);
    } catch {
      this.kill();
    }
    await this.exit;
    clearTimeout(grace);
    this.connection.dispose();
  }

  kill(): void {
    this.killGroup();
    try {
      this.child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private killGroup(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // No such group left.
    }
  }
}

