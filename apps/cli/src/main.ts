#!/usr/bin/env node
import { parseArgs, type ParsedArgs } from './args.js';
import { loadConfig, type CliConfig } from './config.js';
import { EXIT, exitCodeFor, messageOf, UsageError } from './errors.js';

interface Command {
  usage: string;
  run(args: ParsedArgs, config: CliConfig): Promise<number>;
}

// Commands load lazily: `shoal exec` should not pay for the platform supervisor, nor `shoal up` for the SDK.
const commands: Record<string, () => Promise<Command>> = {
  up: () => import('./commands/up.js'),
  status: () => import('./commands/status.js'),
  exec: () => import('./commands/exec.js'),
  ssh: () => import('./commands/ssh.js'),
  open: () => import('./commands/open.js'),
  'sandbox create': () => import('./commands/sandbox/create.js'),
  'sandbox list': () => import('./commands/sandbox/list.js'),
  'sandbox info': () => import('./commands/sandbox/info.js'),
  'sandbox start': () => import('./commands/sandbox/start.js'),
  'sandbox stop': () => import('./commands/sandbox/stop.js'),
  'sandbox delete': () => import('./commands/sandbox/delete.js'),
  'sandbox archive': () => import('./commands/sandbox/archive.js'),
  'sandbox backup': () => import('./commands/sandbox/backup.js'),
  'snapshot create': () => import('./commands/snapshot/create.js'),
  'snapshot list': () => import('./commands/snapshot/list.js'),
  'snapshot info': () => import('./commands/snapshot/info.js'),
  'snapshot logs': () => import('./commands/snapshot/logs.js'),
  'snapshot activate': () => import('./commands/snapshot/activate.js'),
  'snapshot deactivate': () => import('./commands/snapshot/deactivate.js'),
  'snapshot delete': () => import('./commands/snapshot/delete.js'),
  'volume list': () => import('./commands/volume/list.js'),
  'volume create': () => import('./commands/volume/create.js'),
  'volume get': () => import('./commands/volume/get.js'),
  'volume delete': () => import('./commands/volume/delete.js'),
  'registry create': () => import('./commands/registry/create.js'),
  'registry list': () => import('./commands/registry/list.js'),
  'registry info': () => import('./commands/registry/info.js'),
  'registry update': () => import('./commands/registry/update.js'),
  'registry set-default': () => import('./commands/registry/set-default.js'),
  'registry delete': () => import('./commands/registry/delete.js'),
  'credentials reset': () => import('./commands/credentials/reset.js'),
  audit: () => import('./commands/audit.js'),
  'org list': () => import('./commands/org/list.js'),
  'org create': () => import('./commands/org/create.js'),
  'org delete': () => import('./commands/org/delete.js'),
  'org members': () => import('./commands/org/members.js'),
  'org roles': () => import('./commands/org/roles.js'),
  'org invite': () => import('./commands/org/invite.js'),
  'org invitations': () => import('./commands/org/invitations.js'),
  'org accept': () => import('./commands/org/accept.js'),
  'key list': () => import('./commands/key/list.js'),
  'key create': () => import('./commands/key/create.js'),
  'key delete': () => import('./commands/key/delete.js'),
  'webhook portal': () => import('./commands/webhook/portal.js'),
  'webhook endpoints': () => import('./commands/webhook/endpoints.js'),
  'webhook send': () => import('./commands/webhook/send.js'),
  'webhook messages': () => import('./commands/webhook/messages.js'),
  'webhook attempts': () => import('./commands/webhook/attempts.js'),
};

async function help(): Promise<void> {
  console.log('Usage:');
  for (const load of Object.values(commands)) console.log(`  ${(await load()).usage}`);
}

async function main(argv: string[]): Promise<number> {
  const config = loadConfig();
  const two = `${argv[0]} ${argv[1]}`;
  const key = commands[two] ? two : argv[0] && commands[argv[0]] ? argv[0] : undefined;
  if (!key) {
    await help();
    return argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' ? EXIT.ok : EXIT.usage;
  }
  const command = await commands[key]!();
  const args = parseArgs(argv.slice(key.split(' ').length));
  if (args.flags.has('help')) {
    console.log(`Usage: ${command.usage}`);
    return EXIT.ok;
  }
  return command.run(args, config);
}

// The one place errors become exit codes and messages.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`shoal: ${messageOf(err)}`);
    if (err instanceof UsageError) console.error("Run 'shoal help' for usage.");
    process.exitCode = exitCodeFor(err);
  },
);
