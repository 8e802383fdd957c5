import { HttpError, isAbort } from '../errors.js';
import { rootLogger, type Logger } from '../log.js';
import type { HttpResponse } from './types.js';

/** The one error body every non-2xx answer of this server uses. */
export interface ErrorEnvelope {
  error: { code: string; message: string; detail?: unknown };
}

export function sendJson(res: HttpResponse, status: number, body: unknown): void {
  res.status(status).setHeader('content-type', 'application/json').end(JSON.stringify(body));
}

export function errorEnvelope(code: string, message: string, detail?: unknown): ErrorEnvelope {
  return { error: detail === undefined ? { code, message } : { code, message, detail } };
}

/**
 * Answer `err` in the one error envelope `{"error":{"code","message","detail"}}` with the HttpError's status and
 * headers. Unknown errors are a 500 `INTERNAL` with a generic message (the error itself goes to `log`, never to
 * the client). Aborts send nothing (the client is gone, or the work was cancelled on purpose): the connection is
 * closed. If the response had already started, the connection is closed too, so the client sees a broken
 * response rather than a complete-looking one.
 */
export function sendError(res: HttpResponse, err: unknown, log: Logger = rootLogger): void {
  if (res.finished) return;
  if (isAbort(err) || res.headersSent) {
    if (!isAbort(err)) log.error({ err }, 'error after the response had started; closing the connection');
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
    sendJson(res, err.status, errorEnvelope(err.code, err.message, err.detail));
    return;
  }
  log.error({ err }, 'unhandled error');
  sendJson(res, 500, errorEnvelope('INTERNAL', 'internal server error'));
}
