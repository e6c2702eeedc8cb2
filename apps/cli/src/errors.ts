/** Exit codes, decided in one place (main.ts) from the error classes below and the SDK's. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, unavailable: 4 } as const;

export class UsageError extends Error {}
export class UnavailableError extends Error {}

/** An error answer of the Shoal API: its `{statusCode, message}` envelope, the message joined when it is a list. */
export class ApiRequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function exitCodeFor(err: unknown): number {
  const name = (err as { name?: string; constructor?: { name?: string } })?.constructor?.name ?? '';
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof UnavailableError) return EXIT.unavailable;
  if (err instanceof ApiRequestError) return err.statusCode === 404 ? EXIT.notFound : EXIT.failure;
  if (name === 'DaytonaNotFoundError') return EXIT.notFound;
  return EXIT.failure;
}

/** The SDK JSON-stringifies server messages (`"Sandbox not found"`); show them without the quotes. */
export function messageOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/^".*"$/.test(msg)) {
    try {
      return JSON.parse(msg) as string;
    } catch {
      return msg;
    }
  }
  return msg;
}
