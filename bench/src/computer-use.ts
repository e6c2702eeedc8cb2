/*
 * `npm run bench:computer-use`: issue 14's computer-use benchmark on a sandbox of the desktop snapshot
 * (shoal/desktop:1), each row beside a floor doing the same work inside the same sandbox, sampled interleaved.
 *
 * 1. Desktop start: `computerUse.start()` then `getStatus()` until "active" (what an SDK user waits for), the desktop
 *    stopped untimed between samples. Floor: one `executeCommand` that starts the same programs with the same
 *    arguments on another display and ports (Xvfb, waiting until it answers, then openbox, x11vnc and websockify),
 *    killed untimed between samples: the programs' own start-up plus one toolbox round trip.
 * 2. Screenshot, full screen PNG: `screenshot.takeFullScreen()`. Floor: `executeCommand` of the same ImageMagick
 *    capture of the same display, base64 to stdout: the capture and encoding plus one toolbox round trip carrying the
 *    same bytes.
 * 3. Screenshot, compressed (JPEG, quality 60, half scale): `takeCompressed`; floor: the same convert options.
 *
 * The first run builds the desktop image (minutes); set SHOAL_IMAGE_CACHE_DIR to reuse a cache across runs.
 * Options: --starts N (default 10), --shots N (default 30). Needs root and the platform's prerequisites.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Daytona, type Sandbox } from '@daytonaio/sdk';
import { DESKTOP_SNAPSHOT } from '@shoal/contracts';
import { freePort, startPlatform } from '@shoal/platform';
import type { Row } from './platform-bench.js';
import { renderTable } from './report.js';
import { interleave, summarize, timed } from './stats.js';

const args = process.argv.slice(2);
const num = (flag: string, dflt: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : dflt);
const starts = num('--starts', 10);
const shots = num('--shots', 30);

/** The desktop the toolbox starts (apps/toolbox/src/computer-use/desktop.service.ts), on display :1 and other ports. */
const FLOOR_START = [
  'Xvfb :1 -screen 0 1024x768x24 -nolisten tcp -ac >/dev/null 2>&1 &',
  'until DISPLAY=:1 xdpyinfo >/dev/null 2>&1; do sleep 0.05; done',
  'DISPLAY=:1 setsid openbox --sm-disable >/dev/null 2>&1 &',
  'setsid x11vnc -display :1 -forever -shared -nopw -localhost -rfbport 5902 -noxdamage >/dev/null 2>&1 &',
  'setsid websockify --web /usr/share/novnc 6081 localhost:5902 >/dev/null 2>&1 &',
  'echo started',
].join('\n');
const FLOOR_STOP = "pkill -f 'Xvfb :1 ' ; pkill -f 'rfbport 5902' ; pkill -f 'websockify --web /usr/share/novnc 6081' ; pkill -f 'openbox --sm-disable' ; sleep 0.2; true";

async function waitStatus(sb: Sandbox, want: string): Promise<void> {
  const end = Date.now() + 60_000;
  while ((await sb.computerUse.getStatus()).status !== want) {
    if (Date.now() > end) throw new Error(`desktop never became ${want}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const scratch = await mkdtemp('/var/tmp/shoal-bench-cu-');
  console.log(`bench: starting a platform in ${scratch}`);
  const platform = await startPlatform({
    dataDir: join(scratch, 'platform'),
    apiPort: await freePort(),
    bridgePrefix: 'shbcu',
    preferWellKnownPorts: false,
    subnetOctet: 233,
    imageCacheDir: process.env.SHOAL_IMAGE_CACHE_DIR ?? join(scratch, 'image-cache'),
    extraApiEnv: { SHOAL_DESKTOP_SNAPSHOT: '1' },
    log: process.env.SHOAL_BENCH_VERBOSE ? (l) => console.log(l) : () => undefined,
  }).catch(async (err: unknown) => {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  });
  const rows: Row[] = [];
  let sb: Sandbox | undefined;
  try {
    const daytona = new Daytona({ apiUrl: platform.apiUrl, apiKey: platform.apiKey, target: 'us' });
    const [createMs, created] = await timed(() => daytona.create({ snapshot: DESKTOP_SNAPSHOT }, { timeout: 3600 }));
    sb = created;
    const sandbox = created;
    console.log(`bench: sandbox from ${DESKTOP_SNAPSHOT} in ${(createMs / 1000).toFixed(1)} s (includes building the image on a cold cache)`);
    // Warm-up, untimed: the first start pays for page-cache misses on the image's programs on both sides alike.
    await sandbox.computerUse.start();
    await waitStatus(sandbox, 'active');
    await sandbox.computerUse.stop();
    await sandbox.process.executeCommand(FLOOR_START);
    await sandbox.process.executeCommand(FLOOR_STOP);

    console.log(`bench: desktop start, ${starts} x (computerUse.start, floor) interleaved`);
    const start = await interleave(
      starts,
      async () => {
        const [ms] = await timed(async () => {
          await sandbox.computerUse.start();
          await waitStatus(sandbox, 'active');
        });
        await sandbox.computerUse.stop();
        await waitStatus(sandbox, 'inactive');
        return ms;
      },
      async () => {
        const [ms, r] = await timed(() => sandbox.process.executeCommand(FLOOR_START));
        if (r.exitCode !== 0 || !r.result.includes('started')) throw new Error(`floor start failed: ${r.result}`);
        await sandbox.process.executeCommand(FLOOR_STOP);
        return ms;
      },
    );
    rows.push({ name: 'desktop start (start -> status active)', unit: 'ms', value: summarize(start.first), floor: summarize(start.second), floorName: 'same programs via one executeCommand' });

    await sandbox.computerUse.start();
    await waitStatus(sandbox, 'active');
    console.log(`bench: screenshots, ${shots} x (SDK, floor) interleaved per kind`);
    const full = await interleave(
      shots,
      async () => (await timed(() => sandbox.computerUse.screenshot.takeFullScreen()))[0],
      async () => (await timed(() => sandbox.process.executeCommand('DISPLAY=:0 convert x:root png:- | base64 -w0')))[0],
    );
    rows.push({ name: 'screenshot full PNG', unit: 'ms', value: summarize(full.first), floor: summarize(full.second), floorName: 'convert x:root png:- piped to base64 via executeCommand' });
    const jpeg = await interleave(
      shots,
      async () => (await timed(() => sandbox.computerUse.screenshot.takeCompressed({ format: 'jpeg', quality: 60, scale: 0.5 })))[0],
      async () => (await timed(() => sandbox.process.executeCommand('DISPLAY=:0 convert x:root -resize 50% -quality 60 jpeg:- | base64 -w0')))[0],
    );
    rows.push({ name: 'screenshot JPEG q60 scale 0.5', unit: 'ms', value: summarize(jpeg.first), floor: summarize(jpeg.second), floorName: 'same convert via executeCommand' });
    await sandbox.computerUse.stop();
  } finally {
    if (sb) await sb.delete().catch(() => undefined);
    await platform.stop();
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
  console.log('');
  console.log(renderTable(rows));
  console.log('note: both sides of each row run in the same sandbox of the desktop snapshot, through the same API and toolbox proxy.');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
