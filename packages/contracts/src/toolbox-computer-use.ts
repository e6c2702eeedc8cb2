/*
 * Computer-use DTOs of the toolbox API (desktop, mouse, keyboard, screenshots), as the SDK sends and reads them.
 * Coordinates are screen pixels from the top-left corner.
 */
import { Type, type Static } from '@sinclair/typebox';

export const MouseMoveRequest = Type.Object({ x: Type.Integer(), y: Type.Integer() });
export type MouseMoveRequest = Static<typeof MouseMoveRequest>;

export const MouseClickRequest = Type.Object({
  x: Type.Integer(),
  y: Type.Integer(),
  button: Type.Optional(Type.String()),
  double: Type.Optional(Type.Boolean()),
});
export type MouseClickRequest = Static<typeof MouseClickRequest>;

export const MouseDragRequest = Type.Object({
  startX: Type.Integer(),
  startY: Type.Integer(),
  endX: Type.Integer(),
  endY: Type.Integer(),
  button: Type.Optional(Type.String()),
});
export type MouseDragRequest = Static<typeof MouseDragRequest>;

export const MouseScrollRequest = Type.Object({
  x: Type.Integer(),
  y: Type.Integer(),
  direction: Type.String(),
  amount: Type.Optional(Type.Integer()),
});
export type MouseScrollRequest = Static<typeof MouseScrollRequest>;

/** Where the pointer is (also the answer of move, click and drag: the pointer's position afterwards). */
export const MousePosition = Type.Object({ x: Type.Integer(), y: Type.Integer() });
export type MousePosition = Static<typeof MousePosition>;

export const MouseScrollResponse = Type.Object({ success: Type.Boolean() });
export type MouseScrollResponse = Static<typeof MouseScrollResponse>;

export const KeyboardTypeRequest = Type.Object({ text: Type.String(), delay: Type.Optional(Type.Integer({ minimum: 0 })) });
export type KeyboardTypeRequest = Static<typeof KeyboardTypeRequest>;

export const KeyboardPressRequest = Type.Object({ key: Type.String({ minLength: 1 }), modifiers: Type.Optional(Type.Array(Type.String())) });
export type KeyboardPressRequest = Static<typeof KeyboardPressRequest>;

export const KeyboardHotkeyRequest = Type.Object({ keys: Type.String({ minLength: 1 }) });
export type KeyboardHotkeyRequest = Static<typeof KeyboardHotkeyRequest>;

export const ComputerUseStartResponse = Type.Object({ message: Type.String(), status: Type.Record(Type.String(), Type.Unknown()) });
export type ComputerUseStartResponse = Static<typeof ComputerUseStartResponse>;

export const ComputerUseStopResponse = Type.Object({ message: Type.String(), status: Type.Record(Type.String(), Type.Unknown()) });
export type ComputerUseStopResponse = Static<typeof ComputerUseStopResponse>;

export const ComputerUseStatusResponse = Type.Object({
  status: Type.Union([Type.Literal('active'), Type.Literal('partial'), Type.Literal('inactive'), Type.Literal('error')]),
});
export type ComputerUseStatusResponse = Static<typeof ComputerUseStatusResponse>;

export const ProcessStatusResponse = Type.Object({ processName: Type.String(), running: Type.Boolean() });
export type ProcessStatusResponse = Static<typeof ProcessStatusResponse>;

export const ProcessLogsResponse = Type.Object({ processName: Type.String(), logs: Type.String() });
export type ProcessLogsResponse = Static<typeof ProcessLogsResponse>;

export const ProcessErrorsResponse = Type.Object({ processName: Type.String(), errors: Type.String() });
export type ProcessErrorsResponse = Static<typeof ProcessErrorsResponse>;

export const ProcessRestartResponse = Type.Object({ message: Type.String(), processName: Type.String() });
export type ProcessRestartResponse = Static<typeof ProcessRestartResponse>;

/** A screenshot as base64-encoded image bytes. */
export const ScreenshotResponse = Type.Object({
  screenshot: Type.String(),
  cursorPosition: Type.Optional(MousePosition),
  sizeBytes: Type.Optional(Type.Integer()),
});
export type ScreenshotResponse = Static<typeof ScreenshotResponse>;

export const DisplayInfoResponse = Type.Object({ displays: Type.Array(Type.Record(Type.String(), Type.Unknown())) });
export type DisplayInfoResponse = Static<typeof DisplayInfoResponse>;

export const WindowsResponse = Type.Object({ windows: Type.Array(Type.Record(Type.String(), Type.Unknown())), count: Type.Integer() });
export type WindowsResponse = Static<typeof WindowsResponse>;
