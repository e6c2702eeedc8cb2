import type { FunctionComponent } from 'preact';
import type { Sandbox } from '../types.js';
import { DesktopTab } from './desktop.js';
import { FilesTab } from './files.js';
import { SessionsTab } from './sessions.js';
import { TerminalTab } from './terminal.js';
import './tabs.css';

export interface SandboxTabProps {
  sandbox: Sandbox;
}

export interface SandboxTab {
  /** The route part: #/sandboxes/<id>/<tab id>. */
  id: string;
  title: string;
  component: FunctionComponent<SandboxTabProps>;
}

// Tabs of a sandbox's page after its overview, in order (terminal, files, sessions, desktop).
export const SANDBOX_TABS: SandboxTab[] = [
  { id: 'terminal', title: 'Terminal', component: TerminalTab },
  { id: 'files', title: 'Files', component: FilesTab },
  { id: 'sessions', title: 'Sessions', component: SessionsTab },
  { id: 'desktop', title: 'Desktop', component: DesktopTab },
];
