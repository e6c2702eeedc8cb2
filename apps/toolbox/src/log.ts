import type { IncomingMessage } from 'node:http';
import { acceptedRequestId, REQUEST_ID_HEADER } from '@shoal/contracts';

/**
 * The daemon's log: one JSON object a line on stderr (the runner's `toolbox.log` of the sandbox), in the shape of the
 * API's and the runner's pino lines (numeric `level`, `time` in ms, `msg`), so one query reads all three. A request's
 * lines carry `reqId`, the id the API gave it, and the `trace_id`/`span_id` of the runner's toolbox span: the daemon
 * cannot reach a collector from inside the sandbox, so its lines join the trace through these fields.
 */
export type LogFields = Record<string, unknown> & { level?: number };
export type Log = (message: string, fields?: LogFields) => void;

export const INFO = 30;
export const ERROR = 50;

export function jsonLog(write: (line: string) => void, now: () => number = Date.now): Log {
  return (message, fields = {}) => {
    const { level = INFO, ...rest } = fields;
    let line: string;
    try {
      line = JSON.stringify({ level, time: now(), name: 'toolbox', ...rest, msg: message });
    } catch {
      line = JSON.stringify({ level, time: now(), name: 'toolbox', msg: message });
    }
    write(`${line}\n`);
  };
}

export interface RequestLogContext {
  reqId: string;
  trace_id?: string;
  span_id?: string;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** The request's id (the caller's when acceptable, as the API and the runner take it) and its W3C trace context. */
export function requestLogContext(req: IncomingMessage): RequestLogContext {
  const out: RequestLogContext = { reqId: acceptedRequestId(req.headers[REQUEST_ID_HEADER]) ?? crypto.randomUUID() };
  const m = TRACEPARENT.exec(String(req.headers.traceparent ?? '').trim());
  // All-zero ids are invalid trace context (W3C §3.2.2.3): such a header names no trace.
  if (m && !/^0+$/.test(m[1]!) && !/^0+$/.test(m[2]!)) {
    out.trace_id = m[1];
    out.span_id = m[2];
  }
  return out;
}

/**
 * One line per request costs a few hundred bytes of the runner's disk, outside the sandbox's quota, for as long as the
 * sandbox runs: past this many bytes of request lines the daemon says so once and logs no more requests (failures and
 * its own events still go out).
 */
export const REQUEST_LOG_BUDGET_BYTES = 32 * 1024 * 1024;

/** Logs requests until the budget is spent. */
export function budgetedRequestLog(log: Log, budget = REQUEST_LOG_BUDGET_BYTES): Log {
  let spent = 0;
  let exhausted = false;
  return (message, fields) => {
    if (exhausted) return;
    // An estimate (a request line is 250-400 bytes): counting exactly would serialise every line twice.
    spent += 300 + message.length;
    if (spent > budget) {
      exhausted = true;
      log(`request log budget of ${budget} bytes spent: further requests are not logged until the daemon restarts`);
      return;
    }
    log(message, fields);
  };
}
