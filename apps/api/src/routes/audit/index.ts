import type { AnyRoute } from '../../http/route.js';
import createAuditLog from './create-audit-log.js';
import getAllAuditLogs from './get-all-audit-logs.js';
import getOrganizationAuditLogs from './get-organization-audit-logs.js';

export const auditRoutes: AnyRoute[] = [getAllAuditLogs, createAuditLog, getOrganizationAuditLogs];
