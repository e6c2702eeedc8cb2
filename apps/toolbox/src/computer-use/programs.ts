import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The desktop is made of Debian programs the image provides (see the desktop snapshot); the toolbox only drives them.
 * The system directories are searched before the user's PATH so that a wrapper earlier on PATH (a shell shim named
 * `convert`, say) is not what the daemon captures the screen with.
 */
export interface DesktopPrograms {
  xvfb?: string;
  windowManager?: string;
  x11vnc?: string;
  websockify?: string;
  xdotool?: string;
  convert?: string;
  wmctrl?: string;
  /** x11-utils: absolute window geometry (xdotool's is off by the frame under a reparenting window manager). */
  xwininfo?: string;
  /** noVNC's web root, served by websockify. */
  novncWeb?: string;
}

/** Without these the routes cannot work at all, and every computer-use route answers the "not available" error. */
export const REQUIRED: (keyof DesktopPrograms)[] = ['xvfb', 'xdotool', 'convert'];

const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin'];

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findProgram(names: string[], envPath: string | undefined): string | undefined {
  const dirs = [...SYSTEM_DIRS, ...(envPath ?? '').split(delimiter).filter((d) => d.startsWith('/'))];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (executable(candidate)) return candidate;
    }
  }
  return undefined;
}

function directory(path: string): string | undefined {
  try {
    return statSync(path).isDirectory() ? path : undefined;
  } catch {
    return undefined;
  }
}

export function locatePrograms(envPath: string | undefined): DesktopPrograms {
  return {
    xvfb: findProgram(['Xvfb'], envPath),
    // The reference runs xfce4; any EWMH window manager the image has does the same job for the SDK.
    windowManager: findProgram(['openbox', 'xfwm4', 'fluxbox', 'icewm', 'twm'], envPath),
    x11vnc: findProgram(['x11vnc'], envPath),
    websockify: findProgram(['websockify'], envPath),
    xdotool: findProgram(['xdotool'], envPath),
    convert: findProgram(['convert'], envPath),
    wmctrl: findProgram(['wmctrl'], envPath),
    xwininfo: findProgram(['xwininfo'], envPath),
    novncWeb: directory('/usr/share/novnc'),
  };
}

export function missingRequired(programs: DesktopPrograms): string[] {
  const names: Record<string, string> = { xvfb: 'Xvfb (xvfb)', xdotool: 'xdotool', convert: 'convert (imagemagick)' };
  return REQUIRED.filter((k) => !programs[k]).map((k) => names[k] ?? k);
}
