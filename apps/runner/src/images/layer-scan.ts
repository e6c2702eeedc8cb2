import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LayerLimits {
  maxFiles: number;
  maxUnpackedBytes: number;
}

export interface LayerScan {
  entries: number;
  bytes: number;
  devices: number;
}

/**
 * Lists every layer of the image `img` in the OCI layout `oci` (GNU tar -t only reads; it decompresses gzip on its
 * own) and refuses, before anything is unpacked, an image whose layers hold more entries or more bytes than the limits:
 * a tar bomb must not get to create its files.
 */
export async function scanLayers(oci: string, limits: LayerLimits): Promise<LayerScan | string> {
  const blob = async (digest: string) => JSON.parse(await readFile(join(oci, 'blobs', ...digest.split(':')), 'utf8')) as unknown;
  const index = JSON.parse(await readFile(join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = (await blob(index.manifests[0]!.digest)) as { layers?: { digest: string }[] };
  const total: LayerScan = { entries: 0, bytes: 0, devices: 0 };
  for (const layer of manifest.layers ?? []) {
    if (!/^sha256:[a-f0-9]{64}$/.test(layer.digest)) return `layer digest ${layer.digest} is malformed`;
    const verdict = await listLayer(join(oci, 'blobs', ...layer.digest.split(':')), total, limits);
    if (verdict) return verdict;
  }
  return total;
}

function listLayer(path: string, total: LayerScan, limits: LayerLimits): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('tar', ['--numeric-owner', '-tvf', path], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let verdict: string | undefined;
    let partial = '';
    let stderr = '';
    const stop = (why: string) => {
      if (verdict) return;
      verdict = why;
      child.kill('SIGKILL');
    };
    child.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        total.entries++;
        // "-rw-r--r-- 0/0 1234 2024-01-01 00:00 name": the size is the third field (major,minor for devices).
        if (line[0] === 'b' || line[0] === 'c') total.devices++;
        else total.bytes += Number(line.split(/\s+/)[2]) || 0;
        if (total.entries > limits.maxFiles) return stop(`the image has more than the ${limits.maxFiles} files this runner accepts`);
        if (total.bytes > limits.maxUnpackedBytes) return stop(`the image holds more than the ${limits.maxUnpackedBytes} bytes this runner accepts unpacked`);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString('utf8');
    });
    child.on('error', (err) => stop(`could not list a layer: ${err.message}`));
    child.on('close', (code) => {
      if (!verdict && code !== 0) verdict = `a layer is not a readable tar archive: ${stderr.trim().split('\n').pop() ?? `tar exited with ${code}`}`;
      resolve(verdict);
    });
  });
}
