/**
 * One error type for everything the server answers with a non-2xx status.
 * `code` is machine-readable and stable; `message` is for humans.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (code: string, message: string, detail?: unknown) =>
  new HttpError(400, code, message, detail);
export const notFound = (message = 'not found', code = 'NOT_FOUND') => new HttpError(404, code, message);
export const conflict = (message: string, code = 'CONFLICT') => new HttpError(409, code, message);
export const forbidden = (message: string, code = 'FORBIDDEN') => new HttpError(403, code, message);
export const tooLarge = (message: string, code = 'TOO_LARGE') => new HttpError(413, code, message);
export const badGateway = (message: string, detail?: unknown) => new HttpError(502, 'UPSTREAM_ERROR', message, detail);
export const notImplemented = (message: string) => new HttpError(501, 'NOT_IMPLEMENTED', message);

/** Raised by stream stages when the request was aborted (client gone, timeout). Never reported to the client. */
export class AbortedError extends Error {
  constructor(message = 'aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof AbortedError || (err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR'));
}
