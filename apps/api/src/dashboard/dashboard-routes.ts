import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DASHBOARD_DIST_DIR } from '@shoal/dashboard';
import { Errors } from '../errors.js';

/** Where the API serves the web console (README "Dashboard"); `npm start` prints it. */
export const DASHBOARD_PATH = '/dashboard/';

/**
 * Scripts only from the dashboard's own files: API values the pages show (names, labels, logs) can never run.
 * Inline styles are allowed because the terminal component sizes its grid with a <style> element it writes.
 * Frames are the same origin only (the desktop view embeds the sandbox's noVNC page through the preview proxy).
 * With an OIDC issuer configured the browser also fetches the issuer's discovery document and exchanges the sign-in
 * code at its token endpoint, so the issuer's origin (and no other) joins connect-src.
 */
export function dashboardCsp(oidcIssuer?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${oidcIssuer ? ` ${new URL(oidcIssuer).origin}` : ''}`,
    "frame-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The policy without an issuer. */
export const DASHBOARD_CSP = dashboardCsp();

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** An asset name the build produces: no directories, no dot files, a known type. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\.[a-z0-9]+)$/;

function secure(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header('content-security-policy', csp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}

/** Sends the build's gzip copy of `path` when the browser takes gzip and one exists (the build makes them for assets). */
async function sendFile(reply: FastifyReply, csp: string, path: string, type: string, acceptEncoding?: string): Promise<FastifyReply> {
  if (acceptEncoding && /\bgzip\b/.test(acceptEncoding)) {
    const gz = await readFile(`${path}.gz`).catch(() => undefined);
    if (gz) return secure(reply, csp).type(type).header('content-encoding', 'gzip').header('vary', 'accept-encoding').send(gz);
  }
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (path.endsWith('index.html')) throw Errors.unavailable('The dashboard is not built; run: npm run build -w @shoal/dashboard');
    throw Errors.notFound('Not found');
  }
  return secure(reply, csp).type(type).send(body);
}

/** The dashboard's page and its bundled assets; everything else it needs is the public API under /api. */
export function registerDashboard(app: FastifyInstance, settings: { oidcIssuer?: string | undefined; distDir?: string } = {}): void {
  const distDir = settings.distDir ?? DASHBOARD_DIST_DIR;
  const csp = dashboardCsp(settings.oidcIssuer);
  const opts = { schema: { hide: true }, config: { auth: 'none' } } as const;
  app.get('/dashboard', opts, async (_req, reply) => reply.redirect(DASHBOARD_PATH, 302));
  app.get(DASHBOARD_PATH, opts, async (_req, reply) => sendFile(reply, csp, join(distDir, 'index.html'), TYPES['.html']!));
  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', opts, async (req, reply) => {
    const m = ASSET_NAME.exec(req.params.file);
    const type = m ? TYPES[m[1]!] : undefined;
    if (!m || !type || req.params.file.includes('..')) throw Errors.notFound('Not found');
    return sendFile(reply, csp, join(distDir, 'assets', req.params.file), type, req.headers['accept-encoding']);
  });
}
