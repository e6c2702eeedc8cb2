import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { ParsedArgs } from '../../args.js';
import { UsageError } from '../../errors.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // One trailing newline is what `echo`/`printf '%s\n'` and files add; it is never part of a password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks on the terminal without echoing what is typed. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    const output = new Writable({
      write(chunk, _enc, cb) {
        if (!muted) process.stderr.write(chunk as Buffer);
        cb();
      },
    });
    const rl = createInterface({ input: process.stdin, output, terminal: true });
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new UsageError('cancelled'));
    });
    muted = true;
  });
}

/**
 * The registry password, from stdin (`--password-stdin`) or a prompt on a terminal; never from argv, where other
 * users see it in the process list and it lands in shell history. `required: false` (update) returns undefined when
 * neither is asked for.
 */
export async function readPassword(args: ParsedArgs, required: boolean): Promise<string | undefined> {
  if (args.flags.has('password')) throw new UsageError('a password on the command line is visible to other users; use --password-stdin or the prompt');
  let password: string | undefined;
  if (args.flags.has('password-stdin')) password = await readStdin();
  else if (required || args.flags.has('password-prompt')) {
    if (!process.stdin.isTTY) throw new UsageError('no terminal to ask for the password on; pipe it with --password-stdin');
    password = await prompt('Registry password: ');
  }
  if (password !== undefined && password.length === 0) throw new UsageError('the password is empty');
  return password;
}
