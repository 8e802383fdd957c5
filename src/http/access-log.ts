import type { Logger } from '../log.js';
import type { HttpRequest, HttpResponse } from './types.js';

/**
 * One line per request: id, method, path, status, body bytes both ways, duration, and what the handler put into
 * `req.log` (repo, source, ...). X-Request-Id itself is set by the engines on every response.
 */
export function logRequest(log: Logger, req: HttpRequest, res: HttpResponse, ms: number): void {
  const status = res.getStatus();
  const fields = {
    id: req.id,
    method: req.method,
    path: req.rawPath,
    status: res.aborted ? 'aborted' : status,
    in: req.bytesRead ?? req.contentLength ?? 0,
    out: res.bytesWritten,
    ms: Math.round(ms * 10) / 10,
    ...req.log,
  };
  if (!res.aborted && status >= 500) log.error(fields, 'request');
  else log.info(fields, 'request');
}
