import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { hostPlatform, parseReference } from '../src/images/reference.js';
import { pullFailureReason, SkopeoError } from '../src/images/registry-client.js';

describe('image references', () => {
  it('splits host, repository, tag and digest the way registries do', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseReference('debian'), { host: 'docker.io', repository: 'library/debian', tag: 'latest', digest: undefined });
    assert.deepEqual(parseReference('python:3.12-slim'), { host: 'docker.io', repository: 'library/python', tag: '3.12-slim', digest: undefined });
    assert.deepEqual(parseReference('127.0.0.1:5100/shoal/sandbox:0.1.0'), { host: '127.0.0.1:5100', repository: 'shoal/sandbox', tag: '0.1.0', digest: undefined });
    assert.deepEqual(parseReference(`ghcr.io/a/b@${d}`), { host: 'ghcr.io', repository: 'a/b', tag: undefined, digest: d });
    assert.deepEqual(parseReference(`localhost/a:1@${d}`), { host: 'localhost', repository: 'a', tag: '1', digest: d });
    assert.deepEqual(parseReference('user/app'), { host: 'docker.io', repository: 'user/app', tag: 'latest', digest: undefined });
  });

  it('rejects what is not a reference', () => {
    for (const bad of ['', 'UPPER', 'a b', 'a:', 'a@sha256:12', 'host:5000/', '-rf/x', 'a//b', `a:${'t'.repeat(200)}`, 'x/../y']) {
      assert.equal(typeof parseReference(bad), 'string', bad);
    }
  });

  it('names the host platform as OCI indexes do', () => {
    assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(hostPlatform('ppc64'), { os: 'linux', architecture: 'ppc64le' });
  });

  it('says authentication when the registry refused the credentials', () => {
    const r = (s: string) => pullFailureReason(new SkopeoError(s), 'reg.example:5000');
    assert.match(r('reading manifest 1 in reg.example:5000/a: unauthorized: authentication required'), /^authentication to registry reg\.example:5000 failed/);
    assert.match(r('reading manifest 1 in x: manifest unknown: manifest unknown'), /^image not found/);
    assert.match(r('pinging container registry x: Get "http://x/v2/": dial tcp 127.0.0.1:1: connect: connection refused'), /unreachable/);
  });

  it('reads the internal registry credentials from the environment, both or neither', () => {
    const base = { SHOAL_RUNNER_TOKEN: 't' };
    assert.equal(loadConfig(base).internalRegistry, undefined);
    assert.deepEqual(loadConfig({ ...base, SHOAL_RUNNER_REGISTRY_USERNAME: 'runner', SHOAL_RUNNER_REGISTRY_PASSWORD: 'p' }).internalRegistry, { username: 'runner', password: 'p' });
    assert.throws(() => loadConfig({ ...base, SHOAL_RUNNER_REGISTRY_USERNAME: 'runner' }), /must be set together/);
  });
});
