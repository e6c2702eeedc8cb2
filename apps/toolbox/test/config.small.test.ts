import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heldFromToolbox, TOOLBOX_HELD_ENV } from '@shoal/contracts';
import { loadConfig } from '../src/config.js';

describe('loadConfig: variables held from the daemon’s own start', () => {
  it('puts the held values back for children and drops every SHOAL_ variable', () => {
    const env: NodeJS.ProcessEnv = {
      SHOAL_TOOLBOX_SOCKET: '/run/x.sock',
      PATH: '/usr/bin',
      [TOOLBOX_HELD_ENV]: JSON.stringify({
        NODE_OPTIONS: '--require /x.js',
        LD_PRELOAD: '/lib/evil.so',
        OPENSSL_CONF: '/etc/ssl/custom.cnf',
        // Not a held name, or not a name at all: the runner never sends these, and they are not set.
        PATH: '/evil',
        'NODE_A=B': 'x',
        UV_THREADPOOL_SIZE: 7,
      }),
    };
    const config = loadConfig(env);
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      NODE_OPTIONS: '--require /x.js',
      LD_PRELOAD: '/lib/evil.so',
      OPENSSL_CONF: '/etc/ssl/custom.cnf',
    });
    assert.deepEqual(config.warnings, []);
  });

  it('starts with a warning when the held object is not JSON', () => {
    const env: NodeJS.ProcessEnv = { SHOAL_TOOLBOX_SOCKET: '/run/x.sock', [TOOLBOX_HELD_ENV]: '{nope' };
    const config = loadConfig(env);
    assert.deepEqual(env, {});
    assert.match(config.warnings.join('\n'), /SHOAL_HELD_ENV is not a JSON object/);
  });

  it('holds what the loader, Node, libuv, glibc and OpenSSL read at a start, and nothing else', () => {
    for (const name of ['NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'UV_THREADPOOL_SIZE', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'OPENSSL_CONF', 'OPENSSL_MODULES', 'MALLOC_ARENA_MAX', 'GLIBC_TUNABLES']) {
      assert.equal(heldFromToolbox(name), true, name);
    }
    for (const name of ['PATH', 'HOME', 'LANG', 'NODE', 'MY_NODE_OPTIONS', 'GLIBC_TUNABLES_X', 'DAYTONA_SANDBOX_ID']) {
      assert.equal(heldFromToolbox(name), false, name);
    }
  });
});
