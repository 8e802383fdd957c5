/** Where things live inside a Helm repository (local, remote and virtual alike). */
export type HelmPath =
  | { kind: 'index' }
  | { kind: 'chart'; file: string }
  | { kind: 'prov'; file: string }
  | { kind: 'api-list' }
  | { kind: 'api-chart'; name: string }
  | { kind: 'api-version'; name: string; version: string }
  | { kind: 'other' };

export const INDEX = 'index.yaml';
export const CHARTS_DIR = 'charts/';

/** Chart names: one path segment of safe characters (Helm requires name == basename(name)). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,299}\.tgz$/;

export const validChartName = (n: string) => NAME.test(n);

export function parseHelmPath(path: string): HelmPath {
  if (path === INDEX) return { kind: 'index' };
  let m = /^charts\/([^/]+)$/.exec(path);
  if (m) {
    const f = m[1]!;
    if (f.endsWith('.tgz.prov') && FILE.test(f.slice(0, -5))) return { kind: 'prov', file: f.slice(0, -5) };
    if (FILE.test(f)) return { kind: 'chart', file: f };
    return { kind: 'other' };
  }
  if (path === 'api/charts' || path === 'api/charts/') return { kind: 'api-list' };
  m = /^api\/charts\/([^/]+)\/?$/.exec(path);
  if (m && NAME.test(m[1]!)) return { kind: 'api-chart', name: m[1]! };
  m = /^api\/charts\/([^/]+)\/([^/]+)$/.exec(path);
  if (m && NAME.test(m[1]!)) return { kind: 'api-version', name: m[1]!, version: m[2]! };
  return { kind: 'other' };
}

export const chartFile = (name: string, version: string) => `${name}-${version}.tgz`;
export const chartPath = (file: string) => `${CHARTS_DIR}${file}`;
/** A chart's link as written into index.yaml: relative to the repository URL, so it works under any host name. */
export const chartUrl = (file: string) => `charts/${encodeURIComponent(file)}`;
