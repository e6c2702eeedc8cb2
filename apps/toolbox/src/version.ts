/** Reported by `GET /version`; the runner only checks that the daemon answers. */
export const TOOLBOX_VERSION = '0.1.0';
