import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { api } from '../../api.js';
import { flagInt, flagString, type ParsedArgs } from '../../args.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { followUntilSettled } from './follow.js';
import { FAILED, snapshotArg, snapshotDetails, type Snapshot } from './snapshot.js';

export const usage =
  'shoal snapshot create <name> (--image REF | --dockerfile PATH [--context DIR]) [--cpu N] [--memory GB] [--disk GB] [--entrypoint CMD|JSON] [--json]';

/** `--entrypoint '["/bin/sh","-c","x"]'` (exec form) or `--entrypoint '/usr/bin/init --flag'` (split on spaces). */
function parseEntrypoint(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  if (v.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new UsageError('--entrypoint in the [ … ] form must be a JSON array of strings');
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new UsageError('--entrypoint must be a JSON array of strings');
    return parsed as string[];
  }
  const parts = v.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) throw new UsageError('--entrypoint is empty');
  return parts;
}

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const name = snapshotArg(args.positional, usage);
  const image = flagString(args, 'image');
  const dockerfile = flagString(args, 'dockerfile');
  if ((image === undefined) === (dockerfile === undefined)) throw new UsageError('give exactly one of --image and --dockerfile');
  if (image !== undefined && flagString(args, 'context') !== undefined) throw new UsageError('--context goes with --dockerfile');
  const entrypoint = parseEntrypoint(flagString(args, 'entrypoint'));
  const json = args.flags.has('json');
  // Progress goes to stderr so that stdout carries only the result (and stays parseable with --json).
  const progress = (text: string) => process.stderr.write(text);

  const body: Record<string, unknown> = { name };
  for (const [flag, field] of [['cpu', 'cpu'], ['memory', 'memory'], ['disk', 'disk']] as const) {
    const n = flagInt(args, flag);
    if (n !== undefined) body[field] = n;
  }
  const client = api(config);
  if (image !== undefined) {
    body.imageName = image;
    if (entrypoint) body.entrypoint = entrypoint;
  } else {
    let content: string;
    try {
      content = readFileSync(dockerfile!, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the Dockerfile ${dockerfile}: ${(err as Error).message}`);
    }
    // As the SDK does for `snapshot.create({ image, entrypoint })`: the API refuses an entrypoint beside buildInfo.
    if (entrypoint) content = `${content.replace(/\n*$/, '\n')}ENTRYPOINT ${JSON.stringify(entrypoint)}\n`;
    // Loaded only here: the S3 client and tar are heavy, and `shoal help` loads every command module.
    const { uploadContext } = await import('./context.js');
    const hash = await uploadContext(client, flagString(args, 'context') ?? dirname(dockerfile!), progress);
    body.buildInfo = { dockerfileContent: content, contextHashes: [hash] };
  }

  const created = await client.request<Snapshot>('POST', '/snapshots', body);
  const settled = await followUntilSettled(client, created, progress);
  printObject(snapshotDetails(settled), json);
  if (FAILED.has(settled.state)) {
    console.error(`shoal: snapshot ${settled.name} ended ${settled.state}: ${settled.errorReason ?? 'no reason given'}`);
    return 1;
  }
  return 0;
}
