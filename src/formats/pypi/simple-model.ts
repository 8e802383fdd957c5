import { badGateway } from '../../errors.js';

/**
 * The one representation of simple-index pages this format stores and merges: PEP 691 JSON. HTML (PEP 503) is
 * parsed into it on the way in and rendered from it on the way out, so a cached page serves both kinds of client.
 */
export const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
export const HTML_TYPE = 'application/vnd.pypi.simple.v1+html';

export interface SimpleFile {
  filename: string;
  url: string;
  hashes: Record<string, string>;
  'requires-python'?: string;
  /** PEP 714 (PEP 658's `dist-info-metadata` is written too, for older clients). */
  'core-metadata'?: boolean | Record<string, string>;
  yanked?: boolean | string;
}

export interface ProjectPage {
  meta: { 'api-version': string };
  name: string;
  files: SimpleFile[];
}

export interface ProjectList {
  meta: { 'api-version': string };
  projects: Array<{ name: string }>;
}

const META = { 'api-version': '1.0' };

export function projectPage(name: string, files: SimpleFile[]): ProjectPage {
  return { meta: META, name, files };
}

export function projectList(names: Iterable<string>): ProjectList {
  return { meta: META, projects: [...names].map((name) => ({ name })) };
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeHtml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`);
}

function attributes(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of s.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out.set(m[1]!.toLowerCase(), unescapeHtml(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return out;
}

/** `sha256=HEX` (PEP 658/714 attribute value, or a URL fragment) → {sha256: hex}; `true` → true. */
function hashSpec(v: string): Record<string, string> | boolean {
  const m = /^([a-z0-9]+)=([0-9a-f]+)$/i.exec(v.trim());
  return m ? { [m[1]!.toLowerCase()]: m[2]!.toLowerCase() } : true;
}

/** A project page in HTML (PEP 503 + 592 + 658/714), links resolved against the page's URL. */
function parseHtmlPage(name: string, html: string, pageUrl: string): ProjectPage {
  const files: SimpleFile[] = [];
  for (const m of html.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attrs = attributes(m[1]!);
    const href = attrs.get('href');
    if (!href) continue;
    const url = new URL(href, pageUrl);
    const hashes: Record<string, string> = {};
    const frag = /^#([a-z0-9]+)=([0-9a-f]+)$/i.exec(url.hash);
    if (frag) hashes[frag[1]!.toLowerCase()] = frag[2]!.toLowerCase();
    url.hash = '';
    const text = unescapeHtml(m[2]!.replace(/<[^>]*>/g, '')).trim();
    const filename = text || decodeURIComponent(url.pathname.split('/').pop() ?? '');
    const f: SimpleFile = { filename, url: url.href, hashes };
    const rp = attrs.get('data-requires-python');
    if (rp) f['requires-python'] = rp;
    const cm = attrs.get('data-core-metadata') ?? attrs.get('data-dist-info-metadata');
    if (cm !== undefined && cm !== 'false') f['core-metadata'] = hashSpec(cm);
    if (attrs.has('data-yanked')) f.yanked = attrs.get('data-yanked') || true;
    files.push(f);
  }
  return projectPage(name, files);
}

function parseHtmlList(html: string): ProjectList {
  const names: string[] = [];
  for (const m of html.matchAll(/<a\s[^>]*>([\s\S]*?)<\/a\s*>/gi)) {
    const n = unescapeHtml(m[1]!.replace(/<[^>]*>/g, '')).trim();
    if (n) names.push(n);
  }
  return projectList(names);
}

function isJson(contentType: string | undefined): boolean {
  return /^application\/(vnd\.pypi\.simple\.v1\+)?json\b/i.test(contentType ?? '');
}

/** An upstream project page (HTML or JSON) as the canonical model, URLs absolute. */
export function parseProjectPage(name: string, body: Buffer, contentType: string | undefined, pageUrl: string): ProjectPage {
  if (!isJson(contentType)) return parseHtmlPage(name, body.toString('utf8'), pageUrl);
  let doc: Partial<ProjectPage>;
  try {
    doc = JSON.parse(body.toString('utf8')) as Partial<ProjectPage>;
  } catch {
    throw badGateway('upstream project page is not valid JSON');
  }
  if (!Array.isArray(doc.files)) throw badGateway('upstream project page has no files array');
  const files = doc.files.flatMap((f): SimpleFile[] => {
    if (typeof f?.filename !== 'string' || typeof f.url !== 'string') return [];
    const raw = f as SimpleFile & { 'dist-info-metadata'?: SimpleFile['core-metadata'] };
    const out: SimpleFile = { filename: f.filename, url: new URL(f.url, pageUrl).href, hashes: typeof f.hashes === 'object' && f.hashes ? f.hashes : {} };
    if (typeof f['requires-python'] === 'string') out['requires-python'] = f['requires-python'];
    const cm = raw['core-metadata'] ?? raw['dist-info-metadata'];
    if (cm !== undefined && cm !== false) out['core-metadata'] = cm;
    if (f.yanked !== undefined && f.yanked !== false) out.yanked = f.yanked;
    return [out];
  });
  return projectPage(doc.name ?? name, files);
}

export function parseProjectList(body: Buffer, contentType: string | undefined): ProjectList {
  if (!isJson(contentType)) return parseHtmlList(body.toString('utf8'));
  try {
    const doc = JSON.parse(body.toString('utf8')) as Partial<ProjectList>;
    if (!Array.isArray(doc.projects)) throw new Error('no projects');
    return projectList(doc.projects.filter((p) => typeof p?.name === 'string').map((p) => p.name));
  } catch {
    throw badGateway('upstream project list is not valid PEP 691 JSON');
  }
}

function metadataAttr(cm: SimpleFile['core-metadata']): string | undefined {
  if (cm === undefined || cm === false) return undefined;
  if (cm === true) return 'true';
  const [alg, hex] = Object.entries(cm)[0] ?? [];
  return alg ? `${alg}=${hex}` : 'true';
}

export function renderPageHtml(page: ProjectPage): string {
  const lines = page.files.map((f) => {
    const [alg, hex] = Object.entries(f.hashes).find(([a]) => a === 'sha256') ?? Object.entries(f.hashes)[0] ?? [];
    let attrs = ` href="${escapeHtml(f.url + (alg ? `#${alg}=${hex}` : ''))}"`;
    if (f['requires-python']) attrs += ` data-requires-python="${escapeHtml(f['requires-python'])}"`;
    const cm = metadataAttr(f['core-metadata']);
    if (cm) attrs += ` data-core-metadata="${escapeHtml(cm)}"`;
    if (f.yanked !== undefined && f.yanked !== false) attrs += ` data-yanked="${f.yanked === true ? '' : escapeHtml(f.yanked)}"`;
    return `    <a${attrs}>${escapeHtml(f.filename)}</a><br/>`;
  });
  const title = `Links for ${escapeHtml(page.name)}`;
  return `<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n    <title>${title}</title>\n  </head>\n  <body>\n    <h1>${title}</h1>\n${lines.join('\n')}\n  </body>\n</html>\n`;
}

export function renderListHtml(list: ProjectList, normalize: (n: string) => string): string {
  const lines = list.projects.map((p) => `    <a href="${escapeHtml(normalize(p.name))}/">${escapeHtml(p.name)}</a><br/>`);
  return `<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n    <title>Simple index</title>\n  </head>\n  <body>\n${lines.join('\n')}\n  </body>\n</html>\n`;
}

/**
 * Only the PEP 714 names (`core-metadata`, `data-core-metadata`) are written: pip 23.0 crashes on a hash dict
 * under the PEP 658 name, which is why PEP 714 renamed it. Older pips simply download the wheel instead.
 */
export function toJson(doc: ProjectPage | ProjectList): Buffer {
  return Buffer.from(JSON.stringify(doc));
}
