import { VOLUME_ID_RE } from '@shoal/contracts';
import { Errors } from '../errors.js';
import type { VolumeDriver } from './driver.js';

/** The runner's part of deleting a volume: its data on this host goes, unless a sandbox here still mounts it (409). */
export async function removeVolume(driver: VolumeDriver | undefined, volumeId: string): Promise<void> {
  if (!VOLUME_ID_RE.test(volumeId)) throw Errors.badRequest(`Invalid volumeId "${volumeId}": 1-64 characters of [A-Za-z0-9-]`);
  if (!driver) return;
  if (!(await driver.remove(volumeId))) throw Errors.conflict(`Volume ${volumeId} is mounted by a sandbox on this host`);
}
