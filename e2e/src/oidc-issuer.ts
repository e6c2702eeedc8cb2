// The test OIDC issuer (oidc-provider on loopback) for e2e files; one implementation, kept with the API's test helpers.
export { startTestIssuer, type BrowserClientOptions, type TestAccount, type TestIssuer } from '../../apps/api/test/helpers/oidc-issuer.js';
