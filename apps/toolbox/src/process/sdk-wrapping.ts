/**
 * The SDK's `executeCommand` never sends the user's command as it is: it sends
 * `sh -c "[export K=$(echo '<b64>' | base64 -d);...] echo '<b64>' | base64 -d | sh"` (sdk-wire-contract.md §9.1).
 * Run literally, that is four processes before the user's first one: the outer sh, a subshell for `echo`, `base64`
 * and the inner sh, which reads the script from the pipe. About 2 ms of every exec here.
 *
 * When the command is exactly that shape, the toolbox decodes it itself and starts only the inner `sh`, with the
 * decoded variables in its environment and the decoded script written to its stdin, which is what the pipeline
 * amounts to:
 * - the script reaches sh on stdin, as before, never in an argv: `pgrep -f`/`pkill -f` in a script must not find the
 *   shell running it (they would with `sh -c <script>`);
 * - `K=$(...)` drops the trailing newlines of the value, and so does this;
 * - the exit status is the inner sh's either way.
 * Anything else (base64 that `base64 -d` would not decode the same way, a variable name `export` would refuse, a value
 * with a NUL byte or bytes that are not UTF-8, which an environment string cannot carry) is left to the shell, as sent.
 */
const B64 = "'([A-Za-z0-9+/]*={0,2})'";
const EXPORT = new RegExp(`export ([A-Za-z_][A-Za-z0-9_]*)=\\$\\(echo ${B64} \\| base64 -d\\);`, 'y');
const SCRIPT = new RegExp(`^ ?echo ${B64} \\| base64 -d \\| sh$`);

export interface UnwrappedCommand {
  /** What the inner `sh` reads on its stdin. */
  script: Buffer;
  /** The exported variables, in the order the shell would have set them (a later one wins). */
  env: Record<string, string>;
}

export function unwrapSdkCommand(argv: readonly string[]): UnwrappedCommand | undefined {
  if (argv.length !== 3 || argv[0] !== 'sh' || argv[1] !== '-c') return undefined;
  const inner = argv[2]!;
  const env: Record<string, string> = {};
  EXPORT.lastIndex = 0;
  let at = 0;
  for (let m = EXPORT.exec(inner); m; m = EXPORT.exec(inner)) {
    const value = decodeText(m[2]!);
    if (value === undefined) return undefined;
    env[m[1]!] = value.replace(/\n+$/, '');
    at = EXPORT.lastIndex;
  }
  const script = SCRIPT.exec(inner.slice(at));
  if (!script) return undefined;
  const bytes = decode(script[1]!);
  return bytes ? { script: bytes, env } : undefined;
}

/** The bytes of canonical base64, else undefined. */
function decode(b64: string): Buffer | undefined {
  if (b64.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  return bytes.toString('base64') === b64 ? bytes : undefined;
}

/** The UTF-8 text of canonical base64 without NUL bytes, else undefined. */
function decodeText(b64: string): string | undefined {
  const bytes = decode(b64);
  if (!bytes || bytes.includes(0)) return undefined;
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}
