/** Where things live inside a PyPI repository (local, remote and virtual alike). */
export type PypiPath =
  | { kind: 'list' }
  | { kind: 'page'; project: string }
  | { kind: 'file'; project: string; filename: string }
  | { kind: 'metadata'; project: string; filename: string }
  | { kind: 'other' };

export function parsePypiPath(path: string): PypiPath {
  if (path === 'simple/' || path === 'simple') return { kind: 'list' };
  let m = /^simple\/([^/]+)\/$/.exec(path);
  if (m) return { kind: 'page', project: m[1]! };
  m = /^packages\/([^/]+)\/([^/]+)$/.exec(path);
  if (m) {
    const [, project, file] = m as unknown as [string, string, string];
    return file.endsWith('.metadata') ? { kind: 'metadata', project, filename: file.slice(0, -9) } : { kind: 'file', project, filename: file };
  }
  return { kind: 'other' };
}

export const pagePath = (project: string) => `simple/${project}/`;
export const filePath = (project: string, filename: string) => `packages/${project}/${filename}`;

/** A file's link as written into pages: relative to `/{repo}/simple/{project}/`, so it works under any host name. */
export const relativeFileUrl = (project: string, filename: string) => `../../packages/${encodeURIComponent(project)}/${encodeURIComponent(filename)}`;
