import { validName } from './names.js';

/** Where things live in an npm repository (after percent-decoding: `@scope%2fpkg` arrives as `@scope/pkg`). */
export type NpmPath =
  | { kind: 'packument'; name: string }
  | { kind: 'tarball'; name: string; file: string }
  /** `GET /-/package/{name}/dist-tags` (`npm dist-tag ls`, and read by `dist-tag add|rm` first). */
  | { kind: 'dist-tags'; name: string }
  | { kind: 'meta'; name: string }
  | { kind: 'other' };

/** Dist-tags and deprecations of a local package: a small document beside its tarballs, outside the name space. */
export const metaPath = (name: string) => `-/meta/${name}.json`;
export const tarballPath = (name: string, file: string) => `${name}/-/${file}`;
export const distTagsPath = (name: string) => `-/package/${name}/dist-tags`;

export function parseNpmPath(path: string): NpmPath {
  const meta = /^-\/meta\/(.+)\.json$/.exec(path);
  if (meta && validName(meta[1]!)) return { kind: 'meta', name: meta[1]! };
  const tags = /^-\/package\/(.+)\/dist-tags$/.exec(path);
  if (tags && validName(tags[1]!)) return { kind: 'dist-tags', name: tags[1]! };
  if (path.startsWith('-/')) return { kind: 'other' };
  const t = /^(.+)\/-\/([^/]+\.tgz)$/.exec(path);
  if (t && validName(t[1]!)) return { kind: 'tarball', name: t[1]!, file: t[2]! };
  if (validName(path)) return { kind: 'packument', name: path };
  return { kind: 'other' };
}
