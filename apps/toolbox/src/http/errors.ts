import { errorEnvelope, type ErrorEnvelope } from '@shoal/contracts';

/**
 * The one error type services throw. Routes never build error bodies themselves: the router renders every
 * ToolboxError into the Daytona envelope, so the SDK's `statusCode === 404` check works everywhere.
 */
export class ToolboxError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new ToolboxError(400, message);
export const forbidden = (message: string) => new ToolboxError(403, message);
export const notFound = (message: string) => new ToolboxError(404, message);
export const requestTimeout = (message: string) => new ToolboxError(408, message);
export const conflict = (message: string) => new ToolboxError(409, message);
export const gone = (message: string) => new ToolboxError(410, message);
export const payloadTooLarge = (message: string) => new ToolboxError(413, message);
export const notImplemented = (message: string) => new ToolboxError(501, message);

const errnoStatus: Record<string, number> = {
  ENOENT: 404,
  EACCES: 403,
  EPERM: 403,
  EROFS: 403,
  EEXIST: 409,
  ENOTEMPTY: 409,
  ENOTDIR: 400,
  EISDIR: 400,
  EINVAL: 400,
  ELOOP: 400,
  ENAMETOOLONG: 400,
  EXDEV: 400,
  ENOSPC: 400,
  EDQUOT: 400,
  EMFILE: 503,
  ENFILE: 503,
  EBUSY: 409,
};

/**
 * Maps a filesystem error caused by the caller's input (a path that does not exist, a directory where a file was
 * expected, ...) to a 4xx. `what` names the operand so the message says which path failed.
 */
export function fromErrno(err: unknown, what: string): ToolboxError {
  if (err instanceof ToolboxError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const status = (code ? errnoStatus[code] : undefined) ?? 400;
  const reason: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EEXIST: 'file already exists',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    ENOTEMPTY: 'directory not empty',
  };
  const text = (code && reason[code]) ?? (err instanceof Error ? err.message : String(err));
  return new ToolboxError(status, `${what}: ${text}`);
}

const phrases: Record<number, string> = { 501: 'Not Implemented' };

export function renderError(statusCode: number, message: string, path: string): ErrorEnvelope {
  const body = errorEnvelope(statusCode, message, path);
  const phrase = phrases[statusCode];
  return phrase ? { ...body, error: phrase } : body;
}

/**
 * The bulk-upload error body: the Daytona envelope (so the SDK's message extraction works) plus the `errors` list
 * Daytona's daemon returns for this one route.
 */
export function renderUploadErrors(statusCode: number, errors: string[], path: string) {
  return { ...renderError(statusCode, errors.join('; '), path), errors };
}
