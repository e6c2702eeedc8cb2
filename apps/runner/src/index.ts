export { build, type AppDeps } from './app.js';
export { loadConfig, type RunnerConfig } from './config.js';
export { createRunner, type Runner } from './runner.js';
