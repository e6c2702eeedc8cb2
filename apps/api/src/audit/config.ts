export interface AuditConfig {
  /** SHOAL_AUDIT_RETENTION_DAYS: rows older than this are purged hourly; 0 (the default) keeps them forever. */
  retentionDays: number;
  /** SHOAL_AUDIT_TOOLBOX_REQUESTS=true: also record writes through the toolbox proxy (default off, like the reference). */
  toolboxRequests: boolean;
}

export function loadAuditConfig(env: Record<string, string | undefined>, errors: string[]): AuditConfig {
  let retentionDays = 0;
  const raw = env.SHOAL_AUDIT_RETENTION_DAYS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) errors.push(`SHOAL_AUDIT_RETENTION_DAYS must be an integer >= 0 (got "${raw}")`);
    else retentionDays = n;
  }
  const toolbox = (env.SHOAL_AUDIT_TOOLBOX_REQUESTS ?? '').toLowerCase();
  if (!['', 'true', 'false', '1', '0'].includes(toolbox)) errors.push('SHOAL_AUDIT_TOOLBOX_REQUESTS must be true or false');
  return { retentionDays, toolboxRequests: toolbox === 'true' || toolbox === '1' };
}
