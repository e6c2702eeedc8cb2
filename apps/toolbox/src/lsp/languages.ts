import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';

/**
 * The language servers the toolbox ships. They are plain npm packages run by the toolbox's own Node (the injected
 * runtime at /.shoal/node), so they work in any image without installing anything in it. build.mjs copies them to
 * dist/lsp/node_modules, beside the bundle, which is what a sandbox sees read-only at /.shoal/toolbox.
 */
export interface LanguageDefinition {
  /** The languageId the SDK sends. */
  id: string;
  /** Node script of the server and its arguments (relative to the modules directory). */
  script: string;
  args: string[];
  initializationOptions(modules: string): unknown;
  /** The LSP languageId of a document, from its file name. */
  documentLanguage(file: string): string;
}

const scriptLanguages: Record<string, string> = {
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'typescriptreact',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascriptreact',
};

/** The reference's daemon knows exactly these two; `typescript` also serves JavaScript files. */
export const LANGUAGES: Record<string, LanguageDefinition> = {
  typescript: {
    id: 'typescript',
    script: 'typescript-language-server/lib/cli.mjs',
    args: ['--stdio'],
    initializationOptions: (modules) => ({
      // Our own TypeScript, not whatever a project's node_modules holds: a project's copy may not run on this Node.
      tsserver: { path: join(modules, 'typescript/lib/tsserver.js') },
      // Typings acquisition would run npm and write a cache; nothing should be installed behind the user's back.
      disableAutomaticTypingAcquisition: true,
      hostInfo: 'shoal-toolbox',
    }),
    documentLanguage: (file) => scriptLanguages[extname(file).toLowerCase()] ?? 'typescript',
  },
  python: {
    id: 'python',
    script: 'pyright/langserver.index.js',
    args: ['--stdio'],
    initializationOptions: () => ({}),
    documentLanguage: () => 'python',
  },
};

export function supportedLanguages(): string[] {
  return Object.keys(LANGUAGES);
}

/**
 * Where the servers' node_modules are: beside the bundle (dist/lsp/node_modules) when running as dist/toolbox.cjs,
 * else the workspace's node_modules (the daemon run from source in development and tests).
 */
export function defaultModulesDir(): string | undefined {
  const main = process.argv[1];
  if (main) {
    const shipped = join(dirname(main), 'lsp', 'node_modules');
    if (existsSync(join(shipped, 'typescript-language-server'))) return shipped;
  }
  // Only a daemon run from source looks further: the bundle must not pick up a server some image left in /node_modules.
  if (!main?.endsWith('.ts')) return undefined;
  try {
    const require = createRequire(main ? join(dirname(main), 'noop.js') : join(process.cwd(), 'noop.js'));
    return dirname(dirname(require.resolve('typescript-language-server/package.json')));
  } catch {
    return undefined;
  }
}
