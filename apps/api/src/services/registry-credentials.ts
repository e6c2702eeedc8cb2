import type { RegistryCredentials } from '@shoal/contracts';

export type { RegistryCredentials };

/**
 * Where the credentials for pulling a user's image come from: the organization's docker-registry entries, matched by
 * the image reference (the docker-registry module implements it). Undefined means "pull anonymously".
 */
export interface RegistryCredentialsLookup {
  forImage(organizationId: string, imageRef: string): Promise<RegistryCredentials | undefined>;
}

/** Until an organization can register registries, every pull is anonymous. */
export const anonymousRegistries: RegistryCredentialsLookup = {
  forImage: async () => undefined,
};

/**
 * The organization's project in Shoal's internal registry. Snapshots of the organization live under it, and push or
 * pull access to the internal registry is scoped by it: this is the one place that derives it.
 */
export function internalRegistryProject(organizationId: string): string {
  return `shoal-${organizationId}`;
}

/** Host (and port) of the internal registry, taken from the default snapshot's image reference. */
export function internalRegistryHost(defaultSnapshotImage: string): string {
  const first = defaultSnapshotImage.split('/')[0] ?? '';
  return first;
}

/**
 * The reference under which a snapshot lives in the internal registry:
 * `<internal registry host>/<organization project>/<snapshot id>:<tag>`. The id (not the name) keeps a snapshot deleted
 * and re-created under the same name from ever meeting the old image; the tag is the source's tag, or a digest's hex
 * prefix when the source was pinned by digest.
 */
export function internalSnapshotRef(registryHost: string, organizationId: string, snapshotId: string, sourceRef: string): string {
  return `${registryHost}/${internalRegistryProject(organizationId)}/${snapshotId}:${imageTag(sourceRef)}`;
}

/** The tag of an image reference, or `sha256-<first 32 hex>` of its digest; `latest` when it has neither. */
export function imageTag(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) {
    const digest = ref.slice(at + 1);
    return digest.replace(':', '-').slice(0, 7 + 32);
  }
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > lastSlash ? ref.slice(colon + 1) : 'latest';
}

/**
 * Whether an organization may name `imageRef` as a snapshot source. Runners read the internal registry with their own
 * login, which reaches every project, so an image there is allowed only in the organization's own project, in the
 * general one, or outside any organization's project (Shoal's own images such as the default snapshot); admins may
 * name any.
 */
export function internalImageAllowed(registryHost: string, organizationId: string, imageRef: string, isAdmin: boolean): boolean {
  const slash = imageRef.indexOf('/');
  if (isAdmin || slash < 0 || imageRef.slice(0, slash).toLowerCase() !== registryHost.toLowerCase()) return true;
  const project = /^shoal-([^/]+)\//.exec(imageRef.slice(slash + 1));
  return !project || project[1] === 'general' || `shoal-${project[1]}` === internalRegistryProject(organizationId);
}
