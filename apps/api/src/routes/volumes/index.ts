import createVolume from './create-volume.js';
import deleteVolume from './delete-volume.js';
import getVolumeByName from './get-volume-by-name.js';
import getVolume from './get-volume.js';
import listVolumes from './list-volumes.js';
import { VolumeDto } from './volume-schemas.js';

export const volumeRoutes = [listVolumes, createVolume, getVolume, getVolumeByName, deleteVolume];
/** Registered with app.addSchema so responses can name them. */
export const volumeSchemas = [VolumeDto];
