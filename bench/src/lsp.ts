/*
 * `npm run bench:lsp -w @shoal/bench`: issue 14's LSP benchmark, "LSP start to first completion", for TypeScript and
 * Python on a sandbox of the default snapshot. One sample: `createLspServer` + `start` + `didOpen` + the first
 * `completions` at a member access, through the SDK, the API's toolbox proxy and the toolbox (a fresh server each
 * time; `stop` untimed). Floor: the same language server spawned directly on the host by this process doing the
 * same initialize + didOpen + completion on the same files (lsp-floor.ts). Sampled interleaved.
 * Options: --samples N (default 8). Needs root and the platform's prerequisites.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Daytona } from '@daytonaio/sdk';
import { freePort, startPlatform } from '@shoal/platform';
import { floorStartToCompletion } from './lsp-floor.js';
import type { Row } from './platform-bench.js';
import { renderTable } from './report.js';
import { interleave, summarize, timed } from './stats.js';

const args = process.argv.slice(2);
const samples = args.includes('--samples') ? Number(args[args.indexOf('--samples') + 1]) : 8;

const FILES: Record<string, { project: string; file: string; text: string; position: { line: number; character: number } }> = {
  typescript: {
    project: 'lsp-bench-ts',
    file: 'src/shapes.ts',
    text: 'export class Base {\n  width = 1;\n  area(): number {\n    return this.width * 2;\n  }\n}\n\nconst obj1 = new Base();\nobj1.\n',
    position: { line: 8, character: 5 },
  },
  python: {
    project: 'lsp-bench-py',
    file: 'shapes.py',
    text: 'class Base:\n    def __init__(self):\n        self.width = 1\n\n    def area(self) -> int:\n        return self.width * 2\n\n\nobj1 = Base()\nobj1.\n',
    position: { line: 9, character: 5 },
  },
};

async function main(): Promise<void> {
  const scratch = await mkdtemp('/var/tmp/shoal-bench-lsp-');
  console.log(`bench: starting a platform in ${scratch}`);
  const platform = await startPlatform({
    dataDir: join(scratch, 'platform'),
    apiPort: await freePort(),
    bridgePrefix: 'shblsp',
    preferWellKnownPorts: false,
    subnetOctet: 234,
    imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR ?? join(scratch, 'image-cache'),
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  }).catch(async (err: unknown) => {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  });
  const rows: Row[] = [];
  const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
  const sandbox = await daytona.create();
  try {
    const home = join(scratch, 'host-projects');
    for (const spec of Object.values(FILES)) {
      await sandbox.fs.uploadFile(Buffer.from(spec.text), `${spec.project}/${spec.file}`);
      await mkdir(join(home, spec.project, spec.file, '..'), { recursive: true });
      await writeFile(join(home, spec.project, spec.file), spec.text);
    }
    for (const [language, spec] of Object.entries(FILES)) {
      const hostProject = join(home, spec.project);
      const sandboxSide = async () => {
        const lsp = await sandbox.createLspServer(language, spec.project);
        const [ms, list] = await timed(async () => {
          await lsp.start();
          await lsp.didOpen(`${spec.project}/${spec.file}`);
          return lsp.completions(`${spec.project}/${spec.file}`, spec.position);
        });
        await lsp.stop();
        if (!list.items.some((i) => i.label === 'area')) throw new Error(`${language}: no member completion: ${JSON.stringify(list.items.slice(0, 5))}`);
        return ms;
      };
      const hostSide = async () => {
        const { ms, labels } = await floorStartToCompletion(language, hostProject, join(hostProject, spec.file), spec.position);
        if (!labels.includes('area')) throw new Error(`${language} floor: no member completion`);
        return ms;
      };
      // Warm-up, untimed: page cache of the servers' files on both sides.
      await sandboxSide();
      await hostSide();
      console.log(`bench: ${language}, ${samples} x (sandbox, floor) interleaved`);
      const r = await interleave(samples, sandboxSide, hostSide);
      rows.push({
        name: `LSP start to first completion (${language})`,
        unit: 'ms',
        value: summarize(r.first),
        floor: summarize(r.second),
        floorName: 'same server spawned on the host, same initialize+didOpen+completion',
      });
    }
  } finally {
    await sandbox.delete().catch(() => undefined);
    await platform.stop();
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  console.log('');
  console.log(renderTable(rows));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
