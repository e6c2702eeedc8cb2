import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The id of the request whose work is running (route handlers and what they start), so calls to runners send it on
 * as X-Request-Id whether or not tracing is on.
 */
const store = new AsyncLocalStorage<string>();

export function runWithRequestId<T>(id: string | undefined, fn: () => T): T {
  return id === undefined ? fn() : store.run(id, fn);
}

export function currentRequestId(): string | undefined {
  return store.getStore();
}
