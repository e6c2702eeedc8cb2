// Key minting and the credentials file live in the API (one place mints keys); the supervisor and the CLI reuse them.
export { adminOrganizationId, apiKeyExists, generateApiKey, mintAdminApiKey, writeCredentials, type Queryable } from '@shoal/api/admin-key';
