// Visits the dashboard's platform pages (snapshots, volumes, registries, organization, audit, webhooks) in a browser
// tab that is already signed in, and checks each one renders its title and either no error banner or the API's 403
// message (a key's role may forbid a section; the page must say so rather than hide it). The dashboard e2e calls it.
// Page code runs as strings: the root tsconfig has no DOM types.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';

export const PLATFORM_PAGES = [
  { path: 'snapshots', title: 'Snapshots' },
  { path: 'volumes', title: 'Volumes' },
  { path: 'registries', title: 'Registries' },
  { path: 'organization', title: 'Organization' },
  { path: 'audit', title: 'Audit log' },
  { path: 'webhooks', title: 'Webhooks' },
] as const;

export interface PlatformPageResult {
  path: string;
  title: string;
  /** Error banners shown, all of them the API's 403 messages (anything else fails the check). */
  forbidden: string[];
}

/**
 * `baseUrl`: the dashboard's URL (`…/dashboard/`) or the platform's (`…` or `…/api`), from which it is derived.
 * `shots`: a directory; one `dashboard-<page>.png` per page is written to it.
 */
export async function checkPlatformPages(page: Page, baseUrl: string, shots?: string): Promise<PlatformPageResult[]> {
  const dashboard = dashboardUrl(baseUrl);
  if (!page.url().startsWith(dashboard)) await page.goto(dashboard, { waitUntil: 'load' });
  const signedIn = await page.evaluate(`!!document.querySelector('nav#nav')`);
  assert.ok(signedIn, 'checkPlatformPages needs a signed-in dashboard tab (no navigation found)');
  if (shots) await mkdir(shots, { recursive: true });
  const results: PlatformPageResult[] = [];
  for (const { path, title } of PLATFORM_PAGES) {
    // A hash change keeps the tab's session (sessionStorage) and is how the navigation links move between pages.
    await page.evaluate(`location.hash = ${JSON.stringify(`#/${path}`)}`);
    await page.waitForFunction(`document.querySelector('#page-title')?.textContent === ${JSON.stringify(title)}`, { timeout: 10_000 });
    // Settled: no "Loading …" left in the page (each section replaces it by its data or its error).
    await page.waitForFunction(`![...document.querySelectorAll('#content p.muted')].some((p) => p.textContent.startsWith('Loading '))`, { timeout: 15_000 });
    const banners = (await page.evaluate(`[...document.querySelectorAll('#content .error[role=alert] > span')].map((e) => e.textContent)`)) as string[];
    const unexpected = banners.filter((b) => !/^Forbidden\b/.test(b));
    assert.deepEqual(unexpected, [], `the ${title} page shows an error`);
    results.push({ path, title, forbidden: banners });
    if (shots) await page.screenshot({ path: join(shots, `dashboard-${path}.png`) as `${string}.png`, fullPage: true });
  }
  return results;
}

function dashboardUrl(baseUrl: string): string {
  const u = new URL(baseUrl);
  if (!u.pathname.startsWith('/dashboard')) u.pathname = '/dashboard/';
  u.hash = '';
  u.search = '';
  return u.toString();
}

/**
 * Signs `page` in through the dashboard's form with an API key, as a user does, and waits for the signed-in shell.
 * The session then lives in the tab's sessionStorage in whatever form the dashboard keeps it, for every later page.
 */
export async function signInWithKey(page: Page, dashboardUrl: string, apiKey: string): Promise<void> {
  await page.goto(dashboardUrl, { waitUntil: 'load' });
  await page.waitForSelector('input[name=apiKey]');
  await page.type('input[name=apiKey]', apiKey);
  await page.click('form button[type=submit]');
  await page.waitForSelector('#page-title', { timeout: 15_000 });
}
