export { buildToolbox, type ToolboxApp } from './app.js';
export type { ToolboxContext } from './context.js';
export { splitCommand } from './process/split-command.js';
