import { Type, type Static } from '@sinclair/typebox';

/**
 * The Daytona error envelope. Every error any Shoal process returns over HTTP has this shape;
 * the official SDK keys its NotFound class on `statusCode === 404` in the body, not on the HTTP status.
 */
export const ErrorEnvelope = Type.Object(
  {
    statusCode: Type.Integer(),
    message: Type.Union([Type.String(), Type.Array(Type.String())]),
    error: Type.String(),
    timestamp: Type.String(),
    path: Type.String(),
  },
  { $id: 'ErrorEnvelope' },
);
export type ErrorEnvelope = Static<typeof ErrorEnvelope>;

const reasonPhrases: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(statusCode: number): string {
  return reasonPhrases[statusCode] ?? (statusCode >= 500 ? 'Internal Server Error' : 'Bad Request');
}

export function errorEnvelope(statusCode: number, message: string | string[], path: string): ErrorEnvelope {
  return { statusCode, message, error: reasonPhrase(statusCode), timestamp: new Date().toISOString(), path };
}
