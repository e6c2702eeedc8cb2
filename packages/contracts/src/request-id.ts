/**
 * A request's id travels API → runner → toolbox in this header and comes back on every answer, so one id finds a
 * request's lines in every process's log.
 */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Short and plain: the id lands in logs and headers, so anything else is replaced by a generated one. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when it is acceptable, otherwise undefined (the receiver generates one). */
export function acceptedRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value) ? value : undefined;
}
