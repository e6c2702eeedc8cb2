import { flagInt, flagString, type ParsedArgs } from '../../args.js';
import { sdk } from '../../client.js';
import type { CliConfig } from '../../config.js';
import { UsageError } from '../../errors.js';
import { printObject } from '../../output.js';
import { sandboxRow } from './columns.js';

export const usage =
  'shoal sandbox create [--snapshot NAME] [--label k=v ...] [--env K=V ...] [--auto-stop MIN] [--language python|javascript|typescript] [--json]';

export async function run(args: ParsedArgs, config: CliConfig): Promise<number> {
  const pairs = (name: string) => {
    const out: Record<string, string> = {};
    const v = flagString(args, name);
    for (const p of v ? v.split(',') : []) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new UsageError(`--${name} takes key=value pairs`);
      out[p.slice(0, eq)] = p.slice(eq + 1);
    }
    return out;
  };
  const daytona = await sdk(config);
  const autoStop = flagInt(args, 'auto-stop');
  const sandbox = await daytona.create({
    ...(flagString(args, 'snapshot') ? { snapshot: flagString(args, 'snapshot')! } : {}),
    ...(flagString(args, 'language') ? { language: flagString(args, 'language')! } : {}),
    labels: pairs('label'),
    envVars: pairs('env'),
    ...(autoStop !== undefined ? { autoStopInterval: autoStop } : {}),
  });
  printObject(sandboxRow(sandbox), args.flags.has('json'));
  return 0;
}
