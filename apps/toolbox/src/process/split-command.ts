/**
 * The Daytona daemon's argv splitting for `POST /process/execute`, reproduced exactly because the SDK's wrapping
 * depends on it: split on spaces outside quotes; `'` and `"` open and close quoting (the other kind is literal
 * inside), quote characters are dropped, and backslashes are not escapes. There is deliberately no outer shell:
 * `sh -c "export K=$(echo '<b64>' | base64 -d); ..."` must reach `sh` as one argument so that `$(...)` is expanded
 * once, by that `sh`, and values with spaces survive.
 */
export function splitCommand(command: string): string[] {
  const args: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const ch of command) {
    if (ch === '"' || ch === "'") {
      if (quote === undefined) quote = ch;
      else if (quote === ch) quote = undefined;
      else current += ch;
    } else if (ch === ' ' && quote === undefined) {
      if (current.length > 0) {
        args.push(current);
        current = '';
      }
    } else {
      current += ch;
    }
  }
  if (current.length > 0) args.push(current);
  return args;
}
