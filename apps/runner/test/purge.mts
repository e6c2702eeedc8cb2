// Removes everything a (crashed) test or dev runner left behind: `node --import tsx apps/runner/test/purge.ts <dataDir> <bridge> <subnet>`.
import { destroyRunner, startRunner } from './helpers.js';

const [dataDir, bridge, subnet] = process.argv.slice(2);
if (!dataDir || !bridge || !subnet) {
  console.error('usage: purge.ts <dataDir> <bridge> <subnet>');
  process.exit(2);
}
const t = await startRunner({ SHOAL_RUNNER_DATA_DIR: dataDir, SHOAL_RUNNER_BRIDGE: bridge, SHOAL_RUNNER_SUBNET: subnet });
await destroyRunner(t);
console.log(`purged ${dataDir} (${bridge})`);
