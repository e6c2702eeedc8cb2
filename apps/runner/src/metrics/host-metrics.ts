import { readFile, statfs } from 'node:fs/promises';
import type { RunnerMetrics } from '@shoal/contracts';
import type { ImageStore } from '../images/image-store.js';
import type { SandboxService } from '../sandbox/sandbox.service.js';
import { launchMetrics } from './launch-metrics.js';

/** Host usage and allocation figures for `/info` and `/metrics`. CPU usage is measured between two calls. */
export class HostMetrics {
  private lastCpu?: { idle: number; total: number };
  private lastCpuPct = 0;

  constructor(
    private readonly dataDir: string,
    private readonly sandboxes: SandboxService,
    private readonly images: ImageStore,
  ) {}

  private async cpuPercent(): Promise<number> {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const v = line.split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    if (this.lastCpu && total > this.lastCpu.total) {
      this.lastCpuPct = (1 - (idle - this.lastCpu.idle) / (total - this.lastCpu.total)) * 100;
    }
    this.lastCpu = { idle, total };
    return round(this.lastCpuPct);
  }

  async collect(): Promise<RunnerMetrics> {
    const mem = await readFile('/proc/meminfo', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(mem)?.[1] ?? 0);
    const memTotal = kb('MemTotal');
    const fs = await statfs(this.dataDir);
    const started = this.sandboxes.all().filter((s) => s.state === 'started');
    return {
      currentCpuUsagePercentage: await this.cpuPercent(),
      currentMemoryUsagePercentage: memTotal ? round(((memTotal - kb('MemAvailable')) / memTotal) * 100) : 0,
      currentDiskUsagePercentage: fs.blocks ? round(((fs.blocks - fs.bavail) / fs.blocks) * 100) : 0,
      currentAllocatedCpu: started.reduce((a, s) => a + s.meta.cpu, 0),
      currentAllocatedMemoryGiB: started.reduce((a, s) => a + s.meta.memoryGiB, 0),
      currentAllocatedDiskGiB: started.reduce((a, s) => a + s.meta.diskGiB, 0),
      currentSnapshotCount: this.images.count(),
      currentStartedSandboxes: started.length,
      currentImageDiskBytes: this.images.diskBytes(),
    };
  }

  async prometheus(): Promise<string> {
    const m = await this.collect();
    const byState = new Map<string, number>();
    for (const s of this.sandboxes.all()) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
    const queue = this.sandboxes.startQueue;
    const lines = [
      '# HELP shoal_runner_cpu_usage_percent Host CPU usage.',
      '# TYPE shoal_runner_cpu_usage_percent gauge',
      `shoal_runner_cpu_usage_percent ${m.currentCpuUsagePercentage}`,
      '# HELP shoal_runner_memory_usage_percent Host memory usage.',
      '# TYPE shoal_runner_memory_usage_percent gauge',
      `shoal_runner_memory_usage_percent ${m.currentMemoryUsagePercentage}`,
      '# HELP shoal_runner_disk_usage_percent Usage of the filesystem holding the data directory.',
      '# TYPE shoal_runner_disk_usage_percent gauge',
      `shoal_runner_disk_usage_percent ${m.currentDiskUsagePercentage}`,
      '# HELP shoal_runner_allocated_cpu CPUs allocated to started sandboxes.',
      '# TYPE shoal_runner_allocated_cpu gauge',
      `shoal_runner_allocated_cpu ${m.currentAllocatedCpu}`,
      '# HELP shoal_runner_allocated_memory_gib Memory allocated to started sandboxes.',
      '# TYPE shoal_runner_allocated_memory_gib gauge',
      `shoal_runner_allocated_memory_gib ${m.currentAllocatedMemoryGiB}`,
      '# HELP shoal_runner_allocated_disk_gib Disk allocated to started sandboxes.',
      '# TYPE shoal_runner_allocated_disk_gib gauge',
      `shoal_runner_allocated_disk_gib ${m.currentAllocatedDiskGiB}`,
      '# HELP shoal_runner_snapshots Images unpacked on this runner.',
      '# TYPE shoal_runner_snapshots gauge',
      `shoal_runner_snapshots ${m.currentSnapshotCount}`,
      '# HELP shoal_runner_image_disk_bytes Disk taken by the images unpacked on this runner.',
      '# TYPE shoal_runner_image_disk_bytes gauge',
      `shoal_runner_image_disk_bytes ${m.currentImageDiskBytes ?? 0}`,
      '# HELP shoal_runner_sandboxes Sandboxes known to this runner by state.',
      '# TYPE shoal_runner_sandboxes gauge',
      ...[...byState].map(([s, n]) => `shoal_runner_sandboxes{state="${s}"} ${n}`),
      '# HELP shoal_runner_starts_active Sandbox starts running now (at most SHOAL_RUNNER_MAX_CONCURRENT_STARTS).',
      '# TYPE shoal_runner_starts_active gauge',
      `shoal_runner_starts_active ${queue.active}`,
      '# HELP shoal_runner_starts_waiting Sandbox starts waiting for a slot in the admission queue, and spares for the next ones waiting for it or for a pause in requests.',
      '# TYPE shoal_runner_starts_waiting gauge',
      `shoal_runner_starts_waiting ${queue.waiting}`,
    ];
    // Container start timings (prom-client) follow the hand-written host figures.
    return lines.join('\n') + '\n' + (await launchMetrics.text());
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
