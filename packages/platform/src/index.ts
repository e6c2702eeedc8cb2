export * from './managed-process.js';
export * from './ports.js';
export * from './registry.js';
export * from './platform.js';
export { ensureTraversable } from '@shoal/postgres';
export { resetCredentials, readCredentials, CREDENTIALS, type ResetResult } from './credentials.js';
export * from './objects.js';
export { SERVICE_NODE_FLAGS } from './service-node-flags.js';
