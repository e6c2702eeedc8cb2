/**
 * Where a volume's files live on this host and how one sandbox gets them. The launcher gives each mounted volume of a
 * sandbox an empty, runner-owned staging directory; the driver attaches the volume (or its subpath) there, seen by
 * the sandbox's uid range as its own, and the runtime binds that directory at the mount path inside the rootfs.
 */
export interface VolumeAttach {
  volumeId: string;
  /** Already checked by parseVolumeMounts; still resolved without following anything the volume holds. */
  subpath?: string;
  sandboxId: string;
  /** Host uid/gid of the sandbox's root (container id 0). */
  uidBase: number;
  /** Empty directory owned by the runner where the volume is attached. */
  target: string;
}

export interface VolumeDriver {
  readonly kind: 'local' | 's3';
  /** One line for the runner's start log: what the driver does here. */
  readonly description: string;
  init(): Promise<void>;
  /** Attaches the volume at `target` (creating the volume's storage on first use). */
  attach(a: VolumeAttach): Promise<void>;
  /** Undoes attach() once `target` is no longer mounted by the caller (shared host state the volume needs goes when unused). */
  detach(volumeId: string, target: string): Promise<void>;
  /** Whether any sandbox on this host has the volume attached. */
  inUse(volumeId: string): Promise<boolean>;
  /** Deletes the volume's data this driver keeps on this host; false (nothing changed) while a sandbox uses it. */
  remove(volumeId: string): Promise<boolean>;
  /** Releases host state no sandbox uses any more (runner shutdown). */
  close(): Promise<void>;
}
