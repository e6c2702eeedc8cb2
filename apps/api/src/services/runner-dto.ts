import type { Runner } from '../db/schema.js';
import type { Static } from '@sinclair/typebox';
import type { RunnerDto } from '../schemas.js';

/** Never carries a token: the runner token is stored hashed, and only the create answer echoes it (see create-runner.ts). */
export function toRunnerDto(r: Runner): Static<typeof RunnerDto> {
  return {
    id: r.id,
    domain: r.domain,
    apiUrl: r.apiUrl,
    proxyUrl: r.proxyUrl,
    cpu: r.cpu,
    memory: r.memoryGib,
    disk: r.diskGib,
    gpu: r.gpu,
    gpuType: r.gpuType,
    class: r.class,
    currentCpuUsagePercentage: r.currentCpuUsagePercentage,
    currentMemoryUsagePercentage: r.currentMemoryUsagePercentage,
    currentDiskUsagePercentage: r.currentDiskUsagePercentage,
    currentAllocatedCpu: r.currentAllocatedCpu,
    currentAllocatedMemoryGiB: r.currentAllocatedMemoryGib,
    currentAllocatedDiskGiB: r.currentAllocatedDiskGib,
    currentSnapshotCount: r.currentSnapshotCount,
    availabilityScore: r.availabilityScore,
    region: r.region,
    state: r.state,
    ...(r.lastChecked ? { lastChecked: r.lastChecked.toISOString() } : {}),
    unschedulable: r.unschedulable,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    version: r.version,
  };
}
