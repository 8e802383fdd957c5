const TYPES: Record<string, string> = {
  json: 'application/json',
  xml: 'application/xml',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  txt: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  zip: 'application/zip',
  tar: 'application/x-tar',
  jar: 'application/java-archive',
  whl: 'application/zip',
  rpm: 'application/x-rpm',
  apk: 'application/octet-stream',
  asc: 'text/plain; charset=utf-8',
  sig: 'application/pgp-signature',
  pem: 'application/x-pem-file',
  md: 'text/markdown; charset=utf-8',
};

/** Content-Type from a file name's extension; octet-stream when unknown. */
export function contentTypeFor(path: string): string {
  const dot = path.lastIndexOf('.');
  if (dot < 0 || dot < path.lastIndexOf('/')) return 'application/octet-stream';
  return TYPES[path.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}
