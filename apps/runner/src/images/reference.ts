/** An image reference split the way registries see it (docker/distribution grammar, simplified). */
export interface ImageReference {
  /** Registry host[:port]; `docker.io` when the reference names none. */
  host: string;
  /** Repository path on that registry (`library/debian` for a bare `debian`). */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

const HOST = /^(?:localhost|\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::\d{1,5})?$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Parses `ref`, or returns a one-line reason why it is not an image reference. */
export function parseReference(ref: string): ImageReference | string {
  if (ref.length > 1024 || /\s/.test(ref)) return 'it contains whitespace or is too long';
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return `"${digest}" is not a sha256 digest`;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return `"${tag}" is not a valid tag`;
  }
  const parts = rest.split('/');
  let host = 'docker.io';
  const first = parts[0]!;
  if (parts.length > 1 && (/[.:]/.test(first) || first === 'localhost' || first.startsWith('['))) {
    if (!HOST.test(first)) return `"${first}" is not a registry host`;
    host = first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) return 'the repository name must be lowercase path components';
  if (host === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (!tag && !digest) tag = 'latest';
  return { host, repository: parts.join('/'), tag, digest };
}

/** `host/repository` without tag or digest. */
export function repositoryOf(r: ImageReference): string {
  return `${r.host}/${r.repository}`;
}

export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

/** The image platform of this host, named as in OCI image indexes. */
export function hostPlatform(arch: string = process.arch): { os: string; architecture: string; variant?: string } {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = map[arch] ?? arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}
