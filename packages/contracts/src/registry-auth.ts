/*
 * Shoal's internal registry authenticates with the Docker token protocol: the registry (configured by the platform)
 * and the API (the token server) must agree on these names.
 */

/** The `service` of the registry's token auth: the audience of every token the API signs. */
export const REGISTRY_TOKEN_SERVICE = 'shoal-registry';
/** The `issuer` the registry accepts. */
export const REGISTRY_TOKEN_ISSUER = 'shoal-api';
/** Path of the token endpoint under the API's public URL (the registry's `realm`). */
export const REGISTRY_TOKEN_PATH = '/api/registry/token';
/** The user name runners present; their password is their runner token. */
export const RUNNER_REGISTRY_USERNAME = 'runner';
