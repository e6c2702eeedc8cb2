/**
 * Shoal's desktop snapshot (issue 14): the default image plus Debian's X server, window manager, VNC server, web VNC
 * client and Chromium, built by the runner from Debian packages on first use. The API registers it under this name
 * (when enabled) and both sides derive its image reference from the internal registry's host.
 */
export const DESKTOP_SNAPSHOT = 'shoal/desktop:1';

/** The desktop image's reference in the internal registry at `registryHost` (host:port). */
export function desktopImageRef(registryHost: string): string {
  return `${registryHost}/${DESKTOP_SNAPSHOT}`;
}
