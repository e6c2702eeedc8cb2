import { stat } from 'node:fs';

/** libuv threads for the daemon's file work: sandboxes get one or two CPUs, and each idle thread costs memory. */
const OWN_THREADPOOL_SIZE = '2';

/**
 * libuv sizes its pool from UV_THREADPOOL_SIZE when the first work is queued, and the daemon's environment is what
 * user commands inherit (config.ts, childEnvironment). So the variable is set only while one stat is queued, which
 * starts the pool at the daemon's size, and the user's value (or its absence) is put back at once.
 */
export function startThreadPool(): void {
  // eslint-disable-next-line no-restricted-properties -- libuv reads this variable, not a setting of the daemon's config
  const env = process.env;
  const users = env.UV_THREADPOOL_SIZE;
  env.UV_THREADPOOL_SIZE = OWN_THREADPOOL_SIZE;
  try {
    stat('/', () => undefined);
  } finally {
    if (users === undefined) delete env.UV_THREADPOOL_SIZE;
    else env.UV_THREADPOOL_SIZE = users;
  }
}
