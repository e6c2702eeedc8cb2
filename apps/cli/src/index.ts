export { parseArgs } from './args.js';
export { exitCodeFor, messageOf, EXIT } from './errors.js';
