import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.js';

test('shoal up hands the OIDC, audit, webhook, metrics, warm pool and credential cache settings to the API, and nothing else of the environment', () => {
  const config = loadConfig({
    SHOAL_OIDC_ISSUER: 'https://issuer.test',
    SHOAL_OIDC_AUDIENCE: 'shoal',
    SHOAL_AUDIT_RETENTION_DAYS: '30',
    SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    SHOAL_METRICS: 'off',
    SHOAL_METRICS_TOKEN: 'm-token',
    SHOAL_WARM_POOL_SIZE: '3',
    SHOAL_CREDENTIAL_CACHE_TTL_MS: '0',
    SHOAL_DATA_DIR: '/srv/shoal',
    DATABASE_URL: 'postgres://x',
    AWS_SECRET_ACCESS_KEY: 'secret',
    SHOAL_PLATFORM_SECRET: 'platform',
  });
  assert.deepEqual(config.apiSettings, {
    SHOAL_OIDC_ISSUER: 'https://issuer.test',
    SHOAL_OIDC_AUDIENCE: 'shoal',
    SHOAL_AUDIT_RETENTION_DAYS: '30',
    SHOAL_WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    SHOAL_METRICS: 'off',
    SHOAL_METRICS_TOKEN: 'm-token',
    SHOAL_WARM_POOL_SIZE: '3',
    SHOAL_CREDENTIAL_CACHE_TTL_MS: '0',
  });
});
