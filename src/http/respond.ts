import { HttpError, isAbort } from '../errors.js';
import { rootLogger } from '../log.js';
import type { HttpResponse } from './types.js';

export function sendJson(res: HttpResponse, status: number, body: unknown): void {
  res.status(status).setHeader('Content-Type', 'application/json').end(JSON.stringify(body));
}

/**
 * The one error envelope: `{"error":{"code","message","detail"}}`. Unknown errors are a 500 with a generic
 * message (the details go to the log, not to the client). If the body already started, the connection is
 * closed so the client sees a broken response, not a complete-looking one.
 */
export function sendError(res: HttpResponse, err: unknown): void {
  if (res.finished) return;
  if (isAbort(err)) {
    res.destroy();
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
    sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(err.detail !== undefined ? { detail: err.detail } : {}) } });
    return;
  }
  rootLogger.error({ err }, 'unhandled error');
  sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal server error' } });
}
