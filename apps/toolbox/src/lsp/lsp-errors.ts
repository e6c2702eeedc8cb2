/**
 * The language-server failures the LSP service tells apart, apart from language-server.ts so that the service can be
 * built at the daemon's start without loading the JSON-RPC library (which language-server.ts needs): most sandboxes
 * never start a language server, and every sandbox start paid about 4 ms to load it.
 */
export class LanguageServerExited extends Error {}

export class RequestTimeout extends Error {}
