import { loadGatewayConfig } from './config.js';
import { startGateway } from './server.js';

const gateway = await startGateway(loadGatewayConfig());
const stop = () => {
  void gateway.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
