import { badRequest } from '../errors.js';

const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(message: string): never {
  throw badRequest('PATH_INVALID', message);
}

/**
 * Decode a raw request path (below the repository name) into a safe, normalised relative path.
 * Everything that could climb out of the repository or alias another path is refused, whatever its
 * encoding: `.`/`..` segments, encoded or raw backslashes, encoded slashes, NUL and control
 * characters, empty segments, malformed percent-encoding.
 * A trailing slash is kept (it means "directory" to formats that list).
 */
export function decodeRepoPath(raw: string): string {
  if (raw.length > 4096) invalid('path too long');
  if (raw.includes('\\')) invalid('backslash in path');
  const trailingSlash = raw.endsWith('/') && raw.length > 1;
  const body = raw.replace(/^\/+/, '').replace(/\/$/, '');
  if (body === '') return trailingSlash ? '/' : '';
  const out: string[] = [];
  for (const seg of body.split('/')) {
    if (seg === '') invalid('empty path segment');
    let dec: string;
    try {
      dec = decodeURIComponent(seg);
    } catch {
      invalid('malformed percent-encoding in path');
    }
    if (dec === '.' || dec === '..') invalid('"." and ".." segments are not allowed');
    if (dec.includes('/') || dec.includes('\\')) invalid('encoded slash or backslash in path');
    if (CONTROL.test(dec)) invalid('control character in path');
    out.push(dec);
  }
  return out.join('/') + (trailingSlash ? '/' : '');
}

/** Percent-encode a safe path for use in an upstream URL (keeps '/'). */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
