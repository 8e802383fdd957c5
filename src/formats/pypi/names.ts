import { badRequest } from '../../errors.js';

/** PEP 503 normalised project name: lower case, runs of `-`, `_`, `.` become one `-`. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** PEP 508 project names: letters and digits, with `-_.` only between them. */
const NAME_RE = /^([a-z0-9]|[a-z0-9][a-z0-9._-]*[a-z0-9])$/i;

export function validProjectName(name: string): boolean {
  return name.length <= 200 && NAME_RE.test(name);
}

export type DistKind = 'bdist_wheel' | 'sdist';

export interface DistFile {
  filename: string;
  /** Normalised project name. */
  project: string;
  version: string;
  kind: DistKind;
}

const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+!_]*$/;
const SDIST_EXT = ['.tar.gz', '.zip'];

/**
 * Parse a distribution file name: wheels `{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl` (PEP 427, name with
 * `_` for separators) and sdists `{name}-{ver}.tar.gz` / `.zip`. Anything else is refused.
 */
export function parseDistFilename(filename: string): DistFile {
  const bad = (why: string) => badRequest('FILENAME_INVALID', `${filename}: ${why}`);
  if (filename.length > 255 || /[/\\\0]/.test(filename) || filename.startsWith('.')) throw bad('not a valid file name');
  if (filename.endsWith('.whl')) {
    const parts = filename.slice(0, -4).split('-');
    if (parts.length !== 5 && parts.length !== 6) throw bad('a wheel name has 5 or 6 dash-separated fields');
    const [name, version] = parts as [string, string];
    if (parts.length === 6 && !/^\d/.test(parts[2]!)) throw bad('the build tag must start with a digit');
    if (!validProjectName(name) || !VERSION_RE.test(version)) throw bad('invalid name or version');
    if (parts.slice(-3).some((t) => !/^[A-Za-z0-9_.]+$/.test(t))) throw bad('invalid compatibility tags');
    return { filename, project: normalizeName(name), version, kind: 'bdist_wheel' };
  }
  const ext = SDIST_EXT.find((e) => filename.endsWith(e));
  if (!ext) throw bad('expected a wheel (.whl) or an sdist (.tar.gz, .zip)');
  const stem = filename.slice(0, -ext.length);
  // The version is what follows the last dash (names may contain dashes in old sdists).
  const dash = stem.lastIndexOf('-');
  if (dash <= 0) throw bad('an sdist is named {name}-{version}' + ext);
  const name = stem.slice(0, dash);
  const version = stem.slice(dash + 1);
  if (!validProjectName(name) || !VERSION_RE.test(version)) throw bad('invalid name or version');
  return { filename, project: normalizeName(name), version, kind: 'sdist' };
}

/** Versions compared loosely (case, `_`/`-`/`.` separators, leading `v`), enough to match a file to its metadata. */
export function sameVersion(a: string, b: string): boolean {
  const canon = (v: string) => v.toLowerCase().replace(/^v/, '').replace(/[-_]/g, '.');
  return canon(a) === canon(b);
}
