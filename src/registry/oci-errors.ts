import { HttpError } from '../errors.js';

/** The OCI distribution error codes and the status each is answered with. */
export const OCI_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const;

export type OciCode = keyof typeof OCI_STATUS;

export function ociError(code: OciCode, message: string, detail?: unknown, status: number = OCI_STATUS[code], headers?: Record<string, string>): HttpError {
  return new HttpError(status, code, message, detail, headers);
}

/** Codes of our own errors that have an OCI equivalent. */
const MAP: Record<string, OciCode> = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  DIGEST_MISMATCH: 'DIGEST_INVALID',
  DIGEST_INVALID: 'DIGEST_INVALID',
  SIZE_LIMIT_EXCEEDED: 'SIZE_INVALID',
  SIZE_MISMATCH: 'SIZE_INVALID',
  BODY_TOO_LARGE: 'SIZE_INVALID',
  REPO_NOT_FOUND: 'NAME_UNKNOWN',
  PATH_INVALID: 'NAME_INVALID',
  BLOCKED: 'DENIED',
  FORBIDDEN: 'DENIED',
  DELETE_DISABLED: 'UNSUPPORTED',
  NO_DEPLOY_TARGET: 'UNSUPPORTED',
  READ_ONLY: 'UNSUPPORTED',
  METHOD_NOT_ALLOWED: 'UNSUPPORTED',
};

/**
 * The code of a server-side failure with no OCI equivalent (an upstream that failed, storage that is down): the
 * codes distribution answers then (`errcode.ErrorCodeUnavailable`, `errcode.ErrorCodeUnknown`). Not UNSUPPORTED,
 * which tells the client the operation itself is not supported.
 */
function serverSideCode(status: number): string {
  return status === 503 ? 'UNAVAILABLE' : 'UNKNOWN';
}

/** The body of an OCI error response: `{"errors":[{code,message,detail}]}`. */
export function ociBody(err: HttpError): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
  const fallback = err.status >= 500 ? serverSideCode(err.status) : err.status === 404 ? 'NAME_UNKNOWN' : 'UNSUPPORTED';
  const code = err.code in OCI_STATUS ? err.code : (MAP[err.code] ?? fallback);
  return { errors: [{ code, message: err.message, ...(err.detail !== undefined ? { detail: err.detail } : {}) }] };
}
