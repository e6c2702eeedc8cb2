export { build, type AppDeps, type ShoalApp } from './app.js';
export { startApi, type RunningApi } from './server.js';
export { loadConfig, type ApiConfig } from './config.js';
export { createPool, createDb } from './db/database.js';
export { applyMigrations, withMigrationLock } from './db/migrate.js';
export { bootstrap, writeCredentials, ADMIN_USER_ID } from './db/bootstrap.js';
