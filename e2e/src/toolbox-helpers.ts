/*
 * Helpers shared by the toolbox e2e files: raw calls through the API's toolbox proxy (for routes and bad input the SDK
 * never sends), streamed file hashing (so big files are never held in memory), and a bounded wait for asynchronous
 * output. Nothing here fakes the platform: every call goes to the real API.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { TestPlatform } from './harness.js';

export interface RawResponse {
  status: number;
  text: string;
  json: unknown;
}

/** Sends one request to `{apiUrl}/toolbox/{sandboxId}/toolbox/{path}` with the admin key. */
export async function toolboxRaw(
  platform: TestPlatform,
  sandboxId: string,
  method: string,
  path: string,
  init: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const res = await fetch(`${platform.apiUrl}/toolbox/${sandboxId}/toolbox/${path}`, {
    method,
    headers: { authorization: `Bearer ${platform.apiKey}`, ...init.headers },
    ...(init.body !== undefined ? { body: init.body as unknown as BodyInit } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** A client error the SDK can turn into a readable DaytonaError: 4xx, an envelope with the same statusCode, a message. */
export function assertClientError(res: RawResponse, expectedStatus?: number, message?: RegExp): void {
  const ctx = `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
  if (expectedStatus !== undefined) assert.equal(res.status, expectedStatus, ctx);
  else assert.ok(res.status >= 400 && res.status < 500, ctx);
  const body = res.json as { statusCode?: unknown; message?: unknown } | undefined;
  assert.ok(body && typeof body === 'object', `error body is not JSON: ${ctx}`);
  assert.equal(body.statusCode, res.status, ctx);
  const text = Array.isArray(body.message) ? body.message.join(' ') : body.message;
  assert.equal(typeof text, 'string', ctx);
  assert.ok((text as string).length > 0, ctx);
  if (message) assert.match(text as string, message, ctx);
}

/** The SDK's DaytonaNotFoundError (not exported from the package root): chosen from `statusCode: 404` in the body. */
export function isNotFound(err: unknown): boolean {
  return err instanceof Error && err.constructor.name === 'DaytonaNotFoundError';
}

/** Writes `bytes` random bytes to `path` in 1 MiB chunks and returns their sha256, never holding more than a chunk. */
export async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const chunk = 1024 * 1024;
  for (let written = 0; written < bytes; written += chunk) {
    const buf = randomBytes(Math.min(chunk, bytes - written));
    hash.update(buf);
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Peak resident set size of a host process in KiB (VmHWM), to show a transfer was streamed, not buffered. */
export async function peakRssKiB(pid: number): Promise<number> {
  const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmHWM for pid ${pid}`);
  return Number(m[1]);
}

/** Clears the peak-RSS counter of a host process (writing 5 to clear_refs resets VmHWM to the current RSS). */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/**
 * Polls `probe` until it returns a truthy value. The deadline only keeps a broken build from hanging the run; it never
 * decides a pass on its own (a pass needs the awaited value).
 */
export async function eventually<T>(probe: () => T | Promise<T>, what: string, deadlineMs = 30_000): Promise<NonNullable<T>> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Deletes a sandbox and waits until the runner has destroyed it. The runner keeps sandboxes running when it exits
 * (by design, across restarts), so a test that closed the platform right after delete() would leak the container,
 * its mounts and its network namespace.
 */
export async function deleteAndWait(platform: TestPlatform, sandbox: { id: string; delete(): Promise<void> }): Promise<void> {
  await sandbox.delete().catch(() => undefined);
  const daytona = platform.sdk();
  await eventually(
    async () => {
      try {
        return (await daytona.get(sandbox.id)).state === 'destroyed';
      } catch (err) {
        return isNotFound(err);
      }
    },
    `sandbox ${sandbox.id} to be destroyed`,
    120_000,
  ).catch((err: Error) => console.error(err.message));
}
