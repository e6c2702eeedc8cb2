import { UsageError } from './errors.js';

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
  /** Everything after a bare `--`. */
  rest: string[];
}

/** Minimal `--flag value` / `--flag=value` / `--bool` parser; `booleans` names the flags that take no value. */
export function parseArgs(argv: string[], booleans: ReadonlySet<string> = new Set(['json', 'help', 'no-cgroup-fix', 'keep-sandboxes', 'follow', 'default', 'password-stdin', 'password-prompt', 'include-deleted'])): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags.set(name, a.slice(eq + 1));
      else if (booleans.has(name)) flags.set(name, true);
      else {
        const v = argv[i + 1];
        if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
        flags.set(name, v);
        i++;
      }
    } else positional.push(a);
  }
  return { positional, flags, rest };
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagInt(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer`);
  return n;
}
