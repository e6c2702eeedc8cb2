export { startGateway, type RunningGateway } from './server.js';
export { loadGatewayConfig, type GatewayConfig } from './config.js';
export { loadOrCreateHostKey, HOST_KEY_FILE, type HostKey } from './host-key.js';
export { FailureLimiter } from './rate-limit.js';
