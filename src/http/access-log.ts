import type { Logger } from '../log.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** One line per request: id, method, path, status, bytes both ways, duration, and what the handler annotated. */
export function logRequest(log: Logger, req: HttpRequest, res: HttpResponse, ms: number): void {
  const status = res.getStatus();
  const level = res.aborted ? 'info' : status >= 500 ? 'error' : 'info';
  log[level](
    {
      id: req.id,
      method: req.method,
      path: req.rawPath,
      status: res.aborted ? 'aborted' : status,
      in: req.contentLength ?? 0,
      out: res.bytesWritten,
      ms: Math.round(ms * 10) / 10,
      ...req.log,
    },
    'request',
  );
}
