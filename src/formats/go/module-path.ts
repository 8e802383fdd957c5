import { parseSemver } from './semver.js';

/**
 * Module paths, file paths and versions checked exactly as golang.org/x/mod/module does (the go command refuses
 * anything else), plus the case encoding of the proxy protocol: each upper-case letter → `!` + lower case, so
 * that paths stay distinct on case-insensitive file systems and object stores.
 * Every check returns an error message, or null when valid.
 */

type PathKind = 'module' | 'file';

const BAD_WINDOWS = new Set(['CON', 'PRN', 'AUX', 'NUL', ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`COM${n}`, `LPT${n}`])]);

function modPathOK(c: string): boolean {
  return /^[A-Za-z0-9._~-]$/.test(c);
}

function fileNameOK(c: string): boolean {
  if (c.charCodeAt(0) < 0x80) return /^[A-Za-z0-9!#$%&()+,\-.=@[\]^_{}~ ]$/.test(c);
  return /^\p{L}$/u.test(c);
}

function checkElem(elem: string, kind: PathKind): string | null {
  if (elem === '') return 'empty path element';
  if (/^\.+$/.test(elem)) return `invalid path element "${elem}"`;
  if (elem[0] === '.' && kind === 'module') return 'leading dot in path element';
  if (elem.endsWith('.')) return 'trailing dot in path element';
  for (const c of elem) {
    if (!(kind === 'module' ? modPathOK(c) : fileNameOK(c))) return `invalid char ${JSON.stringify(c)}`;
  }
  const short = elem.includes('.') ? elem.slice(0, elem.indexOf('.')) : elem;
  if (BAD_WINDOWS.has(short.toUpperCase())) return `"${short}" disallowed as path element component on Windows`;
  // Windows short names (PROGRA~1) alias other paths: refused in module paths.
  if (kind === 'module' && /~[0-9]+$/.test(short)) return 'trailing tilde and digits in path element';
  return null;
}

function checkPath(path: string, kind: PathKind): string | null {
  if (path === '') return 'empty string';
  if (path.includes('\uFFFD')) return 'invalid UTF-8';
  if (path[0] === '-' && kind !== 'file') return 'leading dash';
  if (path.includes('//')) return 'double slash';
  if (path.endsWith('/')) return 'trailing slash';
  for (const elem of path.split('/')) {
    const err = checkElem(elem, kind);
    if (err) return err;
  }
  return null;
}

/** module.SplitPathVersion: the `/vN` (or gopkg.in `.vN`) suffix; ok=false for `/v1`, `/v0`, `/v1.2`. */
export function splitPathVersion(path: string): { prefix: string; pathMajor: string; ok: boolean } {
  if (path.startsWith('gopkg.in/')) {
    let i = path.length;
    if (path.endsWith('-unstable')) i -= '-unstable'.length;
    while (i > 0 && path[i - 1]! >= '0' && path[i - 1]! <= '9') i--;
    if (i <= 1 || path[i - 1] !== 'v' || path[i - 2] !== '.') return { prefix: path, pathMajor: '', ok: false };
    const pathMajor = path.slice(i - 2);
    if (pathMajor.length <= 2 || (pathMajor[2] === '0' && pathMajor !== '.v0')) return { prefix: path, pathMajor: '', ok: false };
    return { prefix: path.slice(0, i - 2), pathMajor, ok: true };
  }
  let i = path.length;
  let dot = false;
  while (i > 0 && ((path[i - 1]! >= '0' && path[i - 1]! <= '9') || path[i - 1] === '.')) {
    if (path[i - 1] === '.') dot = true;
    i--;
  }
  if (i <= 1 || i === path.length || path[i - 1] !== 'v' || path[i - 2] !== '/') return { prefix: path, pathMajor: '', ok: true };
  const pathMajor = path.slice(i - 2);
  if (dot || pathMajor.length <= 2 || pathMajor[2] === '0' || pathMajor === '/v1') return { prefix: path, pathMajor: '', ok: false };
  return { prefix: path.slice(0, i - 2), pathMajor, ok: true };
}

/** module.CheckPath: a valid import path whose first element is a lower-case domain name with a dot. */
export function checkModulePath(path: string): string | null {
  const err = checkPath(path, 'module');
  if (err) return err;
  const first = path.includes('/') ? path.slice(0, path.indexOf('/')) : path;
  if (!first.includes('.')) return 'missing dot in first path element';
  if (!/^[a-z0-9.-]+$/.test(first)) return 'invalid char in first path element (lower-case letters, digits, "." and "-" only)';
  if (!splitPathVersion(path).ok) return 'invalid version suffix';
  return null;
}

/** module.CheckFilePath: a file inside a module zip. */
export function checkFilePath(path: string): string | null {
  return checkPath(path, 'file');
}

/** module.MatchPathMajor: whether version `v` may be published under a path with major suffix `pathMajor`. */
export function matchPathMajor(v: string, pathMajor: string): boolean {
  if (pathMajor.startsWith('.v') && pathMajor.endsWith('-unstable')) pathMajor = pathMajor.slice(0, -'-unstable'.length);
  // An old go command bug made v0.0.0- pseudo-versions for gopkg.in .v1 paths; the go command accepts them.
  if (v.startsWith('v0.0.0-') && pathMajor === '.v1') return true;
  const p = parseSemver(v);
  if (!p) return false;
  const m = `v${p.major}`;
  if (pathMajor === '') return m === 'v0' || m === 'v1' || p.build === '+incompatible';
  return (pathMajor[0] === '/' || pathMajor[0] === '.') && m === pathMajor.slice(1);
}

/** `!x` → `X`; upper-case letters and a `!` not followed by a-z are invalid. */
function unescape(escaped: string): string | null {
  let out = '';
  let bang = false;
  for (const c of escaped) {
    if (c.charCodeAt(0) >= 0x80) return null;
    if (bang) {
      if (c < 'a' || c > 'z') return null;
      out += c.toUpperCase();
      bang = false;
    } else if (c === '!') bang = true;
    else if (c >= 'A' && c <= 'Z') return null;
    else out += c;
  }
  return bang ? null : out;
}

export function escapeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '!' + c.toLowerCase());
}

/** module.UnescapePath: the module path an escaped URL path names, or an error. */
export function unescapeModulePath(escaped: string): { path: string } | { error: string } {
  const path = unescape(escaped);
  if (path === null) return { error: `invalid escaped module path "${escaped}"` };
  const err = checkModulePath(path);
  return err ? { error: `malformed module path "${path}": ${err}` } : { path };
}

/** module.UnescapeVersion: any version or query that is a valid file name without `!`. */
export function unescapeVersion(escaped: string): { version: string } | { error: string } {
  const v = unescape(escaped);
  if (v === null) return { error: `invalid escaped version "${escaped}"` };
  const err = checkElem(v, 'file');
  return err || v.includes('!') ? { error: `invalid version "${v}"${err ? `: ${err}` : ''}` } : { version: v };
}
