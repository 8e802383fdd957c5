import { badRequest, notFound } from '../../errors.js';
import { matchPathMajor, splitPathVersion, unescapeModulePath, unescapeVersion } from './module-path.js';
import { isCanonical } from './semver.js';

/**
 * The paths of a GOPROXY repository (`go help goproxy`), with the module path and version decoded and checked:
 *   {module}/@v/list            versions, one a line
 *   {module}/@latest            info of the latest version
 *   {module}/@v/{version}.info  {"Version","Time"}; the go command also asks .info for queries (branches)
 *   {module}/@v/{version}.mod   the go.mod
 *   {module}/@v/{version}.zip   the module zip
 *   sumdb/{name}/supported | latest | lookup/{module}@{version} | tile/{H}/{L|data}/{N}[.p/{W}]
 * `{module}` and `{version}` are case-encoded in the URL; stored artifacts keep the encoded (URL) path.
 */
export type GoPath =
  | { kind: 'list' | 'latest'; escaped: string; module: string }
  | {
      kind: 'info' | 'mod' | 'zip';
      escaped: string;
      module: string;
      version: string;
      /** A canonical version valid for this module path (vs. a query such as a branch name). */
      canonical: boolean;
    }
  | { kind: 'sumdb'; name: string; op: 'supported' | 'latest' | 'lookup' | 'tile' };

const invalid = (message: string) => badRequest('GO_PATH_INVALID', message);

/** Sumdb names are host names (sum.golang.org). */
const SUMDB_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;
/** tlog.Tile.Path: H in 1..30, level digits or `data`, N in 3-digit groups (`x001/x234/567`), partial `.p/W`. */
const TILE = /^tile\/([1-9][0-9]?)\/(data|[0-9]{1,2})\/(?:x[0-9]{3}\/)*[0-9]{3}(?:\.p\/([1-9][0-9]*))?$/;

function moduleOf(escaped: string): string {
  const r = unescapeModulePath(escaped);
  if ('error' in r) throw invalid(r.error);
  return r.path;
}

function parseSumdb(rest: string): GoPath {
  const slash = rest.indexOf('/');
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const op = slash < 0 ? '' : rest.slice(slash + 1);
  if (!SUMDB_NAME.test(name)) throw invalid(`invalid checksum database name "${name}"`);
  if (op === 'supported' || op === 'latest') return { kind: 'sumdb', name, op };
  if (op.startsWith('lookup/')) {
    const at = op.lastIndexOf('@');
    if (at < 0) throw invalid('sumdb lookup must be lookup/{module}@{version}');
    const module = moduleOf(op.slice('lookup/'.length, at));
    const v = unescapeVersion(op.slice(at + 1));
    if ('error' in v) throw invalid(v.error);
    if (!isCanonical(v.version) || !matchPathMajor(v.version, splitPathVersion(module).pathMajor)) {
      throw invalid(`sumdb lookup needs a canonical version of ${module}, not "${v.version}"`);
    }
    return { kind: 'sumdb', name, op: 'lookup' };
  }
  const tile = TILE.exec(op);
  if (tile) {
    const h = Number(tile[1]);
    if (h > 30 || (tile[3] !== undefined && Number(tile[3]) >= 2 ** h)) throw invalid(`invalid tile path ${op}`);
    return { kind: 'sumdb', name, op: 'tile' };
  }
  throw notFound(`not a checksum database path: sumdb/${rest}`, 'NOT_FOUND');
}

/** Parse and check a path inside a go repository: 400 when malformed, 404 when it is no GOPROXY path. */
export function parseGoPath(path: string): GoPath {
  if (path.startsWith('sumdb/')) return parseSumdb(path.slice('sumdb/'.length));
  if (path.endsWith('/@latest')) {
    const escaped = path.slice(0, -'/@latest'.length);
    return { kind: 'latest', escaped, module: moduleOf(escaped) };
  }
  const at = path.indexOf('/@v/');
  if (at < 0) throw notFound(`not a GOPROXY path: ${path || '/'} (use GOPROXY=<repository URL>)`, 'NOT_FOUND');
  const escaped = path.slice(0, at);
  const file = path.slice(at + '/@v/'.length);
  const module = moduleOf(escaped);
  if (file === 'list') return { kind: 'list', escaped, module };
  const m = /^(.+)\.(info|mod|zip)$/.exec(file);
  if (!m || file.includes('/')) throw notFound(`not a GOPROXY path: ${path}`, 'NOT_FOUND');
  const v = unescapeVersion(m[1]!);
  if ('error' in v) throw invalid(v.error);
  const kind = m[2] as 'info' | 'mod' | 'zip';
  const canonical = isCanonical(v.version) && matchPathMajor(v.version, splitPathVersion(module).pathMajor);
  // Only .info resolves queries; .mod and .zip name exact versions (module.Check).
  if (!canonical && kind !== 'info') {
    throw invalid(`"${v.version}" is not a canonical version of ${module} (vX.Y.Z, major version matching the path's /vN suffix)`);
  }
  return { kind, escaped, module, version: v.version, canonical };
}

export function zipPathOf(escaped: string, escapedVersion: string): string {
  return `${escaped}/@v/${escapedVersion}.zip`;
}
