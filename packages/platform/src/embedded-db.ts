export { startEmbeddedPostgres } from '@shoal/postgres';

/** The embedded server's credentials as startEmbeddedPostgres sets them when the platform starts it (user/password defaults). */
export const EMBEDDED_DEFAULTS = {
  urlFor: (port: number, database: string) => `postgres://shoal:shoal@127.0.0.1:${port}/${encodeURIComponent(database)}`,
};
