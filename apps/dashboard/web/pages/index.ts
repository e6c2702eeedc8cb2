import type { FunctionComponent } from 'preact';
import { ApiKeysPage } from './api-keys.js';
import { SandboxesPage } from './sandboxes.js';
import { AuditPage } from './audit.js';
import { OrganizationPage } from './organization.js';
import { RegistriesPage } from './registries.js';
import { SnapshotsPage } from './snapshots.js';
import { VolumesPage } from './volumes.js';
import { WebhooksPage } from './webhooks.js';

export interface PageProps {
  /** Route parts after the page's own, e.g. ['<sandbox id>'] for #/sandboxes/<id>. */
  args: string[];
}

export interface PageEntry {
  path: string;
  title: string;
  component: FunctionComponent<PageProps>;
}

// One entry per page, in navigation order; the first is the landing page.
export const PAGES: PageEntry[] = [
  { path: 'sandboxes', title: 'Sandboxes', component: SandboxesPage },
  { path: 'snapshots', title: 'Snapshots', component: SnapshotsPage },
  { path: 'volumes', title: 'Volumes', component: VolumesPage },
  { path: 'registries', title: 'Registries', component: RegistriesPage },
  { path: 'keys', title: 'API keys', component: ApiKeysPage },
  { path: 'organization', title: 'Organization', component: OrganizationPage },
  { path: 'audit', title: 'Audit log', component: AuditPage },
  { path: 'webhooks', title: 'Webhooks', component: WebhooksPage },
];
