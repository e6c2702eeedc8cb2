import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.js';
import { looksLikeJwt } from '../src/auth/oidc.js';
import { generateSshKeyPair, UserKeyPairs } from '../src/auth/user-key-pair.js';

const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1/db' };

test('OIDC settings: off by default, the issuer needs an audience, partial or malformed settings are refused', () => {
  assert.equal(loadConfig(base).oidc, undefined);
  assert.deepEqual(loadConfig({ ...base, SHOAL_OIDC_ISSUER: 'https://id.example.com/', SHOAL_OIDC_AUDIENCE: 'api' }).oidc, {
    issuer: 'https://id.example.com',
    audience: 'api',
    clientId: 'api',
  });
  assert.equal(loadConfig({ ...base, SHOAL_OIDC_ISSUER: 'https://id.example.com', SHOAL_OIDC_AUDIENCE: 'api', SHOAL_OIDC_CLIENT_ID: 'spa' }).oidc?.clientId, 'spa');
  assert.throws(() => loadConfig({ ...base, SHOAL_OIDC_ISSUER: 'https://id.example.com' }), /SHOAL_OIDC_ISSUER needs SHOAL_OIDC_AUDIENCE/);
  assert.throws(() => loadConfig({ ...base, SHOAL_OIDC_ISSUER: 'id.example.com', SHOAL_OIDC_AUDIENCE: 'api' }), /must be an http\(s\):\/\/ URL/);
  assert.throws(() => loadConfig({ ...base, SHOAL_OIDC_AUDIENCE: 'api' }), /need SHOAL_OIDC_ISSUER/);
});

test('only compact JWS-shaped tokens are tried as JWTs (API keys and runner tokens never are)', () => {
  assert.equal(looksLikeJwt('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'), true);
  assert.equal(looksLikeJwt(`dtn_${'ab'.repeat(32)}`), false);
  assert.equal(looksLikeJwt('a.b'), false);
  assert.equal(looksLikeJwt('a.b.c.d.e'), false);
});

test('user key pairs: an OpenSSH ed25519 public key; the sealed private key opens only for its user and secret', () => {
  const { publicKey, privateKey } = generateSshKeyPair();
  assert.match(publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+ shoal$/);
  assert.match(privateKey, /^-----BEGIN PRIVATE KEY-----/);
  const pairs = new UserKeyPairs('x'.repeat(40));
  const stored = pairs.generate('u1');
  assert.doesNotMatch(stored.sealedPrivateKey, /PRIVATE KEY/);
  assert.match(pairs.open('u1', stored), /^-----BEGIN PRIVATE KEY-----/);
  assert.throws(() => pairs.open('u2', stored));
  assert.throws(() => new UserKeyPairs('y'.repeat(40)).open('u1', stored));
});
