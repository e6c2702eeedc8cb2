import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseImage } from '../src/services/build.service.js';

/*
 * A build FROM a private registry gets the organization's entry for the image of the first FROM: the SDK's Image
 * writes exactly one, and Dockerfile builds may put flags, comments or an ARG before it.
 */
test('baseImage finds the first FROM image', () => {
  assert.equal(baseImage('FROM 127.0.0.1:5000/acme/debian:1\nRUN apt-get update\n'), '127.0.0.1:5000/acme/debian:1');
  assert.equal(baseImage('# syntax\nARG X=1\n  from --platform=linux/amd64 reg.example/a/b@sha256:abc AS build\nFROM other:2\n'), 'reg.example/a/b@sha256:abc');
  assert.equal(baseImage('RUN true\n'), undefined);
});
