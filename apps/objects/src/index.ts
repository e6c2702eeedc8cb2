export { ObjectServer, type ObjectServerOptions, type RunningObjectServer } from './server.js';
export { loadObjectsConfig, objectsRoot } from './config.js';
