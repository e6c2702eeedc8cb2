import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CompletionList, LspCompletionParams, LspDocumentRequest, LspServerRequest, LspSymbol } from '@shoal/contracts';
import { resolvePath, type ToolboxContext } from '../context.js';
import { badRequest, fromErrno, payloadTooLarge, requestTimeout, ToolboxError } from '../http/errors.js';
import { flattenDocumentSymbols, positionProblem, toCompletionList, toWorkspaceSymbols } from './convert.js';
import type { LanguageServer } from './language-server.js';
import { LanguageServerExited, RequestTimeout } from './lsp-errors.js';
import { defaultModulesDir, LANGUAGES, supportedLanguages, type LanguageDefinition } from './languages.js';

export interface LspOptions {
  /** A server nobody called for this long is stopped (and started again by the next call); 0 never. */
  idleMs: number;
  /** Where the servers' npm packages are (see languages.ts); undefined: LSP answers a clear error. */
  modulesDir: string | undefined;
  /** How long one completion/symbols request may take. */
  requestTimeoutMs: number;
}

export const LSP_IDLE_DEFAULT_MS = 15 * 60_000;
/** The largest document the toolbox reads and hands to a server. */
const DOCUMENT_LIMIT = 16 * 1024 * 1024;

interface OpenDocument {
  path: string;
  languageId: string;
  version: number;
  text: string;
}

interface Entry {
  language: LanguageDefinition;
  projectDir: string;
  server: LanguageServer | undefined;
  starting: Promise<LanguageServer> | undefined;
  /** Open documents by the server-side uri, re-opened in a server started again after a crash or idle stop. */
  documents: Map<string, OpenDocument>;
  lastUsed: number;
  /** Calls in progress: a server is idle only when none is, however long one takes. */
  busy: number;
}

interface Document {
  /** The canonical file:// URI the server is given. */
  uri: string;
  path: string;
}

/**
 * One language server per (languageId, project directory), started by `start` and kept until `stop`. Between the
 * two, a server that crashed or was stopped for idleness is started again (its open documents re-opened) by the
 * next call, so callers never see more than the one call that was in flight when it died.
 */
export class LspService {
  private readonly entries = new Map<string, Entry>();
  private readonly options: LspOptions;
  private readonly idleTimer: NodeJS.Timeout | undefined;
  /** language-server.ts and the JSON-RPC library it brings, loaded by the first server start (lsp-errors.ts says why). */
  private loadedServerModule: typeof import('./language-server.js') | undefined;

  constructor(
    private readonly ctx: ToolboxContext,
    options: Partial<LspOptions> = {},
  ) {
    this.options = {
      idleMs: options.idleMs ?? LSP_IDLE_DEFAULT_MS,
      modulesDir: 'modulesDir' in options ? options.modulesDir : defaultModulesDir(),
      requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
    };
    if (this.options.idleMs > 0) {
      this.idleTimer = setInterval(() => this.stopIdle(), Math.min(Math.max(this.options.idleMs / 4, 50), 60_000));
      this.idleTimer.unref();
    }
  }

