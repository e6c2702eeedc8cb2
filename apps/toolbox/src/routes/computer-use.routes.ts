import {
  KeyboardHotkeyRequest,
  KeyboardPressRequest,
  KeyboardTypeRequest,
  MouseClickRequest,
  MouseDragRequest,
  MouseMoveRequest,
  MouseScrollRequest,
} from '@shoal/contracts';
import type { DesktopService } from '../computer-use/desktop.service.js';
import type { InputService } from '../computer-use/input.service.js';
import type { ScreenService } from '../computer-use/screen.service.js';
import type { Router } from '../http/router.js';

export interface ComputerUseServices {
  desktop: DesktopService;
  input: InputService;
  screen: ScreenService;
}

/** The desktop's processes: start, stop, status and per-process status, logs, errors and restart. */
function registerDesktopRoutes(router: Router, desktop: DesktopService): void {
  router.add({ method: 'POST', path: '/computeruse/start', operation: 'startComputerUse', handler: async () => ({ status: 200, json: await desktop.start() }) });
  router.add({ method: 'POST', path: '/computeruse/stop', operation: 'stopComputerUse', handler: async () => ({ status: 200, json: await desktop.stop() }) });
  router.add({
    method: 'GET',
    path: '/computeruse/status',
    operation: 'getComputerUseStatus',
    handler: async () => {
      desktop.requireAvailable();
      return { status: 200, json: { status: desktop.status() } };
    },
  });
  router.add({
    method: 'GET',
    path: '/computeruse/process-status',
    operation: 'getComputerUseProcessStatus',
    handler: async () => {
      desktop.requireAvailable();
      return { status: 200, json: desktop.processStatus() };
    },
  });
  router.add({
    method: 'GET',
    path: '/computeruse/process/:name/status',
    operation: 'getProcessStatus',
    handler: async ({ params }) => ({ status: 200, json: { processName: params.name, running: desktop.process(params.name!)?.running ?? false } }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/process/:name/restart',
    operation: 'restartProcess',
    handler: async ({ params }) => ({ status: 200, json: await desktop.restart(params.name!) }),
  });
  router.add({
    method: 'GET',
    path: '/computeruse/process/:name/logs',
    operation: 'getProcessLogs',
    handler: async ({ params }) => ({ status: 200, json: { processName: params.name, logs: desktop.process(params.name!)?.logs.text() ?? '' } }),
  });
  router.add({
    method: 'GET',
    path: '/computeruse/process/:name/errors',
    operation: 'getProcessErrors',
    handler: async ({ params }) => ({ status: 200, json: { processName: params.name, errors: desktop.process(params.name!)?.errors.text() ?? '' } }),
  });
}

function registerInputRoutes(router: Router, input: InputService): void {
  router.add({ method: 'GET', path: '/computeruse/mouse/position', operation: 'getMousePosition', handler: async () => ({ status: 200, json: await input.position() }) });
  router.add({
    method: 'POST',
    path: '/computeruse/mouse/move',
    operation: 'moveMouse',
    body: MouseMoveRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.move(body) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/mouse/click',
    operation: 'clickMouse',
    body: MouseClickRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.click(body) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/mouse/drag',
    operation: 'dragMouse',
    body: MouseDragRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.drag(body) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/mouse/scroll',
    operation: 'scrollMouse',
    body: MouseScrollRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.scroll(body) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/keyboard/type',
    operation: 'typeText',
    body: KeyboardTypeRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.type(body.text, body.delay) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/keyboard/key',
    operation: 'pressKey',
    body: KeyboardPressRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.press(body.key, body.modifiers) }),
  });
  router.add({
    method: 'POST',
    path: '/computeruse/keyboard/hotkey',
    operation: 'pressHotkey',
    body: KeyboardHotkeyRequest,
    handler: async ({ body }) => ({ status: 200, json: await input.hotkey(body.keys) }),
  });
}

function registerScreenRoutes(router: Router, screen: ScreenService): void {
  const shots: [path: string, operation: string, kind: { region: boolean; compressed: boolean }][] = [
    ['/computeruse/screenshot', 'takeScreenshot', { region: false, compressed: false }],
    ['/computeruse/screenshot/region', 'takeRegionScreenshot', { region: true, compressed: false }],
    ['/computeruse/screenshot/compressed', 'takeCompressedScreenshot', { region: false, compressed: true }],
    ['/computeruse/screenshot/region/compressed', 'takeCompressedRegionScreenshot', { region: true, compressed: true }],
  ];
  for (const [path, operation, kind] of shots) {
    router.add({ method: 'GET', path, operation, handler: async ({ query }) => ({ status: 200, json: await screen.screenshot(query, kind) }) });
  }
  router.add({ method: 'GET', path: '/computeruse/display/info', operation: 'getDisplayInfo', handler: async () => ({ status: 200, json: await screen.displayInfo() }) });
  router.add({ method: 'GET', path: '/computeruse/display/windows', operation: 'getWindows', handler: async () => ({ status: 200, json: await screen.windows() }) });
}

/** Computer use: the desktop's processes, mouse and keyboard, screenshots, displays and windows. */
export function registerComputerUseRoutes(router: Router, services: ComputerUseServices): void {
  registerDesktopRoutes(router, services.desktop);
  registerInputRoutes(router, services.input);
  registerScreenRoutes(router, services.screen);
}
