export * from './error.js';
export * from './runner.js';
export * from './sandbox-state.js';
export * from './toolbox.js';
export * from './runner-auth.js';
export * from './network-allow-list.js';
export * from './registry-auth.js';
export * from './object-storage.js';