  async start(request: LspServerRequest): Promise<void> {
    const language = this.language(request.languageId);
    const projectDir = await this.project(request.pathToProject);
    const key = entryKey(language, projectDir);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { language, projectDir, server: undefined, starting: undefined, documents: new Map(), lastUsed: Date.now(), busy: 0 };
      this.entries.set(key, entry);
    }
    try {
      await this.running(entry);
    } catch (err) {
      // A start that failed leaves nothing behind: the next start tries afresh.
      if (this.entries.get(key) === entry && entry.documents.size === 0) this.entries.delete(key);
      throw err;
    }
  }

  async stop(request: LspServerRequest): Promise<void> {
    const entry = await this.started(request);
    this.entries.delete(entryKey(entry.language, entry.projectDir));
    await this.halt(entry);
  }

  async didOpen(request: LspDocumentRequest): Promise<void> {
    const entry = await this.started(request);
    const doc = await this.document(request.uri);
    await this.withServer(entry, (server) => this.open(entry, doc, server, true));
  }

  async didClose(request: LspDocumentRequest): Promise<void> {
    const entry = await this.started(request);
    const doc = await this.document(request.uri, false);
    if (!entry.documents.has(doc.uri)) return;
    const server = await this.running(entry);
    entry.documents.delete(doc.uri);
    // A server that died meanwhile has closed everything anyway.
    await server.notify('textDocument/didClose', { textDocument: { uri: doc.uri } }).catch(() => undefined);
  }

  async completions(request: LspCompletionParams): Promise<CompletionList> {
    const entry = await this.started(request);
    const doc = await this.document(request.uri);
    const result = await this.withServer(entry, async (server) => {
      const open = entry.documents.get(doc.uri) ?? (await this.open(entry, doc, server, false));
      const problem = positionProblem(open.text, request.position);
      if (problem) throw badRequest(`position: ${problem}`);
      const params = { textDocument: { uri: doc.uri }, position: request.position, ...(request.context ? { context: request.context } : {}) };
      return server.request('textDocument/completion', params, this.options.requestTimeoutMs);
    });
    return toCompletionList(result);
  }

  async documentSymbols(request: LspDocumentRequest): Promise<LspSymbol[]> {
    const entry = await this.started(request);
    const doc = await this.document(request.uri);
    const result = await this.withServer(entry, async (server) => {
      if (!entry.documents.has(doc.uri)) await this.open(entry, doc, server, false);
      return server.request('textDocument/documentSymbol', { textDocument: { uri: doc.uri } }, this.options.requestTimeoutMs);
    });
    // Located by the uri the caller used, as the reference's daemon answers.
    return flattenDocumentSymbols(result, request.uri);
  }

  async workspaceSymbols(request: LspServerRequest & { query: string }): Promise<LspSymbol[]> {
    const entry = await this.started(request);
    const result = await this.withServer(entry, (server) =>
      server.request('workspace/symbol', { query: request.query }, this.options.requestTimeoutMs),
    );
    return toWorkspaceSymbols(result);
  }

  /** The pid of the running server for a project, if any (tests kill it to check crash recovery). */
  async serverPid(request: LspServerRequest): Promise<number | undefined> {
    const entry = this.entries.get(entryKey(this.language(request.languageId), await this.project(request.pathToProject)));
    return entry?.server?.alive ? entry.server.pid : undefined;
  }

  /** Stops every server (the daemon is exiting). */
  shutdown(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const entry of this.entries.values()) entry.server?.kill();
    this.entries.clear();
  }

  private language(languageId: string): LanguageDefinition {
    const language = Object.hasOwn(LANGUAGES, languageId) ? LANGUAGES[languageId] : undefined;
    if (!language) {
      throw badRequest(`unsupported languageId ${JSON.stringify(languageId)}: supported are ${supportedLanguages().join(', ')}`);
    }
    return language;
  }

  /** The project as an existing directory, symlinks resolved (so two spellings of one directory share a server). */
  private async project(pathToProject: string): Promise<string> {
    const what = `pathToProject ${pathToProject}`;
    try {
      const dir = await realpath(resolvePath(this.ctx, pathToProject));
      if (!(await stat(dir)).isDirectory()) throw badRequest(`${what}: not a directory`);
      return dir;
    } catch (err) {
      throw fromErrno(err, what);
    }
  }

  /**
   * The SDK sends `"file://" + path` with the path as the caller gave it, possibly relative to the working directory
   * and not percent-encoded; servers want a canonical file URI of an absolute path.
   */
  private async document(uri: string, mustExist = true): Promise<Document> {
    if (!/^file:\/\//i.test(uri)) throw badRequest(`uri ${JSON.stringify(uri)}: expected a file:// URI`);
    let rest = uri.slice('file://'.length);
    if (rest.startsWith('localhost/')) rest = rest.slice('localhost'.length);
    if (rest === '' || rest.includes('\0')) throw badRequest(`uri ${JSON.stringify(uri)}: no file path`);
    const candidates = [rest];
    try {
      const decoded = decodeURIComponent(rest);
      if (decoded !== rest) candidates.push(decoded);
    } catch {
      // Not percent-encoded: the raw path is the only reading.
    }
    let lastError: unknown;
    for (const candidate of candidates) {
      const path = isAbsolute(candidate) ? resolve(candidate) : resolve(this.ctx.workdir, candidate);
      try {
        const real = await realpath(path);
        if (!(await stat(real)).isFile()) throw badRequest(`uri ${uri}: not a regular file`);
        return { uri: pathToFileURL(real).href, path: real };
      } catch (err) {
        lastError = err;
        if (!mustExist && (err as NodeJS.ErrnoException).code === 'ENOENT') return { uri: pathToFileURL(path).href, path };
      }
    }
    throw fromErrno(lastError, `uri ${uri}`);
  }

  private async started(request: { languageId: string; pathToProject: string }): Promise<Entry> {
    const language = this.language(request.languageId);
    const projectDir = await this.project(request.pathToProject);
    const entry = this.entries.get(entryKey(language, projectDir));
    if (!entry) {
      throw badRequest(`no ${language.id} language server is started for ${request.pathToProject}: call /lsp/start first`);
    }
    entry.lastUsed = Date.now();
    return entry;
  }

  /** The entry's server, started (again) if it is not running; documents open before are opened in the new one. */
  private async running(entry: Entry): Promise<LanguageServer> {
    entry.lastUsed = Date.now();
    if (entry.server?.alive) return entry.server;
    if (!entry.starting) {
      entry.starting = this.launch(entry).finally(() => {
        entry.starting = undefined;
      });
    }
    return entry.starting;
  }

  private async serverModule(): Promise<typeof import('./language-server.js')> {
    this.loadedServerModule ??= await import('./language-server.js');
    return this.loadedServerModule;
  }

  private async launch(entry: Entry): Promise<LanguageServer> {
    const modulesDir = this.options.modulesDir;
    if (!modulesDir) throw new ToolboxError(500, 'the language servers are missing from this toolbox build');
    const previous = entry.server;
    entry.server = undefined;
    previous?.kill();
    const server = await this.call(async () => (await this.serverModule()).LanguageServer.start(this.ctx, entry.language, modulesDir, entry.projectDir));
    server.exit.then(({ code, signal }) => {
      if (entry.server === server) this.ctx.log(`${entry.language.id} language server for ${entry.projectDir} exited (${signal ?? code})`);
    });
    const reopen = [...entry.documents.values()];
    entry.documents.clear();
    for (const doc of reopen) {
      try {
        await this.open(entry, { uri: pathToFileURL(doc.path).href, path: doc.path }, server, true);
      } catch {
        // The file is gone since: the caller will see that when it next names it.
      }
    }
    entry.server = server;
    entry.lastUsed = Date.now();
    return server;
  }

  /** Reads the document from disk and opens it (or, if already open with other content, sends the new content). */
  private async open(entry: Entry, doc: Document, server: LanguageServer, refresh: boolean): Promise<OpenDocument> {
    let text: string;
    try {
      const info = await stat(doc.path);
      if (info.size > DOCUMENT_LIMIT) throw payloadTooLarge(`${doc.path} is larger than ${DOCUMENT_LIMIT} bytes`);
      text = await readFile(doc.path, 'utf8');
    } catch (err) {
      throw fromErrno(err, `uri ${doc.uri}`);
    }
    const current = entry.documents.get(doc.uri);
    if (current && (!refresh || current.text === text)) return current;
    if (current) {
      const next = { ...current, version: current.version + 1, text };
      await server.notify('textDocument/didChange', { textDocument: { uri: doc.uri, version: next.version }, contentChanges: [{ text }] });
      entry.documents.set(doc.uri, next);
      return next;
    }
    const opened = { path: doc.path, languageId: entry.language.documentLanguage(doc.path), version: 1, text };
    await server.notify('textDocument/didOpen', { textDocument: { uri: doc.uri, languageId: opened.languageId, version: 1, text } });
    entry.documents.set(doc.uri, opened);
    return opened;
  }

  /**
   * Runs `exchange` against the entry's running server. If the server turns out to have died (a crash the toolbox
   * had not noticed yet, or one during the exchange), it is started again and the exchange retried once, so the
   * call after a crash works; a server that dies again answers 503.
   */
  private async withServer<T>(entry: Entry, exchange: (server: LanguageServer) => Promise<T>): Promise<T> {
    entry.busy += 1;
    try {
      return await this.call(async () => {
        try {
          return await exchange(await this.running(entry));
        } catch (err) {
          if (!(err instanceof LanguageServerExited)) throw err;
          return exchange(await this.running(entry));
        }
      });
    } finally {
      entry.busy -= 1;
      entry.lastUsed = Date.now();
    }
  }

  /** Runs one exchange with a server, turning its failures into the toolbox's errors. */
  private async call<T>(exchange: () => Promise<T>): Promise<T> {
    try {
      return await exchange();
    } catch (err) {
      if (err instanceof ToolboxError) throw err;
      if (err instanceof LanguageServerExited) {
        throw new ToolboxError(503, `${err.message}; it is started again by the next call`);
      }
      if (err instanceof RequestTimeout) throw requestTimeout(`language server: ${err.message}`);
      // Only a started server answers with a JSON-RPC error, so its module is loaded by then.
      if (this.loadedServerModule && err instanceof this.loadedServerModule.ResponseError) throw badRequest(`language server: ${err.message}`);
      throw new ToolboxError(500, `language server: ${(err as Error).message ?? String(err)}`);
    }
  }

  private async halt(entry: Entry): Promise<void> {
    const server = entry.starting ? await entry.starting.catch(() => undefined) : entry.server;
    entry.server = undefined;
    await server?.stop();
  }

  private stopIdle(): void {
    const now = Date.now();
    for (const entry of this.entries.values()) {
      if (!entry.server?.alive || entry.starting || entry.busy > 0 || now - entry.lastUsed < this.options.idleMs) continue;
      this.ctx.log(`stopping the idle ${entry.language.id} language server for ${entry.projectDir}`);
      void this.halt(entry);
    }
  }
}

function entryKey(language: LanguageDefinition, projectDir: string): string {
  return `${language.id}\0${projectDir}`;
}
